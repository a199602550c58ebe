"""NoisySimpleRNN / NoisySimpleRNNCell as drop-ins for keras.layers.SimpleRNN / SimpleRNNCell.

Issue 33: ``activation``, ``dropout`` and ``recurrent_dropout`` as Keras has
them (same outputs, same masks for the same seed, the right drop rates by
Monte Carlo, kept by ``.keras`` files); ``unroll=True``; and per-step weight
noise drawn by the cell inside Keras's own ``keras.layers.RNN`` loop, which
must give fresh noise at every step on every backend (JAX's ``lax.scan``
included, jitted training too). CI runs this file under TensorFlow and JAX.
"""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from keras_rnnreg import FastDropoutSimpleRNN, NoisySimpleRNN, NoisySimpleRNNCell

D, H = 5, 6
BACKEND = keras.backend.backend()


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _x(batch=4, steps=7, features=D, seed=0, scale=0.7):
    return np.random.RandomState(seed).normal(scale=scale, size=(batch, steps, features)).astype("float32")


def _weights(features=D, units=H, seed=1, use_bias=True, scale=0.4):
    rng = np.random.RandomState(seed)
    weights = [rng.normal(scale=scale, size=(features, units)), rng.normal(scale=scale, size=(units, units))]
    if use_bias:
        weights.append(rng.normal(scale=0.1, size=(units,)))
    return [w.astype("float32") for w in weights]


def _built(layer, weights=None, features=D):
    layer.build((None, None, features))
    layer.set_weights(weights if weights is not None else _weights(features=features))
    return layer


def _keras_rnn(cell, **kwargs):
    return keras.layers.RNN(cell, return_sequences=True, **kwargs)


# -- activation, use_bias: the same outputs as keras.layers.SimpleRNN ----------------------


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear", None])
def test_no_noise_equals_keras_simple_rnn(activation, use_bias):
    x = _x()
    weights = _weights(use_bias=use_bias)
    kwargs = {"activation": activation, "use_bias": use_bias}
    reference = _built(keras.layers.SimpleRNN(H, return_sequences=True, **kwargs), weights)
    expected = _np(reference(x))
    ours = {
        "layer": _built(NoisySimpleRNN(H, **kwargs), weights),
        "layer_cell_loop": _built(NoisySimpleRNN(H, fast_path=False, **kwargs), weights),
        "cell_in_keras_rnn": _built(_keras_rnn(NoisySimpleRNNCell(H, **kwargs)), weights),
    }
    # The fused loop computes tanh; any other activation takes the cell loop.
    assert ours["layer"].uses_fast_path() == (activation == "tanh" and BACKEND in ("tensorflow", "jax"))
    for name, layer in ours.items():
        for training in (False, True):
            np.testing.assert_allclose(_np(layer(x, training=training)), expected, atol=1e-5, err_msg=name)
    if activation not in ("linear", None):  # the activation is really applied (None is linear)
        linear = _built(keras.layers.SimpleRNN(H, return_sequences=True, activation="linear", use_bias=use_bias),
                        weights)
        assert np.abs(_np(linear(x)) - expected).max() > 0.05


def test_bad_dropout_and_activation_raise_value_error():
    for cls in (NoisySimpleRNN, NoisySimpleRNNCell):
        with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\); got 1.0"):
            cls(4, dropout=1.0)
        with pytest.raises(ValueError, match=r"recurrent_dropout must be a probability in \[0, 1\); got -0.1"):
            cls(4, recurrent_dropout=-0.1)
        with pytest.raises(ValueError, match="not_an_activation"):
            cls(4, activation="not_an_activation")


# -- dropout and recurrent_dropout ---------------------------------------------------------


@pytest.mark.parametrize("rates", [{"dropout": 0.3}, {"recurrent_dropout": 0.4},
                                   {"dropout": 0.3, "recurrent_dropout": 0.2}])
