"""Where NoisyLSTM / NoisyGRU stand against ``keras.layers.LSTM`` / ``GRU``: CPU-time and wall ratios.

Run ``python -m benchmarks.profile_gated`` (``KERAS_BACKEND=jax`` for JAX).
For each configuration it builds ``[NoisyLSTM(200) | keras.layers.LSTM(200,
return_sequences=True)] -> Dense(88, sigmoid)`` (or the GRUs), compiles ours
the way :func:`keras_rnnreg.optim.compile_model` does (``jit_compile="auto"``)
and the baseline with Keras's own default (the same call: ``"auto"`` leaves
Keras's layers to Keras), fits ``--steps`` cached ``(batch, length, 88)``
batches and predicts them, model and baseline alternately (``B m B m ... B``),
and prints the ratios of frames per CPU second (``time.process_time``) and
per wall second, each model run against the mean of the two baseline runs
around it; the median over ``--repeats`` is reported. Ratios above 1 mean
ours is faster. On a shared machine the wall ratio is noisier than the CPU one.

Configurations: ``plain`` (no noise), ``seq_dc`` (per-sequence DropConnect on
``W_hh``, p = 0.2), ``step_dc`` (per-step DropConnect), ``step_add`` (per-step
additive noise, local reparameterization, sigma = 0.01).
"""

import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from benchmarks import _flags  # noqa: E402

CONFIGS = {
    "plain": {},
    "seq_dc": dict(recurrent_noise="dropconnect", recurrent_noise_scope="sequence", dropconnect_p=0.2),
    "step_dc": dict(recurrent_noise="dropconnect", recurrent_noise_scope="step", dropconnect_p=0.2),
    "step_add": dict(recurrent_noise="additive", noise_implementation="local_reparameterization", sigma=0.01),
}


def build(kind, config, units, seed):
    import keras

    import keras_rnnreg

    keras.utils.set_random_seed(seed)
    if config is None:
        rnn = (keras.layers.LSTM if kind == "lstm" else keras.layers.GRU)(units, return_sequences=True)
    else:
        rnn = (keras_rnnreg.NoisyLSTM if kind == "lstm" else keras_rnnreg.NoisyGRU)(units, seed=seed, **config)
    return keras.Sequential([keras.Input((None, 88)), rnn, keras.layers.Dense(88, activation="sigmoid")])


class Runner:
    def __init__(self, model, x, y, batch, jit_compile):
        from keras_rnnreg.optim import compile_model

        self.model = compile_model(model, jit_compile=jit_compile)
        self.x, self.y, self.batch = x, y, batch
        self.fit()
        self.predict()

    def fit(self):
        self.model.fit(self.x, self.y, batch_size=self.batch, epochs=1, shuffle=False, verbose=0)

    def predict(self):
        self.model.predict(self.x, batch_size=self.batch, verbose=0)

    def timed(self, what):
        cpu, wall = time.process_time(), time.perf_counter()
        getattr(self, what)()
        return time.process_time() - cpu, time.perf_counter() - wall


def ratios(base, model, what, repeats):
    """Median (cpu ratio, wall ratio) of ``model`` vs ``base``: baseline time / model time."""
    cpu, wall = [], []
    before = base.timed(what)
    for _ in range(repeats):
        m = model.timed(what)
        after = base.timed(what)
        cpu.append((before[0] + after[0]) / 2 / m[0])
        wall.append((before[1] + after[1]) / 2 / m[1])
        before = after
    return statistics.median(cpu), statistics.median(wall)


PROG = "python -m benchmarks.profile_gated"


def define_flags(fv):
    """The script's flags, on ``fv``."""
    flags.DEFINE_string("kinds", "lstm,gru", "Comma-separated cells: lstm, gru.", flag_values=fv)
    flags.DEFINE_string("configs", ",".join(CONFIGS), f"Comma-separated configurations ({', '.join(CONFIGS)}).",
                        flag_values=fv)
    flags.DEFINE_integer("units", 200, "Hidden units.", flag_values=fv)
    flags.DEFINE_integer("batch", 32, "Sequences per batch.", flag_values=fv)
    flags.DEFINE_integer("length", 100, "Sequence length (time steps).", flag_values=fv)
    flags.DEFINE_integer("steps", 20, "Batches per pass.", flag_values=fv)
    flags.DEFINE_integer("repeats", 3, "Timed repeats (the median is reported).", flag_values=fv)
    flags.DEFINE_enum("jit-compile", "auto", ["auto", "true", "false"], "jit_compile of our models.",
                      flag_values=fv)


def parse_args(argv=None):
    """The settings of ``argv`` (default ``sys.argv[1:]``); ``SystemExit`` on ``--help`` or a bad value."""
    argv = sys.argv[1:] if argv is None else argv
    args = _flags.parse(PROG, __doc__.split("\n")[0], define_flags, argv)
    args.kinds = [k for k in args.kinds.split(",") if k]
    args.configs = [c for c in args.configs.split(",") if c]
    for value, valid, flag in ((args.kinds, ("lstm", "gru"), "kinds"), (args.configs, tuple(CONFIGS), "configs")):
        for v in value:
            if v not in valid:
                _flags.fail(PROG, f"--{flag}: unknown {v!r}; valid: {', '.join(valid)}")
    args.jit_compile = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    return args


def main(argv=None):
    args = parse_args(argv)
    import keras

    jit = args.jit_compile
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    x = (rng.random((n, args.length, 88)) < 0.04).astype("float32")
    y = np.roll(x, -1, axis=1)
    print(f"backend {keras.backend.backend()}, units {args.units}, batches {args.steps} x "
          f"({args.batch}, {args.length}, 88), jit_compile {args.jit_compile}; ratio = ours / Keras's frames per second")
    print(f"{'model':<16} {'train cpu':>9} {'train wall':>10} {'infer cpu':>9} {'infer wall':>10}")
    for kind in args.kinds:
        base = Runner(build(kind, None, args.units, 0), x, y, args.batch, "auto")
        for name in args.configs:
            model = Runner(build(kind, CONFIGS[name], args.units, 0), x, y, args.batch, jit)
            train = ratios(base, model, "fit", args.repeats)
            infer = ratios(base, model, "predict", args.repeats)
            print(f"{kind + '/' + name:<16} {train[0]:9.2f} {train[1]:10.2f} {infer[0]:9.2f} {infer[1]:10.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
