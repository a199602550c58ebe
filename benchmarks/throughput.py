"""Training and inference throughput of the zoo models against ``keras.layers.SimpleRNN``.

Run ``python -m benchmarks.throughput`` (``--help`` for the flags). For every
zoo model and for a baseline, ``keras.layers.SimpleRNN(units,
return_sequences=True)`` followed by the same sigmoid ``Dense(88)``, it measures
in one process and at one shape:

- training frames/s: ``model.fit`` over ``--steps`` cached batches of
  ``(x, y, sample_weight)``, SGD with Nesterov momentum
  (:func:`keras_rnnreg.optim.compile_model` with ``jit_compile="auto"``: the
  library's default for the zoo models, whole-model XLA where
  :func:`keras_rnnreg.optim.prefers_whole_model_xla` says so; Keras's own
  default for the baseline, which is no XLA on a CPU-only machine);
- inference frames/s: ``model.predict`` over the same batches, gone over
  ``--infer-rounds`` times per pass (an inference batch costs about a third of
  a training batch; longer passes steady the timing).

A frame is one time step of one sequence (``batch * length`` frames a batch).
Every model is compiled and warmed up (one full pass of each kind) before
timing. Each repeat measures the models one after another with the baseline
re-measured between every two models (``B m1 B m2 ... B``); a model's ratio in
a repeat is its throughput over the mean of the two baseline measurements
around it, so machine load affects both alike. Reported: the median over the
repeats of the throughputs and of the ratios.

Inputs are synthetic piano rolls (binary, 88 notes, ~4% density, notes held
over several frames, a few zero-padded leading frames with weight 0), seeded.

A reference row ``simplernn_xla`` (the baseline compiled with
``jit_compile=True``; ``--no-xla-reference`` drops it) shows what whole-model
XLA alone does for Keras's layer.

``--cell lstm`` (or ``gru``) measures the zoo models built with that cell
(``models.get(name, cell=...)``: :class:`keras_rnnreg.NoisyLSTM` /
:class:`keras_rnnreg.NoisyGRU` with each model's regularizer) against
``keras.layers.LSTM`` (``GRU``) with the same ``Dense(88)``, the baseline rows
then named ``lstm`` and ``lstm_xla``. ``--optimizer adam`` trains every row with
Adam instead. ``--torch`` adds PyTorch's layer of the cell (``torch.nn.RNN``
with tanh, ``LSTM``, ``GRU``) with ``Linear(88)``, the same loss, optimizer and
batches (:class:`TorchBench`), to the same alternation, and a second table of
every row's ratios to it; where torch cannot be imported the row is skipped
with a message.

Under the JAX backend the batches are NumPy arrays (:class:`ArrayBatches`)
and nothing imports TensorFlow, so the benchmark runs on a machine without it
(``benchmarks/gpu_check.sh``); the matmul yardstick is left out there when JAX
computes on a GPU.

``--memory`` additionally measures, in a fresh subprocess per model, the peak
memory of training steps (see :func:`memory_worker`; TensorFlow only).

The process uses TensorFlow's BFC allocator on the CPU (``--cpu-allocator
bfc``, the default, as ``python -m keras_rnnreg`` does; see
:func:`keras_rnnreg.app._startup.prefer_bfc_cpu_allocator`): with ``malloc``
every XLA step page-faults its buffers in again. The report names the
allocator that was requested (TensorFlow builds differ in how they serve it).
"""

import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from benchmarks import _flags  # noqa: E402
from benchmarks.provenance import code_version  # noqa: E402

NUM_NOTES = 88
BASELINE = "simplernn"
XLA_REFERENCE = "simplernn_xla"  # the baseline with jit_compile=True
PLAIN_SUFFIX = "/model.compile"  # a row of the model compiled the way most users do
REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "results" / "throughput.md"


# -- data ----------------------------------------------------------------------


def piano_rolls(num, length, density=0.04, seed=0):
    """``num`` binary piano rolls ``(num, length, 88)`` with held notes.

    Each note switches on with a small probability per frame and is then held
    for a geometric number of frames (mean 4), giving ~``density`` of the
    entries on, like the real chorale data (0.035-0.045).
    """
    rng = np.random.default_rng(seed)
    mean_hold = 4.0
    p_on = density / mean_hold / (1.0 - density)
    rolls = np.zeros((num, length, NUM_NOTES), dtype=np.float32)
    state = rng.random((num, NUM_NOTES)) < density
    for t in range(length):
        rolls[:, t] = state
        release = rng.random((num, NUM_NOTES)) < 1.0 / mean_hold
        onset = rng.random((num, NUM_NOTES)) < p_on
        state = np.where(state, ~release, onset)
    return rolls


