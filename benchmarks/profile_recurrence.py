"""CPU and wall time of the fused recurrences alone: one forward and backward pass each.

The layers spend most of a training step in the sequential loops of
:mod:`keras_rnnreg.rnn.recurrence`; this times each of them in isolation
(``(length, batch, units)`` pre-activations, a sum of the outputs as the loss,
the gradients of the pre-activations and the kernel), compiled as the layers run
them: on TensorFlow inside ``tf.function`` (the loops are XLA islands, see
:data:`keras_rnnreg.rnn.recurrence.XLA_LOOPS`), on JAX under ``jax.jit``. The
noise draws are made once, before timing: only the loops are measured.

Usage (backend from ``KERAS_BACKEND``)::

    python -m benchmarks.profile_recurrence
    python -m benchmarks.profile_recurrence --intra_op_threads 1

``--intra_op_threads 1`` (TensorFlow only) runs the process on one intra-op
thread: where a recurrence then costs less CPU time than with the default
pool, XLA split some of its per-step work across threads for no gain in wall
time. "cores busy" is CPU seconds per wall second.
"""

import statistics
import sys
import time

from absl import flags

from benchmarks import _flags

RECURRENCES = ("plain", "additive", "multiplicative", "dropconnect", "fast_dropout")
PROG = "python -m benchmarks.profile_recurrence"


def define_flags(fv):
    """The script's flags, on ``fv``."""
    flags.DEFINE_string("recurrences", ",".join(RECURRENCES), f"Comma-separated: {', '.join(RECURRENCES)}.",
                        flag_values=fv)
    flags.DEFINE_integer("batch", 32, "Sequences per batch.", flag_values=fv)
    flags.DEFINE_integer("length", 100, "Sequence length (time steps).", flag_values=fv)
    flags.DEFINE_integer("units", 200, "Hidden units.", flag_values=fv)
    flags.DEFINE_integer("passes", 20, "Forward and backward passes per timing.", flag_values=fv)
    flags.DEFINE_integer("repeats", 3, "Timings per recurrence (the median is reported).", flag_values=fv)
    flags.DEFINE_integer("intra_op_threads", 0, "TensorFlow's intra-op threads (0: its default).", flag_values=fv)


def parse_args(argv=None):
    """The settings of ``argv`` (default ``sys.argv[1:]``); ``SystemExit`` on ``--help`` or a bad value."""
    argv = sys.argv[1:] if argv is None else argv
    args = _flags.parse(PROG, __doc__.split("\n")[0], define_flags, argv)
    args.recurrences = [r for r in args.recurrences.split(",") if r]
    for r in args.recurrences:
        if r not in RECURRENCES:
            _flags.fail(PROG, f"--recurrences: unknown {r!r}; valid: {', '.join(RECURRENCES)}")
    for name in ("batch", "length", "units", "passes", "repeats"):
        if getattr(args, name) < 1:
            _flags.fail(PROG, f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.intra_op_threads < 0:
        _flags.fail(PROG, f"--intra_op_threads must be >= 0, got {args.intra_op_threads}")
    return args


def inputs(length, batch, units, seed=0):
    """Pre-activations, a variance, a kernel, the noise draws and a DropConnect mask, as numpy arrays."""
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (length, batch, units)
    return {
        "pre": (0.5 * rng.standard_normal(shape)).astype("float32"),
        "var": (0.1 * rng.random(shape)).astype("float32"),
        "kernel": (rng.standard_normal((units, units)) / np.sqrt(units)).astype("float32"),
        "h0": np.zeros((batch, units), "float32"),
        "eps": rng.standard_normal(shape).astype("float32"),
        "keep": rng.random((length, units, units)) >= 0.3,
    }


def loss_fn(name, data):
    """``loss(pre, kernel)`` of the recurrence ``name`` (the other inputs fixed)."""
    from keras import ops

    from keras_rnnreg.rnn import recurrence

    h0, eps, keep, var = data["h0"], data["eps"], data["keep"], data["var"]
    calls = {
        "plain": lambda pre, k: recurrence.simple_recurrence(pre, k, h0),
        "additive": lambda pre, k: recurrence.noisy_recurrence(pre, k, h0, eps, 0.01, "additive"),
        "multiplicative": lambda pre, k: recurrence.noisy_recurrence(pre, k, h0, eps, 0.01, "multiplicative"),
        "dropconnect": lambda pre, k: recurrence.dropconnect_recurrence(pre, k, h0, keep, 0.3),
        "fast_dropout": lambda pre, k: recurrence.fast_dropout_recurrence(pre, var, k, h0, h0, 0.7),
    }
    call = calls[name]

    def loss(pre, kernel):
        out = call(pre, kernel)
        return sum(ops.sum(o) for o in (out if isinstance(out, (tuple, list)) else [out]))

    return loss


def gradient_step(name, data):
    """A compiled ``() -> gradients`` of one forward and backward pass."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        step = jax.jit(jax.grad(loss_fn(name, data), argnums=(0, 1)))
        pre, kernel = jax.numpy.asarray(data["pre"]), jax.numpy.asarray(data["kernel"])
        return lambda: jax.block_until_ready(step(pre, kernel))
    import tensorflow as tf

    data_tf = {k: tf.constant(v) for k, v in data.items()}
    loss = loss_fn(name, data_tf)
    pre, kernel = data_tf["pre"], tf.Variable(data["kernel"])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(pre)
            value = loss(pre, kernel)
        return tape.gradient(value, [pre, kernel])

    return lambda: [g.numpy() for g in step()]


def time_passes(step, passes):
    """CPU and wall milliseconds per pass."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(passes):
        step()
    return 1000 * (time.process_time() - cpu) / passes, 1000 * (time.perf_counter() - wall) / passes


def main(argv=None):
    args = parse_args(argv)
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # its retracing notes: each recurrence is a new function, traced once
    if args.intra_op_threads:
        if keras.backend.backend() != "tensorflow":
            _flags.fail(PROG, "--intra_op_threads applies to the TensorFlow backend only")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    data = inputs(args.length, args.batch, args.units)
    threads = args.intra_op_threads or "default"
    print(f"backend {keras.backend.backend()}, length {args.length}, batch {args.batch}, units {args.units}, "
          f"intra-op threads {threads}, {args.passes} passes x {args.repeats} repeats (median)")
    print(f"{'recurrence':<15} {'CPU ms':>8} {'wall ms':>8} {'cores busy':>10}")
    for name in args.recurrences:
        step = gradient_step(name, data)
        step()  # trace and compile
        timings = [time_passes(step, args.passes) for _ in range(args.repeats)]
        cpu = statistics.median(t[0] for t in timings)
        wall = statistics.median(t[1] for t in timings)
        print(f"{name:<15} {cpu:8.1f} {wall:8.1f} {cpu / wall:10.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
