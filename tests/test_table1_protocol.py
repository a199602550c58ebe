"""The Table 1 protocol driver (benchmarks.table1_protocol) on a tiny budget."""

import json

import pytest

from benchmarks import table1_protocol as protocol

TINY = ["--models", "rnn,rnn_do", "--datasets", "jsb_chorales,nottingham", "--trials", "2",
        "--search_epochs", "1", "--max_epochs", "2", "--patience", "1", "--seeds", "0,1", "--seeds_large", "0",
        "--fixed", "units=4", "--max_sequences", "3", "--range", "spectral_radius=0.5:0.6"]


def test_search_retrain_report_and_resume(tmp_path, data_dir, monkeypatch, capsys):
    out = tmp_path / "results" / "table1"
    argv = TINY + ["--runs_root", str(tmp_path / "runs"), "--out", str(out), "--data_dir", str(data_dir)]
    records = protocol.main(argv)
    printed = capsys.readouterr()
    # Progress: a line per finished trial (stderr) and per search and run (stdout).
    assert printed.err.count("trial 2/2 (id 1): val_nll") == 2, printed.err[-2000:]
    assert printed.out.count("[train] rnn on jsb_chorales, seed 1: test NLL") == 1

    searches = [r for r in records if r["kind"] == "search"]
    runs = [r for r in records if r["kind"] == "run"]
    assert sorted(r["model"] for r in searches) == ["rnn", "rnn_do"]
    assert all(r["trials"] == 2 and r["hyperparameters"]["units"] == 4 for r in searches)
    # --range replaced the table's 0.8 - 1.3: every trial drew its radius from 0.5 - 0.6.
    assert all(r["ranges"] == {"spectral_radius": [0.5, 0.6]} for r in searches)
    for r in searches:
        trials = json.loads((protocol.REPO_ROOT / r["search_dir"] / "summary.json").read_text())["trials"]
        radii = [t["hyperparameters"]["spectral_radius"] for t in trials]
        assert len(radii) == 2 and all(0.5 <= x <= 0.6 for x in radii), radii
    # Two seeds on JSB, one on Nottingham, per model; each retraining uses its search's best configuration.
    assert sorted((r["model"], r["dataset"], r["seed"]) for r in runs) == [
        ("rnn", "jsb_chorales", 0), ("rnn", "jsb_chorales", 1), ("rnn", "nottingham", 0),
        ("rnn_do", "jsb_chorales", 0), ("rnn_do", "jsb_chorales", 1), ("rnn_do", "nottingham", 0)]
    best = {r["model"]: r["hyperparameters"] for r in searches}
    for r in runs:
        assert r["status"] == "completed" and r["test_nll"] > 0
        assert r["hyperparameters"] == best[r["model"]]
        assert not r["run_dir"].startswith("/")  # paths relative to the repository
        metrics = json.loads((protocol.REPO_ROOT / r["run_dir"] / "metrics.json").read_text())
        assert metrics["test_nll"] == pytest.approx(r["test_nll"])
        assert metrics["hyperparameters"]["units"] == 4
    assert json.loads(out.with_suffix(".json").read_text()) == records

    table = out.with_suffix(".md").read_text()
    cells = protocol.cells(records)
    jsb = cells[("rnn", "jsb_chorales")]
    assert jsb["seeds"] == [0, 1] and jsb["std"] is not None
    assert f"| rnn | {jsb['mean']:.2f} ± {jsb['std']:.2f} / 8.58 (2 trials, 2 seeds)" in table
    assert "(2 trials, 1 seed)" in table and "— / 7.58" in table  # Nottingham ran, Piano-midi.de not asked for
    assert "| spectral_radius 0.5-0.6 |" in table

    # A rerun redoes nothing finished: no search and no training is started again.
    def refuse(*args, **kwargs):
        raise AssertionError("a finished search or run was started again")

    from keras_rnnreg.app import training
    from keras_rnnreg.tuning import search

    monkeypatch.setattr(training, "train", refuse)
    monkeypatch.setattr(search, "run_search", refuse)
    assert protocol.main(argv) == records

    # A run missing from the ledger (say, killed before it was recorded) is the only one redone.
    monkeypatch.undo()
    kept = [r for r in records if not (r["kind"] == "run" and r["model"] == "rnn_do" and r["seed"] == 1)]
    out.with_suffix(".json").write_text(json.dumps(kept))
    calls = []
    original = training.train
    monkeypatch.setattr(training, "train", lambda *a, **k: calls.append((a[0], a[1], k["seed"])) or original(*a, **k))
    again = protocol.main(argv)
    assert calls == [("rnn_do", "jsb_chorales", 1)]
    assert len(again) == len(records)


