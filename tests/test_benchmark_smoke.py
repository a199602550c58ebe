"""Smoke test of benchmarks.throughput on a tiny shape (structure only, no timing assertions)."""

import os
import re

import numpy as np
import pytest

from benchmarks import throughput


def test_throughput_table_and_markdown(tmp_path):
    out = tmp_path / "throughput.md"
    argv = ["--batch=2", "--units=4", "--length=5", "--steps=2", "--repeats=1", "--infer-rounds=3",
            "--models=rnn,rnn_do", f"--output={out}"]
    result = throughput.main(argv)

    rows = result["result"]["rows"]
    assert [r["model"] for r in rows] == ["simplernn", "rnn", "rnn_do", "simplernn_xla"]
    # jit_compile="auto": Keras's choice for the baseline (no XLA on CPU), the library's for
    # the zoo (whole-model XLA, except fast dropout); the reference row forces XLA.
    assert [r["xla"] for r in rows] == [False, True, True, True]
    for r in rows:
        assert r["train_fps"] > 0 and r["infer_fps"] > 0
        assert r["train_ratio"] > 0 and r["infer_ratio"] > 0
        assert r["train_cpu_fps"] > 0 and r["train_cpu_ratio"] > 0 and r["infer_cpu_ratio"] > 0
    assert rows[0]["train_ratio"] == rows[0]["infer_ratio"] == rows[0]["train_cpu_ratio"] == 1.0
    # The matmul yardstick: positive rates, below any plausible CPU peak.
    rates = result["result"]["matmul"]
    assert 0 < rates["loop"] < 5000 and 0 < rates["large"] < 5000

    text = out.read_text()
    assert text == result["markdown"]
    assert "Command: `python -m benchmarks.throughput --batch=2" in text
    for field in ("date:", "machine:", "TensorFlow", "Keras", "batch 2", "hidden units 4",
                  "sequence length 5", "2 batches per training pass (inference: the same batches 3 times)",
                  "1 repeats", "seed 0", "wall time:", "code: ", "CPU allocator: "):
        assert field in text, field
    header = ("| model | whole-model XLA | train frames/s | train ratio | inference frames/s | inference ratio "
              "| train frames/CPU-s | train CPU ratio | inference frames/CPU-s | inference CPU ratio | train cores busy |")
    assert header in text
    assert re.search(r"matmul in a 1000-step loop \d+, one 2048\^3 matmul \d+\.", text)
    table_rows = [line for line in text.splitlines() if re.match(r"\| (simplernn|rnn|rnn_do|simplernn_xla) \|", line)]
    assert len(table_rows) == 4
    assert all(len(line.split("|")) == 13 for line in table_rows)
    # Cores busy: CPU time over wall time of a training pass (at most the core count, with
    # slack for timer granularity); with one repeat a model has one pass, so it is exactly
    # its frames/s over its frames/CPU-s.
    for row in result["result"]["rows"]:
        assert 0.05 < row["train_cores"] <= os.cpu_count() + 0.5, row
        if row["model"] != "simplernn":
            assert abs(row["train_cores"] - row["train_fps"] / row["train_cpu_fps"]) < 1e-9, row

    # The inputs are binary piano rolls of realistic density.
    x, y, w = throughput.make_batches(batch=8, length=50, steps=2, seed=1)
    assert x.shape == y.shape == (16, 50, 88) and w.shape == (16, 50)
    assert set(map(float, set(x.ravel()))) <= {0.0, 1.0}
    assert 0.01 < x.mean() < 0.08


def test_plain_compile_rows_use_a_bare_model_compile(tmp_path):
    """--plain-compile adds one row per model compiled with model.compile(optimizer, loss);
    ZooModel gives it the same whole-model XLA choice as compile_model."""
    argv = ["--batch=2", "--units=4", "--length=5", "--steps=2", "--repeats=1", "--infer-rounds=1",
            "--models=rnn,rnn_fd", "--plain-compile", "--no-xla-reference", "--output="]
    rows = throughput.main(argv)["result"]["rows"]
    assert [r["model"] for r in rows] == ["simplernn", "rnn", "rnn_fd", "rnn/model.compile", "rnn_fd/model.compile"]
    assert [r["xla"] for r in rows] == [False, True, False, True, False]
    plain = throughput.Bench("rnn/model.compile", 4, 0, *throughput.make_datasets(2, 5, 2), frames_per_pass=10)
    assert plain.model.name == "rnn" and plain.model.metrics_names == ["loss"]


