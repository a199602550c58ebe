"""A small real search on JSB (in-process, through the CLI): summary vs KerasTuner's records,
a forced NaN trial recorded as failed while the search goes on, resume of a finished search,
the other tuners and MirroredStrategy."""

import json
import math
import os

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
    assert cli.main(argv) == 0
    return directory, argv


def test_summary_agrees_with_the_oracle_records(search_dir):
    directory, _ = search_dir
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
                assert record["best_epoch"] == trial.best_step
                assert record["val_nll"] == min(trial.metrics.get_history("val_nll")[i].value[0]
                                                for i in range(len(trial.metrics.get_history("val_nll"))))
    assert summary.directory_records(project_dir) == result["trials"]
    rows = {p.name: p for p in search_space.space("rnn_mns")}
    for record in result["trials"]:
        for name, value in record["hyperparameters"].items():
            if name not in ("units", "learning_rate"):
                assert search_space.check_value(rows[name], value), (name, value)


def test_nan_trial_is_failed_and_the_search_goes_on(search_dir):
    directory, _ = search_dir
    result = json.loads((directory / "summary.json").read_text())
    statuses = {r["trial_id"]: r["status"] for r in result["trials"]}
    assert statuses == {"0": "COMPLETED", "1": "FAILED", "2": "COMPLETED", "3": "COMPLETED"}
    failed = result["trials"][1]
    assert failed["val_nll"] is None and "diverged" in failed["message"]
    assert failed["hyperparameters"]["learning_rate"] == 1e38
    assert result["status_counts"] == {"COMPLETED": 3, "FAILED": 1}
    assert result["run_counts"] == {"0": 1, "1": 1, "2": 1, "3": 1}
    best = result["best"]
    completed = [r for r in result["trials"] if r["status"] == "COMPLETED"]
    assert best["trial_id"] == min(completed, key=lambda r: r["val_nll"])["trial_id"]
    assert best["final"] == "reload" and best["test_error"] is None
    assert 5 < best["test_nll"] < 30
    table = (directory / "summary.md").read_text()
    for r in result["trials"]:
        assert f"| {r['trial_id']} | {r['status']} |" in table


def test_rerunning_a_finished_search_runs_no_trial(search_dir, capsys):
    directory, argv = search_dir
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
    assert cli.main(argv) == 0
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