def test_bad_arguments_are_named(capsys):
    for argv, message in ((["--models", "rnn,lstm"], "unknown model(s) lstm"),
                          (["--datasets", "jsb"], "unknown dataset(s) jsb"),
                          (["--trials", "0"], "--trials must be >= 1, got 0"),
                          (["--patience", "0"], "--patience must be >= 1"),
                          (["--fixed", "units"], "expected NAME=VALUE"),
                          (["--models", "rnn", "--range", "sigma=0.1:1"], "has no searched numeric hyperparameter 'sigma'"),
                          (["--range", "units=400:100"], "low < high"),
                          # Nottingham reads --seeds_large: --seeds alone would be ignored.
                          (["--datasets", "nottingham", "--seeds", "1,2"],
                           "--seeds sets the seeds of jsb_chorales and piano_midi, and --datasets nottingham has "
                           "neither; use --seeds_large"),
                          (["--datasets", "jsb_chorales", "--seeds_large=1"],
                           "--seeds_large sets the seeds of nottingham and musedata")):
        with pytest.raises(SystemExit):
            protocol.parse_args(argv)
        assert message in capsys.readouterr().err, argv


def test_an_unreadable_ledger_is_named(tmp_path):
    path = tmp_path / "table1.json"
    path.write_text("")
    with pytest.raises(SystemExit, match="table1.json is not valid JSON"):
        protocol.Ledger(path).read()


def test_recipe_runs_both_fast_dropout_variants_into_the_ledger(tmp_path, data_dir, monkeypatch):
    """--recipe: no search; each variant trained once per seed, recorded as its own row; a rerun redoes nothing."""
    tiny = {**protocol.RECIPES["fd_notebook"]}
    tiny["hyperparameters"] = {**tiny["hyperparameters"], "units": 4}
    tiny["training"] = {**tiny["training"], "epochs": 2, "patience": 1}
    monkeypatch.setitem(protocol.RECIPES, "fd_notebook", tiny)
    out = tmp_path / "results" / "table1"
    argv = ["--recipe", "fd_notebook", "--datasets", "jsb_chorales", "--seeds", "0", "--max_sequences", "3",
            "--runs_root", str(tmp_path / "runs"), "--out", str(out), "--data_dir", str(data_dir)]
    records = protocol.main(argv)
    assert sorted((r["kind"], r["variant"], r["seed"]) for r in records) == [
        ("recipe", "authors", 0), ("recipe", "consistent", 0)]
    for r in records:
        metrics = json.loads((protocol.REPO_ROOT / r["run_dir"] / "metrics.json").read_text())
        assert metrics["hyperparameters"]["fd_variant"] == r["variant"]
        assert metrics["training"]["optimizer"] == "rmsprop_nesterov" and metrics["training"]["decay"] == 0.8
        assert metrics["training"]["batch_size"] == 9 and metrics["test_nll"] == pytest.approx(r["test_nll"])
    table = out.with_suffix(".md").read_text()
    assert "| rnn_fd (fd_notebook, authors) | " in table and "(fixed recipe, 1 seed)" in table
    assert "| rnn_fd (fd_notebook, consistent) | " in table

    from keras_rnnreg.app import training

    monkeypatch.setattr(training, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("redone")))
    assert protocol.main(argv) == records
