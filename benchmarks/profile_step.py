"""Training-step cost of zoo models against ``keras.layers.SimpleRNN``, in one process.

A quick check for work on the layers' speed (results/throughput.md has the full
benchmark, :mod:`benchmarks.throughput`). Each model and the SimpleRNN baseline
are built and compiled as the benchmark does (``compile_model``,
``jit_compile="auto"``); then passes of ``model.fit`` over the same cached
batches alternate between baseline and model, and the ratio of frames per CPU
second (``time.process_time``, all threads) and per wall second, model over
baseline, is reported (median over repeats). CPU time is the steadier measure
on shared cores.

Usage (backend from ``KERAS_BACKEND``)::

    python -m benchmarks.profile_step --models rnn,rnn_n,rnn_mn,rnn_do,rnn_ff,rnn_fd --steps 20 --repeats 3
    KERAS_BACKEND=jax python -m benchmarks.profile_step --models rnn_do,rnn_fd

``--trace DIR`` also writes a profiler trace of one training pass per model
(TensorBoard's profile plugin for TensorFlow, ``jax.profiler`` / Perfetto for JAX).
"""

import statistics
import sys
import time

from absl import flags

from benchmarks import _flags
from benchmarks.throughput import BASELINE, build, compile_for_benchmark, make_batches


def make_dataset(batch, length, steps, seed):
    """The benchmark's batches as a cached ``tf.data`` dataset (on every backend, as Keras accepts it)."""
    import tensorflow as tf

    x, y, w = make_batches(batch, length, steps, seed)
    dataset = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(batch, drop_remainder=True).cache()
    for _ in dataset:  # fill the cache before timing
        pass
    return dataset


def fit_pass(model, dataset):
    """CPU and wall seconds of one training pass."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    return time.process_time() - cpu, time.perf_counter() - wall


def make(name, units, seed, jit_compile):
    import keras

    keras.utils.set_random_seed(seed)
    return compile_for_benchmark(build(name, units, seed), jit_compile)


def trace(model, dataset, directory, name):
    import keras

    path = f"{directory}/{name}"
    if keras.backend.backend() == "jax":
        import jax

        with jax.profiler.trace(path):
            model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    else:
        import tensorflow as tf

        tf.profiler.experimental.start(path)
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)
        tf.profiler.experimental.stop()


PROG = "python -m benchmarks.profile_step"


def define_flags(fv):
    """The script's flags, on ``fv``."""
    flags.DEFINE_string("models", "rnn", "Comma-separated zoo model names.", flag_values=fv)
    flags.DEFINE_integer("steps", 20, "Batches per training pass.", flag_values=fv)
    flags.DEFINE_integer("repeats", 3, "Timed repeats (the median is reported).", flag_values=fv)
    flags.DEFINE_integer("batch", 32, "Sequences per batch.", flag_values=fv)
    flags.DEFINE_integer("length", 100, "Sequence length (time steps).", flag_values=fv)
    flags.DEFINE_integer("units", 200, "Hidden units.", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed of the data and the models.", flag_values=fv)
    flags.DEFINE_enum("jit-compile", "auto", ["auto", "true", "false"], "jit_compile of the zoo models.",
                      flag_values=fv)
    flags.DEFINE_string("trace", None, "Write a profiler trace of one pass per model here.", flag_values=fv)


def parse_args(argv=None):
    """The settings of ``argv`` (default ``sys.argv[1:]``); ``SystemExit`` on ``--help`` or a bad value."""
    from keras_rnnreg import models

    argv = sys.argv[1:] if argv is None else argv
    args = _flags.parse(PROG, __doc__.split("\n")[0], define_flags, argv)
    args.models = [m for m in args.models.split(",") if m]
    for m in args.models:
        try:
            models.spec(m)
        except ValueError as e:  # it names the valid models
            _flags.fail(PROG, e)
    args.jit_compile = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    return args


def main(argv=None):
    args = parse_args(argv)
    jit = args.jit_compile

    import keras

    train = make_dataset(args.batch, args.length, args.steps, args.seed)
    baseline = make(BASELINE, args.units, args.seed, "auto")
    fit_pass(baseline, train)
    print(f"backend {keras.backend.backend()}, batch {args.batch}, length {args.length}, "
          f"units {args.units}, {args.steps} batches a pass, {args.repeats} repeats")
    print(f"{'model':12s} {'XLA':>5s} {'CPU ratio':>9s} {'wall ratio':>10s} {'model CPU s':>11s} {'base CPU s':>10s}")
    for name in args.models:
        model = make(name, args.units, args.seed, jit)
        fit_pass(model, train)  # compile / trace
        cpu_ratios, wall_ratios, cpus, base_cpus = [], [], [], []
        for _ in range(args.repeats):
            b_cpu, b_wall = fit_pass(baseline, train)
            m_cpu, m_wall = fit_pass(model, train)
            b2_cpu, b2_wall = fit_pass(baseline, train)
            base_cpu, base_wall = (b_cpu + b2_cpu) / 2, (b_wall + b2_wall) / 2
            cpu_ratios.append(base_cpu / m_cpu)
            wall_ratios.append(base_wall / m_wall)
            cpus.append(m_cpu)
            base_cpus.append(base_cpu)
        print(f"{name:12s} {str(bool(model.jit_compile)):>5s} {statistics.median(cpu_ratios):9.2f} "
              f"{statistics.median(wall_ratios):10.2f} {statistics.median(cpus):11.2f} "
              f"{statistics.median(base_cpus):10.2f}", flush=True)
        if args.trace:
            trace(model, train, args.trace, name)


if __name__ == "__main__":
    main()
