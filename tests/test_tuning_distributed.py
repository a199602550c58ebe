"""KerasTuner's distributed mode: a chief and two workers on 127.0.0.1 as subprocesses."""

import json
import os

import pytest

from keras_rnnreg.tuning import launch, summary

TIMEOUT = 180  # seconds for the whole distributed search (3 TensorFlow start-ups on 2 cores)


def test_chief_and_two_workers_run_each_trial_once(tmp_path, data_dir):
    directory = tmp_path / "dist"
    argv = ["--model", "rnn", "--dataset", "jsb_chorales", "--trials", "4", "--epochs", "1", "--patience", "0",
            "--seed", "0", "--directory", str(directory), "--fixed", "units=16", "--max_train_sequences", "12",
            "--max_valid_sequences", "6", "--max_test_sequences", "3", "--verbose", "0"]
    port = launch.free_port("127.0.0.1")
    log_dir = tmp_path / "logs"
    _, procs = launch.start_processes(argv, workers=2, ip="127.0.0.1", port=port, log_dir=str(log_dir))
    try:
        codes = launch.wait_all(procs, timeout=TIMEOUT)
    except TimeoutError:
        logs = {p.name: p.read_text()[-3000:] for p in log_dir.iterdir()}
        pytest.fail(f"distributed search timed out; logs: {logs}")
    finally:
        launch.kill_all(procs)
    if any(codes.values()):
        logs = {p.name: p.read_text()[-3000:] for p in log_dir.iterdir()}
        pytest.fail(f"return codes {codes}; logs: {logs}")
    assert codes == {"chief": 0, "tuner0": 0, "tuner1": 0}

    # The oracle state, read from the directory.
    project_dir = directory / "rnn_jsb_chorales"
    records = summary.directory_records(project_dir)
    assert [r["trial_id"] for r in records] == ["0", "1", "2", "3"]
    assert all(r["status"] == "COMPLETED" and r["val_nll"] > 0 for r in records)
    oracle = json.loads((project_dir / "oracle.json").read_text())
    assert sorted(oracle["end_order"]) == ["0", "1", "2", "3"]
    assert oracle["ongoing_trials"] == {} and oracle["retry_queue"] == []
    # Each trial ran exactly once, only on workers (the chief only serves the oracle).
    assert summary.run_counts(project_dir) == {"0": 1, "1": 1, "2": 1, "3": 1}
    run_logs = sorted(os.listdir(project_dir / "run_logs"))
    assert set(run_logs) <= {"tuner0.log", "tuner1.log", "tuner0.seconds", "tuner1.seconds"}
    assert sorted(summary.trial_seconds(project_dir)) == ["0", "1", "2", "3"]  # timed where they ran
    # The chief's summary agrees with the directory and evaluated the best trial.
    result = json.loads((directory / "summary.json").read_text())
    assert result["trials"] == records
    assert result["best"]["trial_id"] == min(records, key=lambda r: r["val_nll"])["trial_id"]
    assert 5 < result["best"]["test_nll"] < 30

    # `tune summarize` rebuilds the table from the directory alone (e.g. if the chief died).
    from keras_rnnreg.tuning import cli

    assert cli.main(["summarize", "--directory", str(directory)]) == 0
    rebuilt = json.loads((directory / "summary.json").read_text())
    assert rebuilt["trials"] == records and rebuilt["best"]["trial_id"] == result["best"]["trial_id"]
