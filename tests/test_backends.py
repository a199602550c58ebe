"""Other Keras backends, each in a subprocess (the backend is fixed at Keras's import).

JAX: ``import keras_rnnreg`` loads no TensorFlow, and ``training.train`` runs a
zoo model end to end (tf.data input, evaluation, model.keras), also with
TensorFlow blocked (the NumPy PyDataset path). The layer, cell and zoo tests
themselves run under JAX in CI (``.ci/run``). PyTorch: the zoo trains (run
where torch is installed; CI installs none).
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")


def _run_jax(code, tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


@needs_jax
def test_import_under_jax_needs_no_tensorflow(tmp_path):
    out = _run_jax(
        "import sys, keras, keras_rnnreg\n"
        "from keras_rnnreg import models\n"
        "m = models.get('rnn_dos', units=4)\n"
        "print(keras.backend.backend(), 'tensorflow' in sys.modules)\n",
        tmp_path,
    )
    assert out.split()[-2:] == ["jax", "False"]


@needs_jax
def test_train_under_jax(tmp_path, data_dir):
    out = _run_jax(
        "import json\n"
        "from keras_rnnreg.app import training\n"
        f"m = training.train('rnn_do', run_dir={str(tmp_path / 'run')!r}, data_dir={str(data_dir)!r}, epochs=2,"
        " hyperparameters={'units': 8}, max_train_sequences=8, max_valid_sequences=4, max_test_sequences=4,"
        " verbose=0, export_saved_model=False, tensorboard=False, log=lambda *a: None)\n"
        "print(json.dumps({'test_nll': m['test_nll']}))\n",
        tmp_path,
    )
    metrics = json.loads(out.strip().splitlines()[-1])
    assert 0 < metrics["test_nll"] < 100
    assert (tmp_path / "run" / "model.keras").is_file()


# Blocks TensorFlow in the child: any `import tensorflow` then raises ImportError,
# as on a machine with JAX and no TensorFlow.
NO_TENSORFLOW = "import sys\nsys.modules['tensorflow'] = None\n"


@needs_jax
def test_train_under_jax_without_tensorflow(tmp_path, data_dir):
    """With TensorFlow absent, train reads the data through the NumPy PyDataset path."""
    out = _run_jax(
        NO_TENSORFLOW
        + "import json\n"
        "from keras_rnnreg import data_pipelines\n"
        "from keras_rnnreg.app import training\n"
        "assert type(data_pipelines.make_window_dataset(data_pipelines.load_dataset('jsb_chorales',"
        f" {str(data_dir)!r})['valid'][:2])).__name__ == 'WindowPyDataset'\n"
        f"m = training.train('rnn_do', run_dir={str(tmp_path / 'run')!r}, data_dir={str(data_dir)!r}, epochs=2,"
        " hyperparameters={'units': 8}, max_train_sequences=8, max_valid_sequences=4, max_test_sequences=4,"
        " verbose=0, export_saved_model=False, tensorboard=False, log=lambda *a: None)\n"
        "print(json.dumps({'test_nll': m['test_nll'], 'tf': 'tensorflow' in sys.modules"
        " and sys.modules['tensorflow'] is not None}))\n",
        tmp_path,
    )
    metrics = json.loads(out.strip().splitlines()[-1])
    assert 0 < metrics["test_nll"] < 100 and metrics["tf"] is False
    assert (tmp_path / "run" / "model.keras").is_file()


def test_zoo_trains_under_torch(tmp_path):
    """PyTorch (not in CI, which installs no torch): every zoo model fits and predicts."""
    pytest.importorskip("torch")
    env = dict(os.environ, KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="2")
    code = (
        "import json, numpy as np\n"
        "from keras_rnnreg import models, optim\n"
        "x = (np.random.default_rng(0).random((4, 12, 88)) < 0.05).astype('float32')\n"
        "out = {}\n"
        "for name in models.names():\n"
        "    m = optim.compile_model(models.get(name, units=8, seed=0), optimizer='adam', learning_rate=0.01)\n"
        "    h = m.fit(x, np.roll(x, -1, 1), epochs=2, verbose=0).history['loss']\n"
        "    p = m.predict(x, verbose=0)\n"
        "    out[name] = [float(h[-1]), float(p.min()), float(p.max())]\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    from keras_rnnreg import models

    assert sorted(out) == sorted(models.names())
    for loss, low, high in out.values():
        assert 0 < loss < 100 and 0 < low <= high < 1
