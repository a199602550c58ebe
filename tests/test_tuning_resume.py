"""SIGKILL a running search in the middle of a trial, rerun the same command: nothing lost, nothing redone."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from keras_rnnreg.tuning import cli

STARTUP_TIMEOUT = 120  # seconds for the subprocess to import TensorFlow and finish trial 0


def _status(project_dir, trial_id):
    path = os.path.join(project_dir, f"trial_{trial_id}", "trial.json")
    try:
        with open(path) as f:
            return json.load(f)["status"]
    except (OSError, ValueError):
        return None


def _runs(project_dir):
    path = os.path.join(project_dir, "run_logs", "tuner0.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def test_sigkill_then_rerun_resumes(tmp_path, data_dir):
    directory = tmp_path / "search"
    project_dir = str(directory / "rnn_jsb_chorales")
    argv = ["--model", "rnn", "--dataset", "jsb_chorales", "--trials", "3", "--epochs", "3", "--patience", "0",
            "--seed", "0", "--directory", str(directory), "--final", "none", "--fixed", "units=16",
            "--max_train_sequences", "16", "--max_valid_sequences", "8", "--verbose", "0"]
    log = open(tmp_path / "killed.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "keras_rnnreg.tuning", *argv], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + STARTUP_TIMEOUT
        # Wait until trial 0 is complete and trial 1 has started, then kill at once.
        while not (_status(project_dir, "0") == "COMPLETED" and "1" in _runs(project_dir)):
            if proc.poll() is not None:
                pytest.fail(f"search exited early ({proc.returncode}): {(tmp_path / 'killed.log').read_text()}")
            if time.time() > deadline:
                pytest.fail("search did not reach trial 1 in time")
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()
    assert proc.returncode == -signal.SIGKILL
    assert _status(project_dir, "1") == "RUNNING"  # killed in the middle of trial 1
    assert not os.path.exists(os.path.join(project_dir, "trial_2"))
    with open(os.path.join(project_dir, "trial_0", "trial.json")) as f:
        trial0 = f.read()
    with open(os.path.join(project_dir, "trial_1", "trial.json")) as f:
        trial1_values = json.load(f)["hyperparameters"]["values"]

    # Rerun the same command (in-process to save a TensorFlow start-up).
    assert cli.main(argv) == 0
    result = json.loads((directory / "summary.json").read_text())
    assert [r["trial_id"] for r in result["trials"]] == ["0", "1", "2"]
    assert all(r["status"] == "COMPLETED" for r in result["trials"])
    # Trial 0 was not redone, trial 1 (interrupted) ran again, trial 2 once.
    assert _runs(project_dir) == ["0", "1", "1", "2"]
    assert result["run_counts"] == {"0": 1, "1": 2, "2": 1}
    with open(os.path.join(project_dir, "trial_0", "trial.json")) as f:
        assert f.read() == trial0
    # The retried trial kept its hyperparameters.
    assert result["trials"][1]["hyperparameters"] == trial1_values
