"""What a user does, end to end, each step in its own process: train through the command line,
export the run, then use the result from a new Python process that imports only keras_rnnreg.

Every test here runs the CLI as a subprocess on the backend under test (the suite's own
``KERAS_BACKEND``), so CI's JAX pass checks the same path on JAX.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

TINY = ["--units", "8", "--epochs", "1", "--max_train_sequences", "4", "--max_valid_sequences", "2",
        "--max_test_sequences", "2", "--batch_size", "4"]


def _env():
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    env.pop("PYTHONPATH", None)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command line's own default, as a user runs it
    return env


def _run(args, cwd, check=True):
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=600)
    if check:
        assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """``train --model rnn_ns`` (per-sequence noise, a ZooModel) through the CLI, no export."""
    root = tmp_path_factory.mktemp("user")
    run_dir = root / "run"
    _run(["-m", "keras_rnnreg", "train", "--model", "rnn_ns", "--noexport", "--run_dir", str(run_dir), *TINY],
         cwd=root)
    return run_dir


def test_export_command_on_a_trained_run(trained_run):
    proc = _run(["-m", "keras_rnnreg", "export", "--run_dir", str(trained_run)], cwd=trained_run.parent)
    assert "exported" in proc.stdout and (trained_run / "saved_model" / "saved_model.pb").is_file()
    assert "Traceback" not in proc.stderr


def test_keras_file_loads_in_a_new_process_importing_only_keras_rnnreg(trained_run):
    """README's recipe: ``import keras_rnnreg`` is all a safe_mode load of a zoo model needs."""
    rolls = np.random.default_rng(0).binomial(1, 0.1, size=(2, 7, 88)).astype("float32")
    np.save(trained_run.parent / "rolls.npy", rolls)
    code = (
        "import sys, json, numpy as np\n"
        "import keras_rnnreg, keras\n"
        f"model = keras.saving.load_model({str(trained_run / 'model.keras')!r}, safe_mode=True)\n"
        f"probs = np.asarray(model(np.load({str(trained_run.parent / 'rolls.npy')!r}), training=False))\n"
        f"np.save({str(trained_run.parent / 'probs.npy')!r}, probs)\n"
        "print(json.dumps({'class': type(model).__name__, 'shape': list(probs.shape)}))\n"
    )
    proc = _run(["-c", code], cwd=trained_run.parent)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"class": "ZooModel", "shape": [2, 7, 88]}
    probs = np.load(trained_run.parent / "probs.npy")
    assert np.all((probs > 0) & (probs < 1))

    # The same file loaded here (where the zoo is imported) predicts the same probabilities.
    import keras_rnnreg  # noqa: F401

    model = keras.saving.load_model(trained_run / "model.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(model(rolls, training=False)), probs, rtol=1e-5, atol=1e-6)


def test_package_root_shows_only_the_public_api():
    code = "import keras_rnnreg; print(' '.join(dir(keras_rnnreg)))"
    names = _run(["-c", code], cwd=os.getcwd()).stdout.split()
    for internal in ("os", "sys", "importlib", "private_api", "rng", "layer_args"):
        assert internal not in names
    for public in ("NoisySimpleRNN", "NoisySimpleRNNCell", "WeightNoise", "models", "__version__"):
        assert public in names


def test_a_run_that_never_trained_does_not_block_the_next(tmp_path):
    """``train`` that fails on its data leaves a run directory; rerun with other flags, it trains."""
    bad = tmp_path / "bad_data"
    bad.mkdir()
    (bad / "JSB_Chorales.mat").write_bytes(b"not a MATLAB file")
    run_dir = tmp_path / "run"
    failed = _run(["-m", "keras_rnnreg", "train", "--model", "rnn", "--data_dir", str(bad), "--run_dir", str(run_dir),
                   *TINY], cwd=tmp_path, check=False)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    errors = [line for line in failed.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "JSB_Chorales.mat" in errors[0], failed.stderr
    assert (run_dir / "config.json").is_file()  # what a failed start leaves

    # Another --units and the packaged / configured data: the never-trained run is replaced.
    tiny = [a if a != "8" else "6" for a in TINY]
    proc = _run(["-m", "keras_rnnreg", "train", "--model", "rnn", "--run_dir", str(run_dir), "--noexport", *tiny],
                cwd=tmp_path)
    assert "never finished an epoch" in proc.stderr and "test NLL:" in proc.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["hyperparameters"]["units"] == 6

    # A run that did train is still protected from a different one.
    refused = _run(["-m", "keras_rnnreg", "train", "--model", "rnn", "--run_dir", str(run_dir), "--noexport", *TINY],
                   cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "holds a different run" in refused.stderr