def test_infer_rounds_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        throughput.parse_args(["--infer-rounds=0"])
    assert "--infer-rounds must be >= 1, got 0" in capsys.readouterr().err


def test_inference_pass_goes_over_the_batches_infer_rounds_times(monkeypatch):
    # A fake clock: every pass takes 1 s wall and 1 s CPU, so frames/s is the frame count
    # the pass is credited with, and the model must really predict that many sequences.
    predicted = []
    train_ds, infer_ds = throughput.make_datasets(batch=2, length=5, steps=3, seed=0)
    bench = throughput.Bench("rnn", 4, 0, train_ds, infer_ds, 2 * 5 * 3, infer_rounds=4)
    wall, cpu = iter(range(10**6)), iter(range(10**6))
    monkeypatch.setattr(bench, "wall_clock", lambda: next(wall))
    monkeypatch.setattr(bench, "cpu_clock", lambda: next(cpu))
    original = bench.model.predict
    monkeypatch.setattr(bench.model, "predict", lambda ds, **kw: predicted.append(original(ds, **kw)))
    fps, cpu_fps = bench.infer_once()
    assert predicted[0].shape[0] * 5 == fps == cpu_fps == 2 * 5 * 3 * 4
    fps, cpu_fps = bench.train_once()
    assert fps == cpu_fps == 2 * 5 * 3


def _memory_row(allocator, units):
    import json
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "benchmarks.throughput", "--memory-worker", "rnn", f"--cpu-allocator={allocator}",
           "--batch=4", f"--units={units}", "--length=20", "--steps=2"]
    out = subprocess.run(cmd, cwd=throughput.REPO_ROOT, capture_output=True, text=True, check=True, timeout=300)
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])


def test_memory_worker_counts_training_step_memory():
    # With the BFC allocator the step peak is TensorFlow's own byte count: it must cover at
    # least the float32 weights and their gradients (2 * units^2 * 4 bytes for W_hh alone)
    # and grow with the hidden size. Fresh processes: the allocator is chosen at start-up.
    small, large = _memory_row("bfc", 64), _memory_row("bfc", 512)
    assert small["method"] == large["method"] == "allocator peak"
    assert large["step_peak_mib"] > 2 * 512 * 512 * 4 / 2**20
    assert large["step_peak_mib"] > 4 * small["step_peak_mib"]
    # The process peak is this worker's own (VmHWM), not a peak inherited from its parent.
    assert 100 < small["process_peak_mib"] < 4000


def test_memory_worker_without_bfc_names_its_measure():
    # How TensorFlow serves the malloc request depends on its build and the CPU (oneDNN
    # builds pool with statistics on some CPUs), so the measure may be either; the row
    # must say which, and the process peak is still the worker's own.
    row = _memory_row("malloc", 64)
    assert row["method"] in ("allocator peak", "VmHWM reset", "ru_maxrss growth")
    assert 100 < row["process_peak_mib"] < 4000


def test_gated_rows_measure_against_keras_lstm(tmp_path):
    """--cell lstm: the zoo models with NoisyLSTM, the baseline and its XLA reference keras.layers.LSTM."""
    import keras

    from keras_rnnreg import NoisyLSTM

    out = tmp_path / "throughput_lstm.md"
    argv = ["--batch=2", "--units=4", "--length=5", "--steps=2", "--repeats=1", "--infer-rounds=1",
            "--models=rnn,rnn_dos", "--cell=lstm", f"--output={out}"]
    result = throughput.main(argv)
    rows = result["result"]["rows"]
    assert [r["model"] for r in rows] == ["lstm", "rnn", "rnn_dos", "lstm_xla"]
    assert [r["xla"] for r in rows][-1] is True
    for r in rows:
        assert r["train_fps"] > 0 and r["infer_fps"] > 0 and r["train_cpu_ratio"] > 0
    text = out.read_text()
    assert text.startswith("# Throughput: zoo models vs. keras.layers.LSTM")
    assert "the zoo models' cell: lstm (baseline `keras.layers.LSTM`)" in text
    assert "over the LSTM baseline's" in text and "`lstm_xla` is the baseline forced to XLA" in text

    data = throughput.make_datasets(2, 5, 2)
    for cell, keras_layer in (("lstm", keras.layers.LSTM), ("gru", keras.layers.GRU)):
        base = throughput.Bench(cell, 4, 0, *data, frames_per_pass=20, cell=cell)
        assert [type(la) for la in base.model.layers[1:]] == [keras_layer, keras.layers.Dense]
    zoo = throughput.Bench("rnn_dos", 4, 0, *data, frames_per_pass=20, cell="lstm")
    hidden = zoo.model.get_layer("hidden")
    assert isinstance(hidden, NoisyLSTM) and hidden.cell.recurrent_noise_scope == "sequence"