def make_batches(batch, length, steps, seed=0):
    """``steps`` batches ``(x, y, w)``: inputs, next-frame targets, frame weights."""
    rolls = piano_rolls(batch * steps, length + 1, seed=seed)
    rng = np.random.default_rng(seed + 1)
    pad = rng.integers(0, max(1, length // 10), size=batch * steps)
    w = (np.arange(length)[None, :] >= pad[:, None]).astype(np.float32)
    rolls[:, :-1] *= w[:, :, None]  # zero-padded leading frames (weight 0)
    x, y = rolls[:, :-1], rolls[:, 1:]
    return x, y, w


class ArrayBatches:
    """Cached batches as NumPy arrays, fed to ``model.fit`` / ``model.predict`` batch by batch.

    The input pipeline where there is no ``tf.data`` (the JAX backend: a GPU
    machine may have no TensorFlow); Keras slices the arrays into the same
    batches in the same order (``shuffle=False``).
    """

    def __init__(self, x, y=None, w=None, batch=32):
        self.x, self.y, self.w, self.batch = x, y, w, batch

    def repeat(self, count):
        """The inputs ``count`` times over (as ``tf.data.Dataset.repeat``), for inference passes."""
        return ArrayBatches(np.concatenate([self.x] * count), batch=self.batch)


def default_pipeline():
    """``"tf.data"`` under the TensorFlow backend (the recorded results' pipeline), else ``"arrays"``."""
    import keras

    return "tf.data" if keras.backend.backend() == "tensorflow" else "arrays"


def make_datasets(batch, length, steps, seed=0, pipeline="auto"):
    """Training ``(x, y, w)`` and inference ``x`` batches: cached ``tf.data`` datasets, or :class:`ArrayBatches`."""
    if pipeline == "auto":
        pipeline = default_pipeline()
    x, y, w = make_batches(batch, length, steps, seed)
    if pipeline == "arrays":
        return ArrayBatches(x, y, w, batch), ArrayBatches(x, batch=batch)
    import tensorflow as tf

    train = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(batch, drop_remainder=True).cache()
    infer = tf.data.Dataset.from_tensor_slices(x).batch(batch, drop_remainder=True).cache()
    # Fill the caches once, so no measured pass reads from numpy.
    for _ in train:
        pass
    for _ in infer:
        pass
    return train, infer


def fit_pass(model, data):
    """One training pass (epoch) of ``model`` over ``data``."""
    if isinstance(data, ArrayBatches):
        return model.fit(data.x, data.y, sample_weight=data.w, batch_size=data.batch, epochs=1, verbose=0,
                         shuffle=False)
    return model.fit(data, epochs=1, verbose=0, shuffle=False)


def predict_pass(model, data):
    """One inference pass of ``model`` over ``data``."""
    if isinstance(data, ArrayBatches):
        return model.predict(data.x, batch_size=data.batch, verbose=0)
    return model.predict(data, verbose=0)


# -- models --------------------------------------------------------------------

#: Keras's layer of each cell: the baseline of a run (``--cell``).
KERAS_LAYERS = {"simple": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
#: PyTorch's layer of each cell: the ``--torch`` peer.
TORCH_LAYERS = {"simple": "RNN", "lstm": "LSTM", "gru": "GRU"}
OPTIMIZERS = ("sgd", "adam")
LEARNING_RATE = 1e-3
MOMENTUM = 0.9


def baseline_name(cell="simple"):
    """The baseline row of a run with ``cell``: ``simplernn``, ``lstm`` or ``gru``."""
    return BASELINE if cell == "simple" else cell


def xla_reference_name(cell="simple"):
    """The baseline forced to whole-model XLA: ``simplernn_xla``, ``lstm_xla``, ``gru_xla``."""
    return baseline_name(cell) + "_xla"


def torch_name(cell="simple"):
    """The row of the PyTorch peer: ``torch.nn.RNN``, ``torch.nn.LSTM``, ``torch.nn.GRU``."""
    return f"torch.nn.{TORCH_LAYERS[cell]}"


def build(name, units, seed, cell="simple"):
    """A zoo model with ``cell``, or Keras's layer of ``cell`` for the baseline names (see :func:`baseline_name`)."""
    import keras

    from keras_rnnreg import models

    if name not in (baseline_name(cell), xla_reference_name(cell)):
        # The simple cell without the argument, so this also runs on a zoo that predates it.
        return models.get(name, units=units, seed=seed, **({} if cell == "simple" else {"cell": cell}))
    inputs = keras.Input(shape=(None, NUM_NOTES))
    hidden = getattr(keras.layers, KERAS_LAYERS[cell])(units, return_sequences=True, seed=seed)(inputs)
    outputs = keras.layers.Dense(NUM_NOTES, activation="sigmoid")(hidden)
    return keras.Model(inputs, outputs, name=name)


def compile_for_benchmark(model, jit_compile="auto", plain=False, optimizer="sgd"):
    """``compile_model`` (the library's path), or with ``plain`` a bare
    ``model.compile(optimizer, loss)`` with Keras's default ``jit_compile``.

    ``optimizer``: ``"sgd"`` (Nesterov momentum 0.9) or ``"adam"``, learning rate 1e-3 either way.
    """
    import keras

    from keras_rnnreg.optim import compile_model

    if plain:
        opt = (keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM, nesterov=True) if optimizer == "sgd"
               else keras.optimizers.Adam(LEARNING_RATE))
        model.compile(optimizer=opt, loss="binary_crossentropy")
        return model
    return compile_model(model, optimizer=optimizer, learning_rate=LEARNING_RATE, momentum=MOMENTUM,
                         jit_compile=jit_compile)


class _Passes:
    """The timed passes of one row: frames per wall-clock and per CPU second."""

    def _start_timing(self, name, frames_per_pass, infer_rounds):
        self.name = name
        self.frames, self.infer_frames = frames_per_pass, frames_per_pass * infer_rounds
        self.train_fps, self.infer_fps = [], []
        self.train_cpu_fps, self.infer_cpu_fps = [], []

    def train_cores(self):
        """Median CPU seconds per wall-clock second of the training passes."""
        return statistics.median(w / c for w, c in zip(self.train_fps, self.train_cpu_fps))

    # CPU time of the whole process (all threads): the compute a model costs.
    wall_clock = staticmethod(time.perf_counter)
    cpu_clock = staticmethod(time.process_time)

    def _timed(self, fn, frames):
        """Frames per wall-clock second and per CPU second of one pass."""
        wall, cpu = self.wall_clock(), self.cpu_clock()
        fn()
        wall, cpu = self.wall_clock() - wall, self.cpu_clock() - cpu
        return frames / wall, frames / max(cpu, 1e-9)


class Bench(_Passes):
    """One compiled model and its timed passes."""

    def __init__(self, name, units, seed, train_ds, infer_ds, frames_per_pass, jit_compile="auto",
                 infer_rounds=1, cell="simple", optimizer="sgd"):
        import keras

        keras.utils.set_random_seed(seed)
        self._start_timing(name, frames_per_pass, infer_rounds)
        if name == xla_reference_name(cell):
            jit_compile = True
        plain = name.endswith(PLAIN_SUFFIX)
        model_name = name[: -len(PLAIN_SUFFIX)] if plain else name
        self.model = compile_for_benchmark(build(model_name, units, seed, cell), jit_compile, plain=plain,
                                           optimizer=optimizer)
        # An inference pass goes over the batches infer_rounds times.
        self.train_ds, self.infer_ds = train_ds, infer_ds.repeat(infer_rounds)

    @property
    def jit(self):
        return bool(self.model.jit_compile)

    def warm_up(self):
        fit_pass(self.model, self.train_ds)
        predict_pass(self.model, self.infer_ds)

    def train_once(self):
        return self._timed(lambda: fit_pass(self.model, self.train_ds), self.frames)

    def infer_once(self):
        return self._timed(lambda: predict_pass(self.model, self.infer_ds), self.infer_frames)


def torch_missing():
    """Why PyTorch cannot be imported (a one-line reason), or ``None`` when it can."""
    try:
        import torch  # noqa: F401
    except Exception as e:  # ImportError, or a broken install (OSError from its libraries)
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    return None


class TorchBench(_Passes):
    """The PyTorch peer: ``torch.nn.RNN`` (tanh; LSTM or GRU for those cells) and ``Linear(88)``.

    The same shape, batches, loss and optimizer as the Keras rows: the frame
    NLL (binary cross-entropy of the sigmoid outputs, summed over the notes,
    averaged over the frames with the frame weights, ``sum(w * nll) / sum(w)``,
    as :class:`keras_rnnreg.NoteNLL`), SGD with
    Nesterov momentum or Adam at the same learning rate. Eager PyTorch, its
    default: on a CUDA device ``nn.RNN`` runs cuDNN's fused kernels. The batches
    stay on the host and are copied per batch, as Keras feeds them; inference
    outputs come back to the host, as ``model.predict`` returns them.
    """

    jit = False

    def __init__(self, cell, units, seed, x, y, w, batch, infer_rounds=1, optimizer="sgd", device=None):
        import torch

        self.torch = torch
        self._start_timing(torch_name(cell), x.shape[0] * x.shape[1], infer_rounds)
        torch.manual_seed(seed)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        layer = getattr(torch.nn, TORCH_LAYERS[cell])
        kwargs = {"nonlinearity": "tanh"} if cell == "simple" else {}
        self.rnn = layer(NUM_NOTES, units, batch_first=True, **kwargs).to(self.device)
        self.out = torch.nn.Linear(units, NUM_NOTES).to(self.device)
        params = [*self.rnn.parameters(), *self.out.parameters()]
        self.optimizer = (torch.optim.SGD(params, lr=LEARNING_RATE, momentum=MOMENTUM, nesterov=True)
                          if optimizer == "sgd" else torch.optim.Adam(params, lr=LEARNING_RATE))
        starts = range(0, x.shape[0] - batch + 1, batch)
        self.train_batches = [tuple(torch.from_numpy(np.ascontiguousarray(a[i:i + batch])) for a in (x, y, w))
                              for i in starts]
        self.infer_batches = [b[0] for b in self.train_batches] * infer_rounds

    def _sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    @staticmethod
    def loss(logits, y, w):
        """The frame NLL of the Keras rows (``NoteNLL`` with frame weights) from the output's logits."""
        import torch.nn.functional as F

        nll = F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(-1)
        return (nll * w).sum() / w.sum()

    def _train_pass(self):
        self.rnn.train()
        for x, y, w in self.train_batches:
            x, y, w = (t.to(self.device) for t in (x, y, w))
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(self.out(self.rnn(x)[0]), y, w).backward()
            self.optimizer.step()
        self._sync()

    def _infer_pass(self):
        self.rnn.eval()
        with self.torch.inference_mode():
            outputs = [self.torch.sigmoid(self.out(self.rnn(x.to(self.device))[0])).cpu() for x in self.infer_batches]
        self._sync()
        return outputs

    def warm_up(self):
        self._train_pass()
        self._infer_pass()

    def train_once(self):
        return self._timed(self._train_pass, self.frames)

    def infer_once(self):
        return self._timed(self._infer_pass, self.infer_frames)


def matmul_rates(batch, units, loop_steps=1000, repeats=5):
    """Matmul speed of this machine under XLA, GFLOP per CPU second (all threads).

    ``loop``: the recurrent matmul ``(batch x units) @ (units x units)``
    repeated ``loop_steps`` times in one compiled while loop (the best a
    recurrence's matmuls can do here); ``large``: one ``2048^3`` matmul. A
    yardstick for the models' rates: ``rnn``'s training matmul work is
    ``~0.42 MFLOP`` per frame at 200 hidden units. Through TensorFlow under its
    backend, else through JAX (the same XLA).
    """
    import keras

    def rate(fn, flops):
        fn()  # compile
        cpu = time.process_time()
        for _ in range(repeats):
            fn()
        return flops * repeats / max(time.process_time() - cpu, 1e-9) / 1e9

    loop_flops, large_flops = 2.0 * batch * units * units * loop_steps, 2.0 * 2048**3
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((units, units)) * (0.5 / units**0.5)).astype(np.float32)
    h0 = rng.standard_normal((batch, units)).astype(np.float32)
    a, b = (rng.standard_normal((2048, 2048)).astype(np.float32) for _ in range(2))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        w, h0, a, b = map(tf.constant, (w, h0, a, b))
        step = tf.function(lambda: tf.while_loop(lambda i, h: i < loop_steps, lambda i, h: (i + 1, tf.matmul(h, w)),
                                                 (0, h0))[1], jit_compile=True)
        large = tf.function(lambda: tf.matmul(a, b), jit_compile=True)
        return {"loop": rate(lambda: step().numpy(), loop_flops), "large": rate(lambda: large().numpy(), large_flops)}
    import jax

    w, h0, a, b = map(jax.device_put, (w, h0, a, b))
    step = jax.jit(lambda h, w: jax.lax.fori_loop(0, loop_steps, lambda i, h: h @ w, h))
    large = jax.jit(lambda a, b: a @ b)
    return {"loop": rate(lambda: step(h0, w).block_until_ready(), loop_flops),
            "large": rate(lambda: large(a, b).block_until_ready(), large_flops)}


def measure(names, batch=32, units=200, length=100, steps=40, repeats=5, seed=0, jit_compile="auto",
            log=print, infer_rounds=1, cell="simple", optimizer="sgd", torch_peer=False):
    """Benchmark ``names`` against the baseline; returns the result dict.

    An inference pass goes over the ``steps`` batches ``infer_rounds`` times.
    ``cell`` picks the zoo models' cell and the baseline (Keras's layer of that
    cell); ``torch_peer`` adds the PyTorch row (:class:`TorchBench`) to the
    alternation and ``result["vs_torch"]``: each row's ratios to it.
    """
    import keras

    if infer_rounds < 1:
        raise ValueError(f"infer_rounds must be >= 1, got {infer_rounds}")
    train_ds, infer_ds = make_datasets(batch, length, steps, seed)
    frames = batch * length * steps
    common = dict(infer_rounds=infer_rounds, cell=cell, optimizer=optimizer)
    baseline = Bench(baseline_name(cell), units, seed, train_ds, infer_ds, frames, "auto", **common)
    benches = [Bench(n, units, seed, train_ds, infer_ds, frames, jit_compile, **common) for n in names]
    if torch_peer:
        x, y, w = make_batches(batch, length, steps, seed)
        benches.append(TorchBench(cell, units, seed, x, y, w, batch, infer_rounds, optimizer))
    for b in [baseline] + benches:
        t0 = time.perf_counter()
        b.warm_up()
        log(f"warm-up {b.name}: {time.perf_counter() - t0:.1f}s (XLA: {b.jit})")

    kinds = ("train", "infer", "train_cpu", "infer_cpu")
    ratios = {b.name: {k: [] for k in kinds} for b in benches}

    def record(bench, kind, fps):
        getattr(bench, f"{kind}_fps").append(fps[0])
        getattr(bench, f"{kind}_cpu_fps").append(fps[1])

    for r in range(repeats):
        for kind in ("train", "infer"):
            run = (lambda b: b.train_once()) if kind == "train" else (lambda b: b.infer_once())
            base_before = run(baseline)
            record(baseline, kind, base_before)
            for b in benches:
                fps = run(b)
                base_after = run(baseline)
                record(b, kind, fps)
                record(baseline, kind, base_after)
                ratios[b.name][kind].append(fps[0] / (0.5 * (base_before[0] + base_after[0])))
                ratios[b.name][f"{kind}_cpu"].append(fps[1] / (0.5 * (base_before[1] + base_after[1])))
                base_before = base_after
        log(f"repeat {r + 1}/{repeats} done")

    rows = [{
        "model": baseline.name,
        "xla": baseline.jit,
        "train_fps": statistics.median(baseline.train_fps),
        "infer_fps": statistics.median(baseline.infer_fps),
        "train_ratio": 1.0,
        "infer_ratio": 1.0,
        "train_cpu_fps": statistics.median(baseline.train_cpu_fps),
        "infer_cpu_fps": statistics.median(baseline.infer_cpu_fps),
        "train_cpu_ratio": 1.0,
        "infer_cpu_ratio": 1.0,
        "train_cores": baseline.train_cores(),
    }]
    for b in benches:
        rows.append({
            "model": b.name,
            "xla": b.jit,
            "train_fps": statistics.median(b.train_fps),
            "infer_fps": statistics.median(b.infer_fps),
            "train_ratio": statistics.median(ratios[b.name]["train"]),
            "infer_ratio": statistics.median(ratios[b.name]["infer"]),
            "train_cpu_fps": statistics.median(b.train_cpu_fps),
            "infer_cpu_fps": statistics.median(b.infer_cpu_fps),
            "train_cpu_ratio": statistics.median(ratios[b.name]["train_cpu"]),
            "infer_cpu_ratio": statistics.median(ratios[b.name]["infer_cpu"]),
            "train_cores": b.train_cores(),
        })
    result = {"rows": rows}
    if torch_peer:
        # A row over the peer in one repeat: the quotient of their ratios to the
        # baseline passes around each (median over repeats), so load that drifts
        # between the two measurements cancels as it does for the baseline ratios.
        peer = ratios[benches[-1].name]
        result["vs_torch"] = [{"model": baseline.name,
                               **{f"{k}_ratio": statistics.median(1.0 / p for p in peer[k]) for k in kinds}}]
        result["vs_torch"] += [{"model": b.name, **{f"{k}_ratio": statistics.median(
            m / p for m, p in zip(ratios[b.name][k], peer[k])) for k in kinds}} for b in benches[:-1]]
    keras.backend.clear_session()
    return result


# -- memory --------------------------------------------------------------------


def _proc_status_kib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _allocator_keeps_statistics(tf):
    try:
        tf.config.experimental.get_memory_info("CPU:0")
    except ValueError:
        return False
    return True


def memory_worker(name, batch, units, length, steps, seed):
    """Peak memory (MiB) that ``steps`` training steps of one model add.

    Run in a fresh process. The model is built, compiled and trained for one
    pass first (graph tracing and XLA compilation, whose memory is not part of
    a training step); then ``steps`` more training steps run. Reported: the
    peak of memory in use during those steps above what was in use before them
    (activations saved for the backward pass, gradients, temporaries), plus
    the process's total peak RSS. Where TensorFlow's CPU allocator keeps
    statistics (its BFC allocator does; so does oneDNN's pooling allocator,
    which oneDNN builds use for the ``malloc`` request on some CPUs) the peak
    is the allocator's own count of bytes in use (``tf.config.experimental.
    get_memory_info``, reset before the steps), which sees every tensor and
    XLA buffer on the CPU device but counts whole chunks: the allocator serves
    a request from a free chunk of up to twice its size without splitting it,
    so this is an upper bound (a 40 MiB buffer can count as 64 MiB). Where it
    keeps none (plain ``malloc``) it is the growth of the kernel's peak-RSS
    counter (``VmHWM``, reset via ``/proc/self/clear_refs``): pages actually
    touched, but memory malloc cached during the warm-up is not counted again,
    so this is a lower bound; where the counter cannot be reset, the growth of
    ``ru_maxrss``.
    """
    import resource

    import keras
    import tensorflow as tf

    train_ds, _ = make_datasets(batch, length, steps, seed)
    keras.utils.set_random_seed(seed)
    model = compile_for_benchmark(build(name, units, seed))
    model.fit(train_ds, epochs=1, verbose=0, shuffle=False)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across
    # fork and exec, so a worker would report the benchmark process's peak.
    warm_peak_kib = _proc_status_kib("VmHWM")
    if _allocator_keeps_statistics(tf):
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        model.fit(train_ds, epochs=1, verbose=0, shuffle=False)
        growth = tf.config.experimental.get_memory_info("CPU:0")["peak"] - before
        method = "allocator peak"
    else:
        resettable = _reset_peak_rss()
        before = _proc_status_kib("VmRSS") if resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        model.fit(train_ds, epochs=1, verbose=0, shuffle=False)
        peak = _proc_status_kib("VmHWM") if resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        growth = 1024 * (peak - before)
        method = "VmHWM reset" if resettable else "ru_maxrss growth"
    end_peak_kib = _proc_status_kib("VmHWM")
    if warm_peak_kib is None or end_peak_kib is None:
        total_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    else:
        total_kib = max(warm_peak_kib, end_peak_kib)
    return {
        "model": name,
        "step_peak_mib": max(0, growth) / 2.0**20,
        "process_peak_mib": total_kib / 1024.0,
        "method": method,
    }


def measure_memory(names, batch=32, units=400, length=100, steps=4, seed=0, cpu_allocator="bfc", log=print):
    rows = []
    for name in [BASELINE] + list(names):
        cmd = [sys.executable, "-m", "benchmarks.throughput", "--memory-worker", name,
               f"--cpu-allocator={cpu_allocator}",
               f"--batch={batch}", f"--units={units}", f"--length={length}", f"--steps={steps}",
               f"--seed={seed}"]
        out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"memory worker for {name} failed:\n{out.stderr[-2000:]}")
        row = json.loads(lines[-1])
        log(f"memory {name}: {row['step_peak_mib']:.1f} MiB step peak, "
            f"{row['process_peak_mib']:.0f} MiB process peak")
        rows.append(row)
    return rows


