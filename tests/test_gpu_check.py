"""The GPU check (benchmarks/gpu_check.sh, benchmarks/gpu_check.py) as far as a CPU runs it.

The GPU machine it is for has JAX and PyTorch but no TensorFlow: here it runs
under KERAS_BACKEND=jax in a subprocess where ``import tensorflow`` fails (the
module is set to ``None`` in ``sys.modules`` before anything else runs, so
``importlib.util.find_spec("tensorflow")`` is ``None`` too, as on that machine),
at tiny sizes: the throughput's JAX path (with PyTorch's row where torch is
installed), the NumPy PyDataset pipeline, a one-trial search.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
#: Runs ``python -m benchmarks.gpu_check ARGS`` with TensorFlow made unimportable.
NO_TF = ("import runpy, sys; sys.modules['tensorflow'] = None; sys.argv[0] = 'gpu_check'; "
         "runpy.run_module('benchmarks.gpu_check', run_name='__main__', alter_sys=True)")
TINY = ["--batch=2", "--units=4", "--length=5", "--steps=2", "--repeats=1", "--infer-rounds=1",
        "--models=rnn,rnn_dos", "--gated-models=rnn_dos", "--trials=1", "--epochs=1", "--patience=1", "--max-train-sequences=8",
        "--max-valid-sequences=4", "--max-test-sequences=2"]


def _env():
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _run(args, timeout=400):
    return subprocess.run([sys.executable, "-c", NO_TF, *args], cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def test_the_check_runs_under_jax_without_tensorflow(tmp_path):
    report, search_dir = tmp_path / "throughput_gpu.md", tmp_path / "search"
    run = _run(["--norequire-gpu", f"--output={report}", f"--search-dir={search_dir}", *TINY])
    assert run.returncode == 0, run.stderr[-3000:]
    err = run.stderr
    assert "TensorFlow not used" in err
    # The search trains on the NumPy pipeline (no tf.data without TensorFlow).
    assert "gpu_check: search pipeline: WindowPyDataset, first batch (8, 100, 88) (8, 100, 88) (8, 100)" in err

    text = report.read_text()
    assert text.startswith("# Throughput: zoo models vs. keras.layers.SimpleRNN")
    assert "Keras backend jax" in text and "Adam, NLL loss" in text
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]
    torch_installed = importlib.util.find_spec("torch") is not None
    expected = ["model", "simplernn", "rnn", "rnn_dos", "simplernn_xla"] + (["torch.nn.RNN"] if torch_installed else [])
    assert rows[:len(expected)] == expected
    if torch_installed:
        assert "## Against PyTorch's torch.nn.RNN" in text
    else:
        assert "PyTorch cannot be imported" in err and "PyTorch" not in text

    # The gated rows against Keras's LSTM and GRU, beside the report.
    for cell in ("lstm", "gru"):
        gated = (tmp_path / f"throughput_gpu_{cell}.md").read_text()
        rows = [line.split("|")[1].strip() for line in gated.splitlines() if line.startswith("| ")]
        assert rows[:3] == ["model", cell, "rnn_dos"]
    assert "cuDNN handover: not available here (JAX's default backend is cpu): skipped" in err

    # The search's summary is printed, and it is the one written to the folder.
    assert "# Search: rnn_dos on jsb_chorales" in run.stdout and "status: COMPLETED 1" in run.stdout
    assert (search_dir / "summary.md").read_text().strip() in run.stdout
    assert "gpu_check: done in" in err


def test_cudnn_handover_check_with_the_reference_lstm():
    """The check's comparison and timing as on a GPU, JAX's reference LSTM in cuDNN's place."""
    code = """
import sys, types
from jax.experimental import rnn
from keras_rnnreg.rnn import cudnn
from benchmarks import gpu_check

def reference(x, h0, c0, w, lengths, input_size, hidden_size, num_layers, dropout, bidirectional, precision=None):
    calls.append(1)
    unpacked = rnn.unpack_lstm_weights(w, input_size, hidden_size, num_layers, bidirectional)
    return rnn.lstm_ref(x, h0, c0, *unpacked, lengths, input_size, hidden_size, num_layers, dropout, bidirectional)

calls = []
rnn.lstm, cudnn.available = reference, lambda: cudnn.ENABLED
out = gpu_check.check_cudnn(types.SimpleNamespace(units=4, batch=2, length=5, seed=0))
assert calls, "the handover did not run"
assert out["output_difference"] < 1e-5 and out["gradient_difference"] < 1e-5, out
assert sorted(out["step_ms"]) == ["cuDNN", "keras.layers.LSTM", "own loop"], out
print("ok", out)
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(), capture_output=True, text=True,
                         timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("ok") and "cuDNN handover: NoisyLSTM(4), per-sequence DropConnect" in run.stderr


def test_gated_part_alone_and_skipped_past_its_start_limit(tmp_path):
    report = tmp_path / "throughput_gpu.md"
    alone = _run(["--norequire-gpu", "--nothroughput", "--nosearch", f"--output={report}", *TINY])
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert not report.exists() and (tmp_path / "throughput_gpu_gru.md").exists()
    assert "gpu_check: gated throughput: " in alone.stderr and "Search:" not in alone.stdout
    late = ("import runpy, sys; sys.modules['tensorflow'] = None; import benchmarks.gpu_check as g; "
            "g.EXTRAS_START_LIMIT_S = -1; g.main(sys.argv[1:])")
    run = subprocess.run([sys.executable, "-c", late, "--norequire-gpu", "--nothroughput", "--nosearch",
                          "--output="], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    for part in ("gated throughput", "cuDNN handover"):
        assert f"gpu_check: {part}: skipped, " in run.stderr and "(run it alone: --nothroughput --nosearch)" in run.stderr


def test_without_a_gpu_it_stops_at_once_saying_so():
    pytest.importorskip("jax")
    import jax

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("JAX sees a GPU here")
    run = _run(["--output="], timeout=200)
    assert run.returncode == 1
    assert "python -m benchmarks.gpu_check: error: JAX sees no GPU (devices: " in run.stderr
    assert "--norequire-gpu runs on the CPU" in run.stderr
    assert "warm-up" not in run.stderr and run.stdout == ""


def test_a_wrong_backend_is_refused():
    env = dict(_env(), KERAS_BACKEND="numpy")
    run = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--norequire-gpu", "--output="],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=200)
    assert run.returncode == 1
    assert "error: the Keras backend is 'numpy'; the check is of JAX" in run.stderr


@pytest.mark.parametrize("setup, message", [
    ("", "gpu_check: error: no wheels in {wheels}: run benchmarks/make_gpu_wheels.sh"),
    ("touch {wheels}/keras-3.0.0-py3-none-any.whl", "gpu_check: error: no keras_rnnreg wheel in {wheels}"),
])
def test_the_script_without_its_wheels_fails_at_once(tmp_path, setup, message):
    wheels = tmp_path / "whl"
    wheels.mkdir()
    if setup:
        subprocess.run(setup.format(wheels=wheels), shell=True, check=True)
    run = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh")], cwd=REPO,
                         env=dict(os.environ, WHEELS=str(wheels)), capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip().startswith(message.format(wheels=wheels)) and run.stdout == ""


def test_tune_command_runs_under_jax_without_tensorflow(tmp_path):
    """``python -m keras_rnnreg tune`` itself (not only gpu_check's call of run_search) needs no TensorFlow."""
    code = ("import runpy, sys; sys.modules['tensorflow'] = None; sys.argv[0] = 'keras_rnnreg'; "
            "runpy.run_module('keras_rnnreg', run_name='__main__', alter_sys=True)")
    args = ["tune", "--model", "rnn_dos", "--cell", "gru", "--trials", "1", "--epochs", "1",
            "--directory", str(tmp_path / "search"), "--fixed", "units=8", "--max_train_sequences", "4",
            "--max_valid_sequences", "2", "--max_test_sequences", "2"]
    run = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=_env(), capture_output=True,
                         text=True, timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "1 trials (COMPLETED 1)" in run.stdout and "test_nll" in run.stdout
    assert "Traceback" not in run.stderr
