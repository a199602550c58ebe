"""The gated results protocol (benchmarks.gated_protocol) on a tiny budget."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import gated_protocol as protocol
from benchmarks.provenance import REPO_ROOT

TINY = ["--cells", "lstm", "--seeds", "0", "--fixed", "units=4", "--max_epochs", "1", "--patience", "1",
        "--trials", "1", "--search_epochs", "1", "--search_patience", "1", "--max_sequences", "3", "--n_best", "1"]


def _records(path):
    return json.loads(path.read_text())


def test_stages_report_and_resume(tmp_path, data_dir, monkeypatch, capsys):
    out = tmp_path / "results" / "gated"
    common = TINY + ["--runs_root", str(tmp_path / "runs"), "--search_root", str(tmp_path / "searches"),
                     "--out", str(out), "--data_dir", str(data_dir)]

    # Stage 1 through the command line: three models, one seed, the LSTM.
    stage1 = ["--stage", "defaults", "--models", "rnn,rnn_do,rnn_n"]
    done = subprocess.run([sys.executable, "-m", "benchmarks.gated_protocol", *stage1, *common],
                          cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[plan] stage defaults: 3 defaults jobs, 0 already recorded, 3 to do" in done.stdout
    assert done.stdout.count("[defaults] rnn_do (lstm) on jsb_chorales, seed 0") == 2  # start and end
    records = _records(out.with_suffix(".json"))
    assert sorted((r["kind"], r["model"], r["cell"], r["seed"]) for r in records) == [
        ("defaults", m, "lstm", 0) for m in ("rnn", "rnn_do", "rnn_n")]
    for r in records:
        assert r["status"] == "completed" and r["test_nll"] > 0 and r["valid_nll"] > 0
        assert not r["run_dir"].startswith("/")  # paths relative to the repository
        metrics = json.loads((REPO_ROOT / r["run_dir"] / "metrics.json").read_text())
        assert metrics["hyperparameters"]["cell"] == "lstm" and metrics["hyperparameters"]["units"] == 4
        assert metrics["test_nll"] == pytest.approx(r["test_nll"])
        assert r["command"].startswith("python -m benchmarks.gated_protocol --stage defaults")

    # Stage 2 in process: rnn and the regularizer of lowest stage-1 *validation* NLL.
    by_valid = min((r["valid_nll"], r["model"]) for r in records if r["model"] != "rnn")[1]
    capsys.readouterr()
    records = protocol.main(["--stage", "search", *common])
    printed = capsys.readouterr().out
    # The selection names the models it could not consider.
    assert "no finished stage-1 run of rnn_fd, rnn_nbr, rnn_ns" in printed
    searches = [r for r in records if r["kind"] == "search"]
    assert sorted(r["model"] for r in searches) == sorted(["rnn", by_valid])
    for r in searches:
        assert r["cell"] == "lstm" and r["trials"] == 1 and r["hyperparameters"]["cell"] == "lstm"
        assert r["hyperparameters"]["units"] == 4 and not r["search_dir"].startswith("/")
        assert (REPO_ROOT / r["search_dir"]).resolve() == tmp_path / "searches" / f"{r['model']}-lstm"
        assert [m for m, _, _ in r["selection"]["ranking"]] == [m for m, _, _ in protocol.ranking(records, "lstm")]
        assert r["selection"]["ranking"][0][0] == by_valid and "rnn_nbr" in r["selection"]["missing"]

    # Stages 3 and 4: each search's best configuration retrained (4: rnn only, to keep the test short).
    records = protocol.main(["--stage", "best", *common])
    records = protocol.main(["--stage", "other_datasets", "--models", "rnn", *common])
    runs = [r for r in records if r["kind"] == "run"]
    assert sorted((r["model"], r["dataset"]) for r in runs) == sorted(
        [("rnn", "jsb_chorales"), (by_valid, "jsb_chorales"), ("rnn", "nottingham"), ("rnn", "piano_midi"),
         ("rnn", "musedata")])
    best = {r["model"]: r["hyperparameters"] for r in searches}
    for r in runs:
        assert r["status"] == "completed" and r["test_nll"] > 0 and r["cell"] == "lstm"
        assert r["hyperparameters"] == best[r["model"]] and not r["run_dir"].startswith("/")
        metrics = json.loads((REPO_ROOT / r["run_dir"] / "metrics.json").read_text())
        assert metrics["test_nll"] == pytest.approx(r["test_nll"])
        assert metrics["hyperparameters"]["cell"] == "lstm"
    assert _records(out.with_suffix(".json")) == records

    table = out.with_suffix(".md").read_text()
    for row in ("| Chung et al. 2014 | gru | JSB Chorales | 8.54 |",
                "| Chung et al. 2014 | lstm | JSB Chorales | 8.67 |",
                "| Bai et al. 2018 | lstm | JSB Chorales | 8.45 |", "| Bai et al. 2018 | gru | JSB Chorales | 8.43 |",
                "| Bai et al. 2018 | lstm | Nottingham | 3.29 |", "| Bai et al. 2018 | gru | Nottingham | 3.46 |",
                "| gru | JSB Chorales | 8.20 | tuned baseline | Gates are not what you need in RNNs, "
                "arXiv:2108.00527 |",
                "| lstm | JSB Chorales | 8.33 | tuned baseline |", "below 8.20", "not met yet"):
        assert row in table, row
    row = protocol.summarize(records, "defaults")[("rnn_do", "lstm", "jsb_chorales")]
    assert f"| rnn_do | lstm | {row['test_mean']:.2f} | {row['valid_mean']:.2f} | 0 |" in table
    jsb = protocol.summarize(records, "run")[("rnn", "lstm", "jsb_chorales")]
    assert f"| rnn | lstm | JSB Chorales | {jsb['test_mean']:.2f} | {jsb['valid_mean']:.2f} | 1 | 0 |" in table
    assert "| rnn | lstm | MuseData |" in table and "plain model" in table and "#1 by stage-1 valid NLL" in table
    assert "python -m benchmarks.gated_protocol --stage other_datasets --models rnn" in table

    # A rerun of every stage redoes nothing finished and says so before starting.
    def refuse(*args, **kwargs):
        raise AssertionError("a finished search or run was started again")

    from keras_rnnreg.app import training
    from keras_rnnreg.tuning import search

    monkeypatch.setattr(training, "train", refuse)
    monkeypatch.setattr(search, "run_search", refuse)
    capsys.readouterr()
    for stage in (stage1, ["--stage", "search"], ["--stage", "best"], ["--stage", "other_datasets", "--models", "rnn"]):
        assert protocol.main([*stage, *common]) == records
    printed = capsys.readouterr().out
    for line in ("defaults: 3 defaults jobs, 3 already recorded, 0 to do", "search: 2 search jobs, 2 already recorded",
                 "best: 2 run jobs, 2 already recorded", "other_datasets: 3 run jobs, 3 already recorded"):
        assert f"[plan] stage {line}" in printed, line


def _git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


def test_a_search_resumes_on_a_fresh_checkout(tmp_path, data_dir, capsys):
    """A search split over sittings: what git tracks of ``--search_root`` is enough to go on."""
    repo = tmp_path / "repo"
    (repo / "results").mkdir(parents=True)
    (repo / ".gitignore").write_text((REPO_ROOT / ".gitignore").read_text())
    _git("init", "-q", cwd=repo)

    def run(root, trials):
        capsys.readouterr()
        records = protocol.main([
            "--stage", "search", "--models", "rnn", *TINY, "--trials", str(trials),
            "--search_root", str(root / "results" / "gated_searches"), "--runs_root", str(root / "runs"),
            "--out", str(root / "results" / "gated"), "--data_dir", str(data_dir)])
        return records, capsys.readouterr()

    records, printed = run(repo, 1)  # the first sitting
    assert [r["trials"] for r in records] == [1]
    state = repo / "results" / "gated_searches" / "rnn-lstm"
    assert list(state.rglob("*.weights.h5"))
    (state / ".rnn_jsb_chorales.tuner0.lock").write_text("")  # what a killed sitting leaves
    _git("add", "-A", cwd=repo)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first sitting", cwd=repo)
    fresh = tmp_path / "fresh"
    _git("clone", "-q", str(repo), str(fresh), cwd=tmp_path)
    assert not list(fresh.rglob("*.weights.h5")) and not list(fresh.rglob(".*.lock"))  # not tracked
    assert (fresh / "results" / "gated_searches" / "rnn-lstm" / "rnn_jsb_chorales" / "trial_0" / "trial.json").exists()

    records, printed = run(fresh, 2)  # the next sitting, on another machine
    assert "trial 2/2 (id 1) started" in printed.err and "(id 0) started" not in printed.err
    (search,) = records
    assert search["trials"] == 2 and search["status_counts"] == {"COMPLETED": 2}
    # The trials' time is kept over both sittings (the first one's came along in git), and the
    # table shows their sum, not the wall time of the sitting that finished the search.
    from keras_rnnreg.tuning import summary

    seconds = summary.trial_seconds(fresh / "results" / "gated_searches" / "rnn-lstm" / "rnn_jsb_chorales")
    assert sorted(seconds) == ["0", "1"] and all(s > 0 for s in seconds.values())
    row = next(line for line in (fresh / "results" / "gated.md").read_text().splitlines()
               if line.startswith("| rnn | lstm | 2 (COMPLETED 2) |"))
    assert f"| {sum(seconds.values()):.0f} | " in row


def _defaults(model, cell, seed, valid, test):
    return {"kind": "defaults", "model": model, "cell": cell, "dataset": "jsb_chorales", "seed": seed,
            "valid_nll": valid, "test_nll": test}


def test_the_searches_are_chosen_on_validation_not_test_nll():
    records = [
        _defaults("rnn", "gru", 0, 8.0, 8.0),  # the plain model is always searched, never ranked
        _defaults("rnn_do", "gru", 0, 8.6, 8.1), _defaults("rnn_do", "gru", 1, 8.6, 8.1),  # best test, worst valid
        _defaults("rnn_n", "gru", 0, 8.3, 8.9), _defaults("rnn_n", "gru", 1, 8.5, 8.9),  # valid mean 8.4
        _defaults("rnn_ff", "gru", 0, 8.45, 8.9),
        _defaults("rnn_mn", "gru", 0, float("nan"), 8.0),  # diverged: not a candidate
        _defaults("rnn_nbr", "lstm", 0, 1.0, 1.0),  # another cell
    ]
    assert protocol.ranking(records, "gru") == [("rnn_n", pytest.approx(8.4), 2), ("rnn_ff", 8.45, 1),
                                                ("rnn_do", 8.6, 2)]
    assert protocol.selected(records, "gru", 2) == ["rnn", "rnn_n", "rnn_ff"]
    assert "rnn_mn" in protocol.missing_defaults(records, "gru")
    assert protocol.best_regularized(records) == (1.0, "rnn_nbr", "lstm", "defaults")


def test_bad_arguments_are_named(capsys):
    for argv, message in ((["--cells", "simple"], "unknown cell(s) simple"),
                          (["--models", "rnn,lstm"], "unknown model(s) lstm"),
                          (["--fixed", "cell=gru"], "the cell is --cells"),
                          (["--trials", "0"], "--trials must be >= 1"),
                          (["--stage", "retrain"], "--stage"),
                          (["--models", "rnn", "--range", "sigma=0.1:1"], "has no searched numeric hyperparameter")):
        with pytest.raises(SystemExit):
            protocol.parse_args(argv)
        assert message in capsys.readouterr().err, argv
