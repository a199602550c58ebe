"""A small real search on JSB (in-process, through the CLI): summary vs KerasTuner's records,
a forced NaN trial recorded as failed while the search goes on, resume of a finished search,
the other tuners and MirroredStrategy."""

import contextlib
import io
import json
import math
import os
import re

import pytest

from keras_rnnreg.tuning import cli, search_space, summary
from keras_rnnreg.tuning.search import SearchSettings, build_tuner, run_search

SMALL = ["--fixed", "units=16", "--max_train_sequences", "16", "--max_valid_sequences", "8",
         "--max_test_sequences", "4", "--verbose", "0"]


def _load_trials(project_dir):
    from keras_tuner.engine import trial as trial_module

    trials = {}
    for name in os.listdir(project_dir):
        path = os.path.join(project_dir, name, "trial.json")
        if name.startswith("trial_") and os.path.exists(path):
            trial = trial_module.Trial.load(path)
            trials[trial.trial_id] = trial
    return trials


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory, data_dir):
    directory = tmp_path_factory.mktemp("search")
    argv = ["--model", "rnn_mns", "--dataset", "jsb_chorales", "--trials", "4", "--epochs", "2",
            "--patience", "1", "--seed", "0", "--directory", str(directory), "--force_nan_trials", "1", *SMALL]
    err = io.StringIO()
    import warnings

    with contextlib.redirect_stderr(err), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main([*argv, "--verbose", "1"]) == 0  # --verbose 1 (the last flag wins): one line per trial
    return directory, argv, err.getvalue(), [str(w.message) for w in caught]


def test_trials_fit_without_keras_shuffle_warning(search_dir):
    """The window pipeline shuffles itself; fit is told so (no shuffle=True UserWarning per trial)."""
    assert not [m for m in search_dir[3] if "shuffle=True" in m]


def test_progress_within_each_trial(search_dir):
    """A trial is never silent: a line when it starts and one per finished epoch (val_nll, best so far)."""
    directory, _, err, _ = search_dir
    result = json.loads((directory / "summary.json").read_text())
    for record in result["trials"]:
        n, trial_id = int(record["trial_id"]) + 1, record["trial_id"]
        started = [line for line in err.splitlines() if line.startswith(f"trial {n}/4 (id {trial_id}) started: ")]
        assert len(started) == 1 and "units=16" in started[0], err
        epochs = [re.fullmatch(rf"trial {n}/4 \(id {trial_id}\) epoch (\d+)/2: loss (\S+), val_nll (\S+) "
                               rf"\(best (\S+)\); \d+ s", line)
                  for line in err.splitlines() if line.startswith(f"trial {n}/4 (id {trial_id}) epoch ")]
        if record["status"] == "FAILED":  # the forced-NaN trial stops in its first epoch
            continue
        assert [int(m[1]) for m in epochs] == list(range(1, len(epochs) + 1)) and 1 <= len(epochs) <= 2, err
        vals = [float(m[3]) for m in epochs]
        assert float(epochs[-1][4]) == pytest.approx(min(vals), abs=6e-5)
        assert min(vals) == pytest.approx(record["val_nll"], abs=6e-5)
        assert record["best_epoch"] == 1 + vals.index(min(vals))  # numbered from 1, as train


def test_one_progress_line_per_finished_trial(search_dir):
    directory, _, err, _ = search_dir
    lines = [line for line in err.splitlines() if re.match(r"trial \d+/4 \(id \d+\)(:| failed)", line)]
    assert len(lines) == 4, err
    result = json.loads((directory / "summary.json").read_text())
    by_id = {r["trial_id"]: r for r in result["trials"]}
    best_id, best_val = None, None
    for n, line in enumerate(lines, start=1):
        trial_id = str(n - 1)
        record = by_id[trial_id]
        if record["status"] == "FAILED":
            assert line.startswith(f"trial {n}/4 (id {trial_id}) failed: "), line
            assert "diverged" in line and "Traceback" not in line
            continue
        if best_val is None or record["val_nll"] < best_val:
            best_id, best_val = trial_id, record["val_nll"]
        match = re.fullmatch(rf"trial {n}/4 \(id {trial_id}\): val_nll (\S+), best so far (\S+) "
                             rf"\(trial (\d+)\); (.*); (\d+) s", line)
        assert match, line
        assert float(match[1]) == pytest.approx(record["val_nll"], abs=6e-5)
        assert float(match[2]) == pytest.approx(best_val, abs=6e-5) and match[3] == best_id
        assert "units=16" in match[4] and "learning_rate=" in match[4]


