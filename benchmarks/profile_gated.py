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

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import numpy as np  # noqa: E402

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="lstm,gru")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jit", default="auto", help="jit_compile for our models: auto, true or false")
    args = parser.parse_args(argv)
    import keras

    jit = {"auto": "auto", "true": True, "false": False}[args.jit]
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    x = (rng.random((n, args.length, 88)) < 0.04).astype("float32")
    y = np.roll(x, -1, axis=1)
    print(f"backend {keras.backend.backend()}, units {args.units}, batches {args.steps} x "
          f"({args.batch}, {args.length}, 88), jit_compile {args.jit}; ratio = ours / Keras's frames per second")
    print(f"{'model':<16} {'train cpu':>9} {'train wall':>10} {'infer cpu':>9} {'infer wall':>10}")
    for kind in args.kinds.split(","):
        base = Runner(build(kind, None, args.units, 0), x, y, args.batch, "auto")
        for name in args.configs.split(","):
            model = Runner(build(kind, CONFIGS[name], args.units, 0), x, y, args.batch, jit)
            train = ratios(base, model, "fit", args.repeats)
            infer = ratios(base, model, "predict", args.repeats)
            print(f"{kind + '/' + name:<16} {train[0]:9.2f} {train[1]:10.2f} {infer[0]:9.2f} {infer[1]:10.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