# -- report --------------------------------------------------------------------


def format_table(rows):
    lines = [
        "| model | whole-model XLA | train frames/s | train ratio | inference frames/s | inference ratio "
        "| train frames/CPU-s | train CPU ratio | inference frames/CPU-s | inference CPU ratio | train cores busy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {'yes' if r['xla'] else 'no'} | {r['train_fps']:,.0f} | "
            f"{r['train_ratio']:.2f} | {r['infer_fps']:,.0f} | {r['infer_ratio']:.2f} | "
            f"{r['train_cpu_fps']:,.0f} | {r['train_cpu_ratio']:.2f} | {r['infer_cpu_fps']:,.0f} | "
            f"{r['infer_cpu_ratio']:.2f} | {r['train_cores']:.2f} |"
        )
    return "\n".join(lines)


def format_memory_table(rows):
    lines = [
        "| model | training-step peak memory (MiB) | measured by | process peak RSS (MiB) |",
        "|---|---:|---|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['step_peak_mib']:.1f} | {r['method']} | {r['process_peak_mib']:.0f} |")
    return "\n".join(lines)


def format_torch_table(rows, peer):
    lines = [
        f"| model | train ratio to {peer} | inference ratio | train CPU ratio | inference CPU ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['train_ratio']:.2f} | {r['infer_ratio']:.2f} | "
                     f"{r['train_cpu_ratio']:.2f} | {r['infer_cpu_ratio']:.2f} |")
    return "\n".join(lines)


