"""Other Keras backends, each in a subprocess (the backend is fixed at Keras's import).

JAX: ``import keras_rnnreg`` loads no TensorFlow, and ``training.train`` runs a
zoo model end to end (tf.data input, evaluation, model.keras). The layer, cell
and zoo tests themselves run under JAX in CI (``.ci/run``).
"""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")


def _run_jax(code, tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def test_import_under_jax_needs_no_tensorflow(tmp_path):
    out = _run_jax(
        "import sys, keras, keras_rnnreg\n"
        "from keras_rnnreg import models\n"
        "m = models.get('rnn_dos', units=4)\n"
        "print(keras.backend.backend(), 'tensorflow' in sys.modules)\n",
        tmp_path,
    )
    assert out.split()[-2:] == ["jax", "False"]


def test_train_under_jax(tmp_path, data_dir):
    out = _run_jax(
        "import json\n"
        "from keras_rnnreg import training\n"
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


def test_train_under_jax_without_tensorflow(tmp_path, data_dir):
    """With TensorFlow absent, train reads the data through the NumPy PyDataset path."""
    out = _run_jax(
        NO_TENSORFLOW
        + "import json\n"
        "from keras_rnnreg import data_pipelines, training\n"
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