def test_progress_line_formats():
    import keras_tuner as kt
    from keras_tuner.engine import trial as trial_module

    from keras_rnnreg.tuning.tuner import progress_line

    hp = kt.HyperParameters()
    hp.Fixed("units", 150)
    hp.Fixed("learning_rate", 0.0071234)
    hp.Fixed("tuner/epochs", 3)
    hp.Fixed("tuner/trial_id", "00")
    done = trial_module.Trial(hp, trial_id="02", status=trial_module.TrialStatus.COMPLETED)
    done.score = 8.61234
    best = trial_module.Trial(hp, trial_id="01", status=trial_module.TrialStatus.COMPLETED)
    best.score = 8.59111
    assert progress_line(done, 20, best, 41.2) == (
        "trial 3/20 (id 02): val_nll 8.6123, best so far 8.5911 (trial 01); "
        "units=150, learning_rate=0.007123, tuner/epochs=3; 41 s")
    # Hyperband has no max_trials: no "/N".
    assert progress_line(done, None, None, None).startswith("trial 3 (id 02): val_nll 8.6123; units=150")
    failed = trial_module.Trial(hp, trial_id="04", status=trial_module.TrialStatus.FAILED,
                                message="Traceback ...\n  line\nTrialDiverged: loss nan at epoch 1\n")
    assert progress_line(failed, 20, best, 3.0) == "trial 5/20 (id 04) failed: TrialDiverged: loss nan at epoch 1"


def test_summary_agrees_with_the_oracle_records(search_dir):
    directory, _, _, _ = search_dir
    with open(directory / "summary.json") as f:
        result = json.load(f)
    project_dir = result["project_dir"]
    on_disk = _load_trials(project_dir)
    assert sorted(on_disk) == ["0", "1", "2", "3"]
    assert [r["trial_id"] for r in result["trials"]] == ["0", "1", "2", "3"]
    # The same records through a reloaded tuner's oracle.
    settings = SearchSettings(model="rnn_mns", directory=str(directory), trials=4, epochs=2, patience=1,
                              fixed={"units": 16}, max_train_sequences=16, max_valid_sequences=8,
                              max_test_sequences=4, verbose=0)
    oracle = build_tuner(settings).oracle
    for record in result["trials"]:
        for trial in (on_disk[record["trial_id"]], oracle.get_trial(record["trial_id"])):
            assert record["status"] == trial.status
            assert record["hyperparameters"] == trial.hyperparameters.values
            if trial.status == "COMPLETED":
                assert math.isclose(record["val_nll"], trial.score, rel_tol=1e-9)
                assert record["best_epoch"] == trial.best_step + 1
                assert record["val_nll"] == min(trial.metrics.get_history("val_nll")[i].value[0]
                                                for i in range(len(trial.metrics.get_history("val_nll"))))
    assert summary.directory_records(project_dir) == result["trials"]
    rows = {p.name: p for p in search_space.space("rnn_mns")}
    for record in result["trials"]:
        for name, value in record["hyperparameters"].items():
            if name not in ("units", "learning_rate"):
                assert search_space.check_value(rows[name], value), (name, value)