def _accelerators():
    """The accelerators Keras's backend computes on, in words (``"none"`` on a CPU-only machine)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return f"{len(gpus)}" + (f" ({', '.join(g.name for g in gpus)})" if gpus else "")
    if keras.backend.backend() == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform != "cpu"]
        return f"{len(devices)}" + (f" ({', '.join(sorted({d.device_kind for d in devices}))})" if devices else "")
    return "unknown"


def environment(torch_peer=False):
    import importlib.metadata

    import keras

    from keras_rnnreg.app._startup import BFC_ENV_VAR, requested_cpu_allocator

    backend = keras.backend.backend()
    if backend != "tensorflow":
        allocator = f"{backend}'s own (the TensorFlow allocator setting does not apply)"
    elif requested_cpu_allocator() == "bfc":
        allocator = f"TensorFlow's BFC allocator requested (`{BFC_ENV_VAR}=true`)"
    else:
        allocator = (f"malloc requested (`{BFC_ENV_VAR}` not true; oneDNN builds may serve it from "
                     "their own pooling allocator)")

    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    env = {
        "allocator": allocator,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPU cores, "
                   f"{platform.system()} {platform.release()}), GPUs: {_accelerators()}",
        "python": platform.python_version(),
        "backend": backend,
        "tensorflow": version("tensorflow"),
        "jax": version("jax"),
        "keras": keras.__version__,
        "code": code_version(),
    }
    if torch_peer:
        import torch

        env["torch"] = (f"{torch.__version__}" + (f" on {torch.cuda.get_device_name()} (cuDNN "
                                                   f"{torch.backends.cudnn.version()})" if torch.cuda.is_available()
                                                   else f" on the CPU, {torch.get_num_threads()} threads"))
    return env


def _backend_line(env):
    if env.get("backend", "tensorflow") == "tensorflow":
        return f"TensorFlow {env['tensorflow']}"
    return f"Keras backend {env['backend']} (JAX {env['jax']}; TensorFlow {env['tensorflow']})"


def to_markdown(result, settings, env, command, wall_s, memory=None, memory_settings=None):
    cell = settings.get("cell", "simple")
    layer = KERAS_LAYERS[cell]
    base = baseline_name(cell)
    optimizer = ("SGD, Nesterov momentum" if settings.get("optimizer", "sgd") == "sgd"
                 else "Adam")
    parts = [
        f"# Throughput: zoo models vs. keras.layers.{layer}",
        "",
        f"Command: `{command}`",
        "",
        f"- date: {env['date']}",
        f"- machine: {env['machine']}",
        f"- Python {env['python']}, {_backend_line(env)}, Keras {env['keras']}"
        + (f", PyTorch {env['torch']}" if "torch" in env else ""),
        f"- code: {env['code']}",
        f"- CPU allocator: {env['allocator']}",
        f"- batch {settings['batch']}, hidden units {settings['units']}, sequence length "
        f"{settings['length']}, {settings['steps']} batches per training pass (inference: the same batches "
        f"{settings['infer_rounds']} times), {settings['repeats']} repeats "
        f"(median reported, after one warm-up pass), seed {settings['seed']}, "
        f"jit_compile={settings['jit_compile']!r} for the zoo models (baseline: Keras's 'auto')"
        + (f", the zoo models' cell: {cell} (baseline `keras.layers.{layer}`)" if cell != "simple" else ""),
        f"- wall time: {wall_s:.0f} s",
        "",
        "Frames/s: frames (sequence steps) per second; training = `model.fit` "
        f"({optimizer}, NLL loss, frame-weighted NLL metric), inference = `model.predict`. Ratio: "
        f"the model's throughput over the {layer} baseline's, measured alternately "
        "(baseline before and after each model, per repeat), median over repeats. "
        "Inputs: synthetic binary piano rolls, ~4% density. Whole-model XLA: the model's "
        "`jit_compile`. With `'auto'` the zoo models get keras_rnnreg's default "
        "(`keras_rnnreg.optim.prefers_whole_model_xla`: XLA except for the simple fast dropout) "
        "and the baseline Keras's (no XLA on a CPU-only machine); "
        f"`{base}_xla` is the baseline forced to XLA, for reference. The recurrence loops "
        "of the keras_rnnreg layers are XLA-compiled in either case "
        "(`keras_rnnreg.rnn.recurrence.XLA_LOOPS`). CPU columns: frames per CPU second of the "
        "whole process (all threads, `time.process_time`), i.e. the compute each model "
        "costs. On this virtual machine wall-clock passes are often stretched to one fixed "
        "duration (~1.27 s for a 96,000-frame training pass) whatever the model, while the "
        "CPU time is not: single wall-clock ratios then swing by tens of percent (even "
        "between `rnn` and `rnn_nbr`, which do the same work), so read the CPU ratios too. "
        "Train cores busy: CPU seconds per wall-clock second of a training pass (median over "
        "repeats); where a model keeps fewer of the cores busy than the baseline, its "
        "wall-clock ratio is lower than its CPU ratio by that factor.",
        "",
        format_table(result["rows"]),
        "",
    ]
    if "vs_torch" in result:
        peer = torch_name(cell)
        parts += [
            f"## Against PyTorch's {peer}",
            "",
            f"`{peer}` ({'tanh, ' if cell == 'simple' else ''}{settings['units']} units) and "
            f"`torch.nn.Linear(88)` with the frame NLL (`binary_cross_entropy_with_logits` summed over "
            f"the notes, frame-weighted), {optimizer}, learning rate {LEARNING_RATE}, eager PyTorch "
            "(cuDNN on a CUDA device), the same batches, timed in the same process in the same "
            "alternation (its row above). Each row's ratio to it: the quotient of their ratios to "
            f"the {layer} passes around each, median over repeats.",
            "",
            format_torch_table(result["vs_torch"], peer),
            "",
        ]
    if "matmul" in result:
        parts += [
            f"Matmul yardstick (XLA, GFLOP per CPU second, `matmul_rates`): the recurrent "
            f"`({settings['batch']} x {settings['units']}) @ ({settings['units']} x {settings['units']})` "
            f"matmul in a 1000-step loop {result['matmul']['loop']:.0f}, one 2048^3 matmul "
            f"{result['matmul']['large']:.0f}.",
            "",
        ]
    if memory:
        parts += [
            "## Memory of a training step",
            "",
            f"batch {memory_settings['batch']}, hidden units {memory_settings['units']}, sequence "
            f"length {memory_settings['length']}; one fresh process per model. Measured: after one "
            f"warm-up pass (tracing, XLA compilation), {memory_settings['steps']} training steps run; "
            "reported is the peak of memory in use during them above the memory in use before them "
            "(activations kept for the backward pass, gradients and temporaries), and the whole "
            "process's peak RSS (includes TF/XLA runtime and compilation). \"allocator peak\": "
            "bytes in the chunks TensorFlow's CPU allocator (BFC) had handed out at the peak, every tensor "
            "and XLA buffer included; an upper bound, since a request can get a free chunk of up to "
            "twice its size unsplit (values of exactly 64.0 MiB are such chunks). \"VmHWM reset\" "
            "(an allocator without statistics, e.g. plain malloc): growth of the Linux peak-RSS counter, reset via "
            "/proc/self/clear_refs before the steps; a lower bound, since memory malloc cached "
            "during the warm-up is reused without growing it.",
            "",
            format_memory_table(memory),
            "",
        ]
    return "\n".join(parts)


# -- command line ---------------------------------------------------------------


PROG = "python -m benchmarks.throughput"


def define_flags(fv):
    """The script's flags, on ``fv`` (dashed names, as the recorded commands spell them)."""
    from keras_rnnreg import models

    flags.DEFINE_integer("batch", 32, "Sequences per batch.", flag_values=fv)
    flags.DEFINE_integer("units", 200, "Hidden units.", flag_values=fv)
    flags.DEFINE_integer("length", 100, "Sequence length (time steps).", flag_values=fv)
    flags.DEFINE_integer("steps", 40, "Batches per timed pass.", flag_values=fv)
    flags.DEFINE_integer("infer-rounds", 4, "Times an inference pass goes over the batches (inference batches "
                         "are ~3x cheaper than training ones; longer passes steady the timing).", flag_values=fv)
    flags.DEFINE_integer("repeats", 5, "Timed repeats (the median is reported).", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed of the data and the models.", flag_values=fv)
    flags.DEFINE_string("models", ",".join(models.names()), "Comma-separated zoo model names (default: all ten).",
                        flag_values=fv)
    flags.DEFINE_enum("jit-compile", "auto", ["auto", "true", "false"], "jit_compile of the zoo models (the "
                      "baseline always uses Keras's default 'auto').", flag_values=fv)
    # --no-xla-reference (as results/throughput_long_passes.md records it) works as well as absl's
    # --noxla-reference.
    flags.DEFINE_boolean("xla-reference", True, f"Also measure {XLA_REFERENCE} (lstm_xla, gru_xla with --cell): "
                         "the baseline compiled with jit_compile=True (--no-xla-reference: not).", flag_values=fv)
    flags.DEFINE_enum("cell", "simple", list(KERAS_LAYERS), "The zoo models' recurrent cell (models.get(name, "
                      "cell=...)) and with it the baseline: keras.layers.SimpleRNN, LSTM or GRU with the same "
                      "Dense(88).", flag_values=fv)
    flags.DEFINE_enum("optimizer", "sgd", list(OPTIMIZERS), "Optimizer of every row, learning rate 1e-3: SGD with "
                      "Nesterov momentum 0.9, or Adam.", flag_values=fv)
    flags.DEFINE_boolean("torch", False, "Also measure PyTorch's layer of the cell (torch.nn.RNN tanh, LSTM, GRU) "
                         "with Linear(88), the same loss, optimizer and batches, in the same alternation, and "
                         "report each row's ratios to it; skipped with a message where torch cannot be imported.",
                         flag_values=fv)
    flags.DEFINE_boolean("plain-compile", False, "Also measure each zoo model compiled with a bare "
                         f"model.compile(optimizer, loss) (rows named <model>{PLAIN_SUFFIX}; binary cross-entropy, "
                         "no metric, Keras's default jit_compile, which keras_rnnreg.models.ZooModel resolves like "
                         "compile_model).", flag_values=fv)
    flags.DEFINE_boolean("memory", False, "Also measure training-step peak memory (fresh subprocess per model).",
                         flag_values=fv)
    flags.DEFINE_integer("memory-units", 400, "Hidden units of the memory measurement.", flag_values=fv)
    flags.DEFINE_integer("memory-batch", 32, "Batch of the memory measurement.", flag_values=fv)
    flags.DEFINE_integer("memory-steps", 4, "Training steps of the memory measurement.", flag_values=fv)
    flags.DEFINE_enum("cpu-allocator", "bfc", ["bfc", "malloc"], "TensorFlow's CPU allocator for this process "
                      "and the memory workers (sets TF_CPU_ALLOCATOR_USE_BFC; takes effect only before "
                      "TensorFlow's first op).", flag_values=fv)
    flags.DEFINE_string("output", str(DEFAULT_OUTPUT), "Markdown report ('' for none).", flag_values=fv)
    flags.DEFINE_string("memory-worker", None, "Internal: the subprocess of --memory measuring this one model "
                        "(prints one JSON row).", flag_values=fv)


def parse_args(argv=None):
    """The settings of ``argv`` (default ``sys.argv[1:]``); ``SystemExit`` on ``--help`` or a bad value.

    ``models`` becomes a list, ``jit_compile`` ``"auto"``/``True``/``False``, and ``timed`` lists the
    rows to measure besides the baseline.
    """
    from keras_rnnreg import models

    argv = sys.argv[1:] if argv is None else argv
    args = _flags.parse(PROG, __doc__.split("\n")[0], define_flags, argv)
    if args.infer_rounds < 1:
        _flags.fail(PROG, f"--infer-rounds must be >= 1, got {args.infer_rounds}")
    args.models = [m for m in args.models.split(",") if m]
    for m in args.models:
        try:
            models.spec(m)
        except ValueError as e:  # it names the valid models
            _flags.fail(PROG, e)
    args.timed = (args.models + ([m + PLAIN_SUFFIX for m in args.models] if args.plain_compile else [])
                  + ([xla_reference_name(args.cell)] if args.xla_reference else []))
    if (args.memory or args.memory_worker) and keras_backend() != "tensorflow":
        _flags.fail(PROG, f"--memory measures TensorFlow's allocator; the Keras backend is {keras_backend()}")
    args.jit_compile = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    return args


def keras_backend():
    import keras

    return keras.backend.backend()


def _on_accelerator():
    """Whether JAX computes on an accelerator (the matmul yardstick counts CPU seconds: not there)."""
    if keras_backend() != "jax":
        return False
    import jax

    return jax.default_backend() != "cpu"


def main(argv=None):
    from keras_rnnreg.app._startup import BFC_ENV_VAR

    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    # Importing TensorFlow (parse_args does) is early enough: the allocator is
    # chosen at its first op. The memory workers inherit the variable.
    os.environ[BFC_ENV_VAR] = "true" if args.cpu_allocator == "bfc" else "false"
    if args.memory_worker:
        row = memory_worker(args.memory_worker, args.batch, args.units, args.length, args.steps, args.seed)
        print(json.dumps(row))
        return row
    command = "python -m benchmarks.throughput " + " ".join(argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    torch_peer = args.torch
    if torch_peer and (reason := torch_missing()):
        log(f"--torch: PyTorch cannot be imported ({reason}); the {torch_name(args.cell)} row is skipped")
        torch_peer = False
    start = time.perf_counter()
    settings = {k: getattr(args, k) for k in ("batch", "units", "length", "steps", "infer_rounds", "repeats", "seed",
                                              "jit_compile", "cell", "optimizer")}
    result = measure(args.timed, args.batch, args.units, args.length, args.steps, args.repeats, args.seed,
                     args.jit_compile, log=log, infer_rounds=args.infer_rounds, cell=args.cell,
                     optimizer=args.optimizer, torch_peer=torch_peer)
    if not _on_accelerator():
        result["matmul"] = matmul_rates(args.batch, args.units)
    memory = memory_settings = None
    if args.memory:
        memory_settings = {"batch": args.memory_batch, "units": args.memory_units, "length": args.length,
                           "steps": args.memory_steps}
        memory = measure_memory(args.models, args.memory_batch, args.memory_units, args.length,
                                args.memory_steps, args.seed, args.cpu_allocator,
                                log=lambda s: print(s, file=sys.stderr, flush=True))
    wall = time.perf_counter() - start
    print(format_table(result["rows"]))
    if "vs_torch" in result:
        print()
        print(format_torch_table(result["vs_torch"], torch_name(args.cell)))
    if memory:
        print()
        print(format_memory_table(memory))
    markdown = to_markdown(result, settings, environment(torch_peer), command.strip(), wall, memory,
                           memory_settings)
    if args.output:
        from keras_rnnreg.app import rundir

        rundir.atomic_write_text(args.output, markdown)
    return {"result": result, "memory": memory, "markdown": markdown}


if __name__ == "__main__":
    main()
