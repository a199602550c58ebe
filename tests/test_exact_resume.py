"""A run killed at any checkpoint and resumed ends exactly where the uninterrupted run ends.

Each run is the real command line in a subprocess on the suite's backend (CI's JAX pass runs
this module too). The process SIGKILLs itself at a named point of the checkpoint writer
(``KERAS_RNNREG_KILL_AT``, :mod:`keras_rnnreg.app.faults`); the same command then resumes.
Compared to the uninterrupted run: every logged number of every epoch, the final train / valid /
test NLL and the trained weights, all bit for bit (same machine, same backend).
"""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

TINY = ["--units", "8", "--epochs", "4", "--patience", "0", "--max_train_sequences", "8",
        "--max_valid_sequences", "2", "--max_test_sequences", "2", "--batch_size", "4", "--noexport",
        "--notensorboard", "--verbose", "0"]


def _train(run_dir, model, kill_at=None):
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    env.pop("KERAS_RNNREG_KILL_AT", None)
    if kill_at:
        env["KERAS_RNNREG_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "keras_rnnreg", "train", "--model", model, "--run_dir", str(run_dir),
                           *TINY], env=env, capture_output=True, text=True, timeout=600)


def _outcome(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with open(run_dir / "history.csv") as f:
        history = list(csv.DictReader(f))
    import keras_rnnreg  # noqa: F401  (registers the layers)

    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    return metrics, history, [np.asarray(w) for w in model.get_weights()]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    found = {}
    for model in ("rnn_do", "rnn_ns"):
        run_dir = tmp_path_factory.mktemp("whole") / model
        proc = _train(run_dir, model)
        assert proc.returncode == 0, proc.stderr[-3000:]
        found[model] = _outcome(run_dir)
    return found


# (model, kill point): after the checkpoint of epoch 1 and of epoch 3 was committed, and between
# writing epoch 2's weights and committing them (the resume goes on from epoch 1).
CASES = [("rnn_do", "backup:committed:1"), ("rnn_do", "backup:committed:3"),
         ("rnn_ns", "backup:weights_written:2")]


@pytest.mark.parametrize("model, kill_at", CASES)
def test_resumed_run_is_the_uninterrupted_run(tmp_path, uninterrupted, model, kill_at):
    run_dir = tmp_path / "run"
    killed = _train(run_dir, model, kill_at)
    assert killed.returncode == -9, killed.stderr[-2000:]
    resumed = _train(run_dir, model)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics, history, weights = _outcome(run_dir)
    whole_metrics, whole_history, whole_weights = uninterrupted[model]

    assert metrics["resumed_from_epochs"] == [int(kill_at.rsplit(":", 1)[1]) - ("weights_written" in kill_at)]
    for key in ("train_nll", "valid_nll", "test_nll", "best_epoch", "epochs_completed", "spectral_radius_final"):
        assert metrics[key] == whole_metrics[key], key
    assert history == whole_history  # every epoch's loss, nll, val_nll, spectral radius: same text
    assert len(weights) == len(whole_weights)
    for got, want in zip(weights, whole_weights):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("instant", [0, 1])
def test_killed_at_a_random_instant_resumes_to_the_uninterrupted_run(tmp_path, uninterrupted, instant):
    """SIGKILL at a random moment of training (seeded), then the same command: the same run."""
    import random
    import signal
    import time

    delay = random.Random(1000 + instant).uniform(1.0, 6.0)  # seconds after the run_dir line
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    env.pop("KERAS_RNNREG_KILL_AT", None)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "keras_rnnreg", "train", "--model", "rnn_do", "--run_dir",
                             str(run_dir), *TINY], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True)
    for line in proc.stderr:
        if "run_dir" in line:
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    resumed = _train(run_dir, "rnn_do")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics, history, weights = _outcome(run_dir)
    whole_metrics, whole_history, whole_weights = uninterrupted["rnn_do"]
    for key in ("train_nll", "valid_nll", "test_nll", "best_epoch"):
        assert metrics[key] == whole_metrics[key], (key, delay, metrics["resumed_from_epochs"])
    assert history == whole_history
    for got, want in zip(weights, whole_weights):
        np.testing.assert_array_equal(got, want)