def test_nan_trial_is_failed_and_the_search_goes_on(search_dir):
    directory, _, _, _ = search_dir
    result = json.loads((directory / "summary.json").read_text())
    statuses = {r["trial_id"]: r["status"] for r in result["trials"]}
    assert statuses == {"0": "COMPLETED", "1": "FAILED", "2": "COMPLETED", "3": "COMPLETED"}
    failed = result["trials"][1]
    assert failed["val_nll"] is None and "diverged" in failed["message"]
    assert failed["hyperparameters"]["learning_rate"] == 1e38
    assert result["status_counts"] == {"COMPLETED": 3, "FAILED": 1}
    assert result["run_counts"] == {"0": 1, "1": 1, "2": 1, "3": 1}
    assert sorted(result["trial_seconds"]) == ["0", "1", "2", "3"]  # the failed trial's time counts too
    assert all(0 < s < result["seconds_this_run"] for s in result["trial_seconds"].values())
    best = result["best"]
    completed = [r for r in result["trials"] if r["status"] == "COMPLETED"]
    assert best["trial_id"] == min(completed, key=lambda r: r["val_nll"])["trial_id"]
    assert best["final"] == "reload" and best["test_error"] is None
    assert 5 < best["test_nll"] < 30
    table = (directory / "summary.md").read_text()
    for r in result["trials"]:
        assert f"| {r['trial_id']} | {r['status']} |" in table


def test_rerunning_a_finished_search_runs_no_trial(search_dir, capsys):
    directory, argv, _, _ = search_dir
    before = json.loads((directory / "summary.json").read_text())
    assert cli.main(argv) == 0
    after = json.loads((directory / "summary.json").read_text())
    assert after["trials"] == before["trials"]
    assert after["run_counts"] == before["run_counts"]
    # Resuming with other settings is refused with a clear error.
    other = [a if a != "rnn_mns" else "rnn" for a in argv]
    assert cli.main(other) == 2
    assert "other settings" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["bayesian", "hyperband"])
def test_other_tuners(kind, tmp_path, data_dir, capsys):
    if kind == "bayesian":
        import importlib.util

        if importlib.util.find_spec("sklearn") is None:
            # Without scikit-learn the CLI refuses with a clear message.
            argv = ["--model", "rnn", "--tuner", kind, "--directory", str(tmp_path)]
            assert cli.main(argv) == 2
            assert "scikit-learn" in capsys.readouterr().err
            pytest.skip("BayesianOptimization needs scikit-learn, not installed here")
    argv = ["--model", "rnn_do", "--tuner", kind, "--trials", "2", "--epochs", "2", "--patience", "0",
            "--directory", str(tmp_path), "--final", "none", *SMALL]
    capsys.readouterr()
    assert cli.main(argv) == 0
    assert "trial " not in capsys.readouterr().err  # --verbose 0: no progress lines
    result = json.loads((tmp_path / "summary.json").read_text())
    assert result["tuner"] == kind and result["trials"]
    assert all(r["status"] == "COMPLETED" for r in result["trials"])
    assert result["best"]["test_nll"] is None
    if kind == "hyperband":
        assert any("tuner/epochs" in r["hyperparameters"] for r in result["trials"])


def test_mirrored_strategy_and_retrain(tmp_path, data_dir):
    import tensorflow as tf

    settings = SearchSettings(model="rnn_fd", directory=str(tmp_path), trials=1, epochs=1, patience=0,
                              fixed={"units": 8}, max_train_sequences=8, max_valid_sequences=4,
                              max_test_sequences=2, distribution_strategy="mirrored", final="retrain",
                              verbose=0)
    assert isinstance(build_tuner(settings).distribution_strategy, tf.distribute.MirroredStrategy)
    result = run_search(settings)
    assert result["status_counts"] == {"COMPLETED": 1}
    assert result["best"]["final"] == "retrain"
    # rnn_fd's whole-sequence evaluation may fail for reasons outside tuning; it must be reported.
    assert (result["best"]["test_nll"] is not None) != (result["best"]["test_error"] is not None)


def test_trial_seconds_keep_the_last_run_and_skip_a_line_cut_by_a_kill(tmp_path):
    logs = tmp_path / "run_logs"
    logs.mkdir()
    (logs / "tuner0.seconds").write_text("0 12.5\n1 40.0\n1 7.25\n2")  # trial 1 ran twice; 2 was cut short
    (logs / "tuner1.seconds").write_text("3 1.0\n")
    assert summary.trial_seconds(tmp_path) == {"0": 12.5, "1": 7.25, "3": 1.0}