def test_torch_flag_without_torch_skips_the_row(monkeypatch, capsys):
    monkeypatch.setattr(throughput, "torch_missing", lambda: "ModuleNotFoundError: No module named 'torch'")
    argv = ["--batch=2", "--units=4", "--length=5", "--steps=2", "--repeats=1", "--infer-rounds=1",
            "--models=rnn", "--no-xla-reference", "--torch", "--output="]
    result = throughput.main(argv)
    assert [r["model"] for r in result["result"]["rows"]] == ["simplernn", "rnn"]
    assert "vs_torch" not in result["result"] and "PyTorch" not in result["markdown"]
    assert ("--torch: PyTorch cannot be imported (ModuleNotFoundError: No module named 'torch'); "
            "the torch.nn.RNN row is skipped") in capsys.readouterr().err


def test_torch_peer_row_and_ratios(tmp_path):
    torch = pytest.importorskip("torch")
    out = tmp_path / "throughput_torch.md"
    argv = ["--batch=2", "--units=4", "--length=5", "--steps=2", "--repeats=2", "--infer-rounds=1",
            "--models=rnn,rnn_dos", "--no-xla-reference", "--torch", "--optimizer=adam", f"--output={out}"]
    result = throughput.main(argv)["result"]
    rows = {r["model"]: r for r in result["rows"]}
    assert list(rows) == ["simplernn", "rnn", "rnn_dos", "torch.nn.RNN"]
    assert rows["torch.nn.RNN"]["train_fps"] > 0 and rows["torch.nn.RNN"]["infer_ratio"] > 0
    vs = {r["model"]: r for r in result["vs_torch"]}
    assert list(vs) == ["simplernn", "rnn", "rnn_dos"]
    assert all(v > 0 for r in vs.values() for k, v in r.items() if k != "model")
    text = out.read_text()
    assert "## Against PyTorch's torch.nn.RNN" in text and "Adam, learning rate 0.001" in text
    assert f"PyTorch {torch.__version__}" in text
    assert "| rnn_dos |" in text.split("## Against PyTorch's torch.nn.RNN")[1]


def test_torch_peer_trains_on_the_keras_loss():
    """The peer's loss is NoteNLL's frame NLL (weighted mean over frames), and its training pass learns."""
    torch = pytest.importorskip("torch")
    import keras

    from keras_rnnreg import NoteNLL

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (3, 7, 88)).astype(np.float32)
    y = (rng.random((3, 7, 88)) < 0.1).astype(np.float32)
    w = (rng.random((3, 7)) < 0.7).astype(np.float32)
    expected = float(NoteNLL()(y, keras.ops.sigmoid(logits), sample_weight=w))
    got = float(throughput.TorchBench.loss(*map(torch.from_numpy, (logits, y, w))))
    assert abs(got - expected) < 1e-4 * abs(expected)

    x, y, w = throughput.make_batches(batch=4, length=20, steps=2, seed=0)
    for cell in ("simple", "lstm"):
        bench = throughput.TorchBench(cell, 16, 0, x, y, w, batch=4, infer_rounds=2, optimizer="adam", device="cpu")
        assert bench.name == throughput.torch_name(cell) and len(bench.infer_batches) == 4

        def loss():
            with torch.no_grad():
                return sum(float(bench.loss(bench.out(bench.rnn(a)[0]), b, c)) for a, b, c in bench.train_batches)

        before = loss()
        for _ in range(5):
            bench.train_once()
        assert loss() < before
        outputs = bench._infer_pass()
        assert len(outputs) == 4 and tuple(outputs[0].shape) == (4, 20, 88)