def test_dropout_draws_the_masks_of_keras_simple_rnn(rates):
    """Same seed, same weights: the same masks as keras.layers.SimpleRNN, so the same outputs
    while training; none at inference. Input dropout alone keeps the fused loop."""
    x = _x()
    weights = _weights()
    reference = _built(keras.layers.SimpleRNN(H, return_sequences=True, seed=7, **rates), weights)
    expected = _np(reference(x, training=True))
    clean = _np(reference(x, training=False))
    assert np.abs(expected - clean).max() > 0.05  # the masks do something
    layers = {
        "layer": _built(NoisySimpleRNN(H, seed=7, **rates), weights),
        "layer_cell_loop": _built(NoisySimpleRNN(H, seed=7, fast_path=False, **rates), weights),
        "cell_in_keras_rnn": _built(_keras_rnn(NoisySimpleRNNCell(H, seed=7, **rates)), weights),
    }
    assert layers["layer"].uses_fast_path() == ("recurrent_dropout" not in rates and BACKEND != "torch")
    for name, layer in layers.items():
        np.testing.assert_allclose(_np(layer(x, training=True)), expected, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(_np(layer(x, training=False)), clean, atol=1e-5, err_msg=name)


def _dropout_probe(kind, p, make, batch=64, units=48, steps=4, seed=0):
    """Hidden states of a linear RNN built so that they show the dropout masks.

    ``kind="dropout"``: ``W_ih = I``, ``W_hh = 0``, inputs 1, so ``h_t`` is the
    input mask (0 or ``1/(1-p)``) at every step. ``"recurrent_dropout"``:
    ``W_ih = 0``, ``W_hh = I``, ``b = 1``, so ``h_1 = 1`` and
    ``h_2 - 1 = r * h_1`` is the recurrent mask ``r``.
    """
    eye, zero = np.eye(units, dtype="float32"), np.zeros((units, units), "float32")
    if kind == "dropout":
        weights = [eye, zero, np.zeros(units, "float32")]
    else:
        weights = [zero, eye, np.ones(units, "float32")]
    layer = _built(make(units, activation="linear", seed=seed, **{kind: p}), weights, features=units)
    x = np.ones((batch, steps, units), "float32")
    first, second = _np(layer(x, training=True)), _np(layer(x, training=True))
    if kind == "dropout":
        return first, second
    return first[:, 1:] - 1.0, second[:, 1:] - 1.0


@pytest.mark.parametrize("kind", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("where", ["layer", "layer_cell_loop", "cell_in_keras_rnn"])
def test_dropout_rate_by_monte_carlo(kind, where):
    """Per-sequence masks at rate p = 0.3: the same mask at every step of a sequence, a new
    one for each sequence and each pass, kept units scaled by 1/(1-p), and a dropped fraction
    within 0.035 of p (64 x 48 = 3072 units per pass: standard error 0.008, so ~4 of them)."""
    p = 0.3
    make = {
        "layer": lambda units, **kw: NoisySimpleRNN(units, **kw),
        "layer_cell_loop": lambda units, **kw: NoisySimpleRNN(units, fast_path=False, **kw),
        "cell_in_keras_rnn": lambda units, **kw: _keras_rnn(NoisySimpleRNNCell(units, **kw)),
    }[where]
    first, second = _dropout_probe(kind, p, make)
    if kind == "dropout":
        masks = first  # every step shows the mask
    else:
        # h_2 - 1 = r, h_3 - 1 = r (1 + r): the same r at both steps.
        np.testing.assert_allclose(first[:, 1], first[:, 0] * (1 + first[:, 0]), atol=1e-5)
        masks = first[:, :1]
    np.testing.assert_allclose(masks, np.broadcast_to(masks[:, :1], masks.shape), atol=1e-6)
    mask = masks[:, 0]
    assert np.all(np.isclose(mask, 0.0, atol=1e-6) | np.isclose(mask, 1 / (1 - p), atol=1e-5))
    dropped = np.isclose(mask, 0.0, atol=1e-6)
    assert abs(dropped.mean() - p) < 0.035
    # A new mask per sequence (rows differ) and per pass.
    assert len({row.tobytes() for row in dropped}) > 60
    assert (dropped != np.isclose(second[:, 0], 0.0, atol=1e-6)).mean() > 0.2


def test_dropout_combines_with_weight_noise():
    """Dropout and per-step DropConnect together: the fused loop equals the cell loop (same
    masks, same draws), and both differ from dropout alone."""
    x = _x(batch=8)
    kwargs = {"dropout": 0.3, "recurrent_noise": "dropconnect", "dropconnect_p": 0.4, "seed": 3}
    fused = _built(NoisySimpleRNN(H, **kwargs))
    loop = _built(NoisySimpleRNN(H, fast_path=False, **kwargs))
    assert fused.uses_fast_path() or BACKEND == "torch"
    out = _np(fused(x, training=True))
    np.testing.assert_allclose(out, _np(loop(x, training=True)), atol=2e-5)
    dropout_only = _built(NoisySimpleRNN(H, dropout=0.3, seed=3))
    assert np.abs(out - _np(dropout_only(x, training=True))).max() > 1e-2


# -- .keras files ----------------------------------------------------------------------


def test_save_load_keeps_activation_dropout_constraints(tmp_path):
    """A model of the layer and of the cell in keras.layers.RNN, with the new arguments, saved
    and loaded with safe_mode=True in a fresh process importing only keras_rnnreg: same configs,
    same predictions."""
    layer_args = {"activation": "relu", "dropout": 0.2, "recurrent_dropout": 0.1, "seed": 4,
                  "kernel_constraint": keras.constraints.NonNeg(), "recurrent_noise": "dropconnect",
                  "dropconnect_p": 0.2}
    cell_args = {"activation": "sigmoid", "dropout": 0.25, "recurrent_dropout": 0.15, "seed": 5,
                 "recurrent_constraint": keras.constraints.MaxNorm(2.0), "recurrent_noise": "additive",
                 "sigma": 0.1}
    inputs = keras.Input((None, D))
    hidden = NoisySimpleRNN(H, name="layer", **layer_args)(inputs)
    outputs = _keras_rnn(NoisySimpleRNNCell(H, **cell_args), name="cell")(hidden)
    model = keras.Model(inputs, outputs)
    x = _x()
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    script = f"""
import json, keras, numpy as np
import keras_rnnreg
model = keras.saving.load_model({str(path)!r}, safe_mode=True)
np.save({str(tmp_path / "pred.npy")!r}, keras.ops.convert_to_numpy(model(np.load({str(tmp_path / "x.npy")!r}))))
print(json.dumps({{"layer": model.get_layer("layer").get_config(),
                   "cell": model.get_layer("cell").cell.get_config()}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    for name, args in (("layer", layer_args), ("cell", cell_args)):
        mine = model.get_layer(name)
        config = json.loads(json.dumps(mine.get_config() if name == "layer" else mine.cell.get_config()))
        assert loaded[name] == config
        for key in ("activation", "dropout", "recurrent_dropout", "seed"):
            assert loaded[name][key] == args[key], (name, key)
    assert loaded["layer"]["kernel_constraint"]["class_name"] == "NonNeg"
    assert loaded["cell"]["recurrent_constraint"]["config"]["max_value"] == 2.0
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), _np(model(x)), atol=1e-6)


def test_constraints_apply_as_in_keras():
    layer = _built(NoisySimpleRNN(H, kernel_constraint=keras.constraints.NonNeg()))
    assert layer.cell.kernel.constraint is layer.kernel_constraint
    clipped = _np(layer.cell.kernel.constraint(layer.cell.kernel))
    assert clipped.min() == 0.0 and _np(layer.cell.kernel).min() < 0


# -- unroll=True ---------------------------------------------------------------------------


UNROLL_CONFIGS = {
    "none": {},
    "dropconnect_step": {"recurrent_noise": "dropconnect", "dropconnect_p": 0.3},
    "additive_step_lrt": {"recurrent_noise": "additive", "sigma": 0.2},
    "multiplicative_step_exact": {"recurrent_noise": "multiplicative", "sigma": 0.3, "noise_implementation": "exact"},
    "input_dropconnect_step_and_recurrent_sequence": {
        "input_noise": "dropconnect", "input_dropconnect_p": 0.3,
        "recurrent_noise": "additive", "sigma": 0.2, "recurrent_noise_scope": "sequence",
    },
}


def _cell_steps(cell, x, draws, h0=None):
    """The cell run by hand over ``x`` with the given time-major draws (per-step slices)."""
    h = np.zeros((x.shape[0], cell.units), "float32") if h0 is None else h0
    outputs = []
    for t in range(x.shape[1]):
        step_noise = {}
        for key, draw in draws.items():
            noise = cell.input_weight_noise if key == "input" else cell.recurrent_weight_noise
            step_noise[key] = draw if noise.per_sequence else {k: v[t] for k, v in draw.items()}
        h, _ = cell(x[:, t], [h], training=True, step_noise=step_noise)
        outputs.append(_np(h))
    return np.stack(outputs, 1)


@pytest.mark.parametrize("config", list(UNROLL_CONFIGS))
def test_unroll_takes_the_cell_loop_with_the_same_draws(config):
    """unroll=True runs the cell loop, unrolled: with the same seed it draws what the fused
    loop draws, so it gives the fused loop's outputs and the cell's, step by step."""
    kwargs = dict(UNROLL_CONFIGS[config], seed=11)
    x = _x(steps=6)
    unrolled = _built(NoisySimpleRNN(H, unroll=True, **kwargs))
    fused = _built(NoisySimpleRNN(H, **kwargs))
    twin = _built(NoisySimpleRNN(H, **kwargs))  # its first draws are the others' first draws
    assert not unrolled.uses_fast_path()
    out = _np(unrolled(x, training=True))
    np.testing.assert_allclose(out, _np(fused(x, training=True)), atol=2e-5)
    by_hand = _cell_steps(twin.cell, x, twin.cell.draw_noise(x.shape[0], x.shape[1]))
    np.testing.assert_allclose(out, by_hand, atol=2e-5)
    np.testing.assert_allclose(_np(unrolled(x)), _np(_built(NoisySimpleRNN(H))(x)), atol=1e-5)
    if config != "none":
        assert np.abs(out - _np(unrolled(x))).max() > 1e-3


def test_unroll_with_mask_go_backwards_state_and_dropout():
    x = _x(steps=6)
    mask = np.ones((4, 6), bool)
    mask[1, 2:4] = mask[2, 0] = False  # (go_backwards: step 0 is processed last)
    h0 = np.random.RandomState(3).normal(scale=0.5, size=(4, H)).astype("float32")
    kwargs = {"recurrent_noise": "dropconnect", "dropconnect_p": 0.3, "dropout": 0.2, "seed": 2,
              "go_backwards": True, "return_state": True}
    unrolled = _built(NoisySimpleRNN(H, unroll=True, **kwargs))
    fused = _built(NoisySimpleRNN(H, **kwargs))
    for a, b in zip(unrolled(x, mask=mask, initial_state=[h0], training=True),
                    fused(x, mask=mask, initial_state=[h0], training=True)):
        np.testing.assert_allclose(_np(a), _np(b), atol=2e-5)
    # Keras's unrolled loop outputs zeros at a masked first step (its scan loop the initial
    # state): as keras.layers.SimpleRNN(unroll=True) does, with either mask.
    first_masked = mask.copy()
    first_masked[3, 3:] = False
    reference = _built(keras.layers.SimpleRNN(H, return_sequences=True, return_state=True, go_backwards=True,
                                              unroll=True))
    for m in (mask, first_masked):
        for a, b in zip(unrolled(x, mask=m, initial_state=[h0]), reference(x, mask=m, initial_state=[h0])):
            np.testing.assert_allclose(_np(a), _np(b), atol=1e-5)


def test_fast_dropout_unroll_equals_the_fused_loop():
    x = _x(steps=6)
    mask = np.ones((4, 6), bool)
    mask[0, 4:] = False
    unrolled = _built(FastDropoutSimpleRNN(H, input_rate=0.2, hidden_rate=0.3, unroll=True))
    fused = _built(FastDropoutSimpleRNN(H, input_rate=0.2, hidden_rate=0.3))
    assert not unrolled.uses_fast_path()
    for a, b in zip(unrolled(x, mask=mask), fused(x, mask=mask)):
        np.testing.assert_allclose(_np(a), _np(b), atol=1e-5)


def test_cell_in_unrolled_keras_rnn_draws_per_step_noise():
    x = _x(batch=32, steps=5, scale=0.3)
    cell = NoisySimpleRNNCell(H, recurrent_noise="dropconnect", dropconnect_p=0.3, seed=0)
    layer = _built(_keras_rnn(cell, unroll=True))
    hs = _np(layer(x, training=True)).astype("float64")
    kernel, recurrent, bias = layer.get_weights()
    w = _effective_matrices(hs[:, :-1], np.arctanh(hs[:, 1:]) - x[:, 1:] @ kernel - bias)
    assert min(np.abs(w[t + 1] - w[t]).max() for t in range(len(w) - 1)) > 0.1


# -- per-step noise drawn by the cell inside keras.layers.RNN (every backend) --------------


def _effective_matrices(inputs, targets):
    """Least-squares ``W_t`` with ``targets[:, t] = inputs[:, t] @ W_t`` for every step t."""
    return np.stack([
        np.linalg.lstsq(inputs[:, t].astype("float64"), targets[:, t].astype("float64"), rcond=None)[0]
        for t in range(inputs.shape[1])
    ])


def _per_step_dropconnect_kernels(kernel, p, units=16, batch=128, steps=6, seed=0, call=None):
    """Effective per-step W_hh (or W_ih), from two passes of the cell in keras.layers.RNN."""
    noise = ({"recurrent_noise": "dropconnect", "dropconnect_p": p} if kernel == "W_hh"
             else {"input_noise": "dropconnect", "input_dropconnect_p": p})
    layer = _built(_keras_rnn(NoisySimpleRNNCell(units, seed=seed, **noise)),
                   _weights(features=units, units=units, scale=0.3), features=units)
    w_ih, w_hh, bias = (w.astype("float64") for w in layer.get_weights())
    x = _x(batch=batch, steps=steps, features=units, seed=1, scale=0.5)
    mask = np.ones((batch, steps), bool)
    passes = []
    for _ in range(2):
        hs = _np(call(layer, x) if call else layer(x, mask=mask, training=True)).astype("float64")
        pre = np.arctanh(hs)
        if kernel == "W_hh":
            passes.append(_effective_matrices(hs[:, :-1], pre[:, 1:] - x[:, 1:] @ w_ih - bias))
        else:
            prev = np.concatenate([np.zeros_like(hs[:, :1]), hs[:, :-1]], axis=1)
            passes.append(_effective_matrices(x, pre - prev @ w_hh - bias))
    return np.stack(passes), (w_hh if kernel == "W_hh" else w_ih)


def _check_dropconnect_per_step(matrices, clean, p):
    # Every effective weight is 0 or W / (1 - p) ...
    scaled = clean / (1 - p)
    dropped = np.abs(matrices) < np.abs(matrices - scaled)
    error = np.where(dropped, np.abs(matrices), np.abs(matrices - scaled))
    assert error.max() < 2e-3, error.max()
    # ... dropped with probability p ...
    assert abs(dropped.mean() - p) < 0.05, dropped.mean()
    # ... by a fresh mask at every step (a weight's state changes with probability 2p(1-p))
    # and on every pass.
    changes = (dropped[:, 1:] != dropped[:, :-1]).mean(axis=(2, 3))
    assert abs(changes.mean() - 2 * p * (1 - p)) < 0.04, changes
    assert changes.min() > 0.25, changes  # no step reuses its predecessor's mask (that gives 0)
    assert abs((dropped[0] != dropped[1]).mean() - 2 * p * (1 - p)) < 0.05


@pytest.mark.parametrize("kernel", ["W_hh", "W_ih"])
def test_per_step_dropconnect_in_keras_rnn_by_monte_carlo(kernel):
    """The README's example (per-step DropConnect, cell in keras.layers.RNN, with a mask), on
    the backend under test (JAX's lax.scan included). The effective matrix of every step,
    recovered by least squares over 128 sequences (exact up to float32 rounding), is the clean
    one with weights dropped at rate p = 0.3 and the rest scaled by 1/(1-p). 2 passes x 5-6
    steps x 256 weights: the dropped fraction within 0.05 of p (standard error 0.009); the
    fraction of weights changing state between consecutive steps within 0.04 of 2p(1-p) = 0.42
    over all 8-10 step pairs (standard error ~0.011; 0.031 for one pair, each of which must
    exceed 0.25, where a reused mask gives 0), between passes within 0.05 (0.013)."""
    p = 0.3
    matrices, clean = _per_step_dropconnect_kernels(kernel, p)
    _check_dropconnect_per_step(matrices, clean, p)


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_per_step_gaussian_noise_in_keras_rnn_is_white(kind):
    """Per-step local-reparameterization noise drawn by the cell in keras.layers.RNN: the
    standardized pre-activation noise is N(0, 1) and uncorrelated between steps (512 sequences
    x 7 steps x 6 units = 21,504 draws; mean and variance within 0.05, lag-1 correlation
    within 0.05: standard errors ~0.007-0.01)."""
    sigma = 0.25
    layer = _built(_keras_rnn(NoisySimpleRNNCell(H, recurrent_noise=kind, sigma=sigma, seed=3)),
                   _weights(scale=0.3))
    x = _x(batch=512, steps=8, seed=1, scale=0.5)
    hs = _np(layer(x, training=True)).astype("float64")
    w_ih, w_hh, bias = (w.astype("float64") for w in layer.get_weights())
    prev = hs[:, :-1]
    noise = np.arctanh(hs[:, 1:]) - x[:, 1:] @ w_ih - bias - prev @ w_hh
    scale = sigma * (np.sqrt((prev**2).sum(-1, keepdims=True)) if kind == "additive" else np.sqrt(prev**2 @ w_hh**2))
    z = noise / scale
    assert abs(z.mean()) < 0.05 and abs(z.var() - 1.0) < 0.05
    assert abs(np.corrcoef(z[:, :-1].ravel(), z[:, 1:].ravel())[0, 1]) < 0.05


def _jitted_training_call(layer, x):
    """``layer(x, training=True)`` compiled as training steps are: jax.jit / XLA."""
    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        out, non_trainable = jax.jit(
            lambda tv, ntv, x: layer.stateless_call(tv, ntv, x, training=True)
        )(trainable, non_trainable, x)
        for variable, value in zip(layer.non_trainable_variables, non_trainable):
            variable.assign(value)  # the seed generators advance, as in fit
        return out
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: layer(x, training=True), jit_compile=True)(x)
    pytest.skip(f"no jit helper for backend {BACKEND}")


def test_per_step_dropconnect_in_jitted_keras_rnn():
    """The same statistics with the forward pass compiled as a training step (jax.jit of
    stateless_call on JAX, XLA on TensorFlow)."""
    p = 0.3
    matrices, clean = _per_step_dropconnect_kernels("W_hh", p, call=_jitted_training_call)
    _check_dropconnect_per_step(matrices, clean, p)


def test_jitted_fit_with_the_cell_in_keras_rnn():
    """model.fit (jit_compile=True) with per-step noise drawn by the cell in keras.layers.RNN:
    it trains (the loss falls, the weights move) and draws new noise on every batch."""
    cell = NoisySimpleRNNCell(H, recurrent_noise="dropconnect", dropconnect_p=0.2, input_noise="additive",
                              input_sigma=0.05, seed=0)
    inputs = keras.Input((None, D))
    rnn = _keras_rnn(cell)
    model = keras.Model(inputs, keras.layers.Dense(2)(rnn(inputs)))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse", jit_compile=True)
    x = _x(batch=16, steps=6)
    y = np.stack([x[..., 0], -x[..., 1]], -1)
    before = [_np(v) for v in rnn.trainable_variables]
    seed_state = _np(cell.seed_generator.state)
    history = model.fit(x, y, batch_size=8, epochs=8, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0]
    assert all(np.abs(_np(v) - b).max() > 1e-3 for v, b in zip(rnn.trainable_variables, before))
    assert not np.array_equal(_np(cell.seed_generator.state), seed_state)
    one = x[:8]
    assert np.abs(_np(model(one, training=True)) - _np(model(one, training=True))).max() > 1e-3
    np.testing.assert_array_equal(_np(model(one)), _np(model(one)))


def test_masked_rows_do_not_change_the_other_rows_noise():
    """The step counter: the per-step draws depend on the step, not on which rows are masked.
    Masking steps 0-2 of row 1 leaves the other rows' outputs as in the unmasked pass (same
    seed), and row 1 keeps its state at its masked steps."""
    x = _x(batch=4, steps=6)
    kwargs = {"recurrent_noise": "dropconnect", "dropconnect_p": 0.3, "input_noise": "additive",
              "input_sigma": 0.2, "seed": 9}
    plain = _built(_keras_rnn(NoisySimpleRNNCell(H, **kwargs)))
    masked = _built(_keras_rnn(NoisySimpleRNNCell(H, **kwargs)))
    mask = np.ones((4, 6), bool)
    mask[1, :3] = False
    a, b = _np(plain(x, training=True)), _np(masked(x, mask=mask, training=True))
    np.testing.assert_allclose(b[[0, 2, 3]], a[[0, 2, 3]], atol=1e-6)
    np.testing.assert_allclose(b[1, :3], 0.0, atol=1e-7)
    assert np.abs(a - _np(plain(x))).max() > 1e-2


def test_step_counter_state():
    """With per-step noise the cell's state is [h, step counter] (the counter in two base-256
    digits); without, [h] as in SimpleRNNCell. A state without the counter is a ValueError."""
    assert NoisySimpleRNNCell(H).state_size == H
    assert NoisySimpleRNNCell(H, recurrent_noise="additive", sigma=0.1, recurrent_noise_scope="sequence").state_size == H
    cell = NoisySimpleRNNCell(H, recurrent_noise="additive", sigma=0.1)
    assert cell.counts_steps and cell.state_size == [H, 2]
    assert NoisySimpleRNN(H, recurrent_noise="additive", sigma=0.1).cell.state_size == H  # the layer draws
    x = _x(batch=2, steps=300, scale=0.1)
    layer = _built(_keras_rnn(cell, return_state=True))
    out, h, counter = layer(x, training=True)
    np.testing.assert_allclose(_np(h), _np(out)[:, -1])
    np.testing.assert_array_equal(_np(counter), [[1, 44], [1, 44]])  # 300 = 1 * 256 + 44
    with pytest.raises(ValueError, match=r"\[h, step_counter\]"):
        layer(x, initial_state=[np.zeros((2, H), "float32")], training=True)
    h0, c0 = cell.get_initial_state(2)
    out2 = layer(x, initial_state=[h0, c0], training=True)
    assert out2[0].shape == (2, 300, H)


def test_readme_cell_example_runs_with_fresh_noise():
    """docs/layers.md's first example (the cell in keras.layers.RNN with a mask), as written,
    on the backend under test."""
    x = keras.random.normal((4, 30, 88))
    cell = NoisySimpleRNNCell(32, recurrent_noise="dropconnect", dropconnect_p=0.2, seed=0)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    h = rnn(x, mask=keras.ops.ones((4, 30), "bool"), training=True)
    assert tuple(h.shape) == (4, 30, 32)
    again = rnn(x, mask=keras.ops.ones((4, 30), "bool"), training=True)
    clean = rnn(x, mask=keras.ops.ones((4, 30), "bool"))
    assert np.abs(_np(h) - _np(again)).max() > 1e-3 and np.abs(_np(h) - _np(clean)).max() > 1e-3
