"""Fast dropout through the gates: FastDropoutLSTM / FastDropoutGRU and their cells.

- Against Monte Carlo: the same dropout network (fresh Bernoulli masks on
  ``x_t`` and ``h_{t-1}`` at every step, one mask for all gates) sampled with
  20,000 masks in NumPy (fixed seeds), 4 steps, 40 binary inputs, 10 units,
  rates 0.2 (inputs) / 0.3 (hidden); the mean and variance of ``h`` at every
  step (and of the LSTM's ``c`` at the last). The moment propagation is an
  approximation (Gaussian pre-activations, gates treated as independent
  although they share the masks and ``h_{t-1}``), so the tolerances are stated
  per weight scale: weights ~ N(0, 0.1^2) (small) and N(0, 0.5^2) (large,
  gates saturating). The Monte Carlo error itself is < 0.003 on the means
  and < 0.002 on the variances here.
- With both rates 0 the means are Keras's LSTMCell / GRUCell (same weights),
  the variances 0.
- The fused loop equals the cell loop (outputs and gradients), masking keeps
  the moments, ``initial_state`` / ``return_state`` / ``stateful`` /
  ``Bidirectional``, config round trip and ``.keras`` reload with
  ``safe_mode=True``, and a short fit with ``FastDropoutDense`` on top.

Backend-agnostic: run under TensorFlow and ``KERAS_BACKEND=jax``.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_rnnreg import (
    FastDropoutDense,
    FastDropoutGRU,
    FastDropoutGRUCell,
    FastDropoutLSTM,
    FastDropoutLSTMCell,
)

BACKEND = keras.backend.backend()
D, H = 5, 6

KINDS = {
    "lstm": (FastDropoutLSTM, FastDropoutLSTMCell, keras.layers.LSTM, keras.layers.LSTMCell, {}),
    "gru": (FastDropoutGRU, FastDropoutGRUCell, keras.layers.GRU, keras.layers.GRUCell, {}),
    "gru_reset_before": (FastDropoutGRU, FastDropoutGRUCell, keras.layers.GRU, keras.layers.GRUCell,
                         {"reset_after": False}),
}


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _x(batch=4, steps=7, seed=0):
    return np.random.RandomState(seed).normal(scale=0.7, size=(batch, steps, D)).astype("float32")


def _mask(batch=4, steps=7):
    mask = np.ones((batch, steps), bool)
    mask[1, 4:] = False  # padded at the end
    mask[2, :2] = False  # padded at the start
    mask[3, 3] = False  # a hole
    return mask


def _random_weights(layer, seed=1, scale=0.4):
    rng = np.random.RandomState(seed)
    return [rng.normal(scale=scale, size=w.shape).astype("float32") for w in layer.get_weights()]


def _built(layer, weights=None, features=D):
    layer.build((None, None, features))
    layer.set_weights(_random_weights(layer) if weights is None else weights)
    return layer


# -- Monte Carlo -------------------------------------------------------------------------

MC_D, MC_H, MC_T, N_MC = 40, 10, 4, 20_000
INPUT_RATE, HIDDEN_RATE = 0.2, 0.3

# (h mean, h variance, c mean, c variance) absolute tolerances per weight scale,
# about 1.5-2x the largest error seen over 4 weight / input seeds.
TOLERANCES = {0.1: (0.01, 0.005, 0.01, 0.006), 0.5: (0.07, 0.07, 0.09, 0.1)}


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _monte_carlo(kind, x, weights, seed=0):
    """Sampled dropout on x_t and h_{t-1} (one mask each for all gates), N_MC samples: h (T, N, H), c_T."""
    w, u, b = weights
    rng = np.random.RandomState(seed)
    h = np.zeros((N_MC, MC_H))
    c = np.zeros((N_MC, MC_H))
    hs = []
    for t in range(x.shape[0]):
        d_x = rng.uniform(size=(N_MC, MC_D)) >= INPUT_RATE
        d_h = rng.uniform(size=(N_MC, MC_H)) >= HIDDEN_RATE
        x_proj, h_in = (d_x * x[t]) @ w, d_h * h
        if kind == "lstm":
            i, f, g, o = np.split(x_proj + h_in @ u + b, 4, axis=-1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        else:
            if kind == "gru":
                x_proj = x_proj + b[0]
                u_all = h_in @ u + b[1]
            else:
                x_proj = x_proj + b
                u_all = h_in @ u  # the candidate block is replaced below
            z = _sigmoid(x_proj[:, :MC_H] + u_all[:, :MC_H])
            r = _sigmoid(x_proj[:, MC_H:2 * MC_H] + u_all[:, MC_H:2 * MC_H])
            if kind == "gru":
                candidate = r * u_all[:, 2 * MC_H:]
            else:
                candidate = (r * h_in) @ u[:, 2 * MC_H:]
            hh = np.tanh(x_proj[:, 2 * MC_H:] + candidate)
            h = z * h + (1.0 - z) * hh
        hs.append(h)
    return np.stack(hs), c


def _mc_weights(kind, scale, seed=0):
    rng = np.random.RandomState(seed)
    gates = 4 if kind == "lstm" else 3
    bias_shape = (2, gates * MC_H) if kind == "gru" else (gates * MC_H,)
    return [
        rng.normal(scale=scale, size=(MC_D, gates * MC_H)),
        rng.normal(scale=scale, size=(MC_H, gates * MC_H)),
        rng.normal(scale=0.2, size=bias_shape),
    ]


@pytest.mark.parametrize("scale", sorted(TOLERANCES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_moments_match_monte_carlo(kind, scale):
    layer_cls, _, _, _, kwargs = KINDS[kind]
    weights = _mc_weights(kind, scale)
    x = (np.random.RandomState(7).uniform(size=(MC_T, MC_D)) < 0.3).astype("float64")
    layer = layer_cls(MC_H, input_rate=INPUT_RATE, hidden_rate=HIDDEN_RATE, return_state=True, **kwargs)
    _built(layer, [w.astype("float32") for w in weights], features=MC_D)
    out = [_np(o)[0] for o in layer(x[None].astype("float32"))]
    hs, c_last = _monte_carlo(kind, x, weights)
    tol_m, tol_v, tol_cm, tol_cv = TOLERANCES[scale]
    np.testing.assert_allclose(out[0], hs.mean(1), atol=tol_m)
    np.testing.assert_allclose(out[1], hs.var(1), atol=tol_v)
    # Not vacuous: the dropout noise is there, and the moments follow it.
    assert hs.var(1).mean() > (0.001 if scale == 0.1 else 0.01)
    assert abs(out[1].mean() - hs.var(1).mean()) < 0.3 * hs.var(1).mean()
    if kind == "lstm":
        np.testing.assert_allclose(out[4], c_last.mean(0), atol=tol_cm)
        np.testing.assert_allclose(out[5], c_last.var(0), atol=tol_cv)


# -- rates 0: Keras's cells ------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_rates_zero_equal_keras(kind):
    layer_cls, cell_cls, keras_layer, keras_cell, kwargs = KINDS[kind]
    x = _x()
    ours = _built(layer_cls(H, input_rate=0.0, hidden_rate=0.0, **kwargs))
    theirs = keras_layer(H, return_sequences=True, **kwargs)
    theirs.build((None, None, D))
    assert [w.shape for w in theirs.get_weights()] == [w.shape for w in ours.get_weights()]
    assert [v.name for v in theirs.trainable_variables] == [v.name for v in ours.trainable_variables]
    theirs.set_weights(ours.get_weights())
    mean, var = ours(x)
    np.testing.assert_allclose(_np(mean), _np(theirs(x)), atol=1e-5)
    np.testing.assert_allclose(_np(var), 0.0, atol=1e-5)
    # One step of the cells themselves, from a nonzero state.
    cell, reference = cell_cls(H, input_rate=0.0, hidden_rate=0.0, **kwargs), keras_cell(H, **kwargs)
    cell.build((None, D))
    reference.build((None, D))
    cell.set_weights(ours.get_weights())
    reference.set_weights(ours.get_weights())
    rng = np.random.RandomState(3)
    states = [rng.normal(scale=0.5, size=(4, H)).astype("float32") for _ in range(2 if kind == "lstm" else 1)]
    zeros = np.zeros((4, H), "float32")
    out, new = cell(x[:, 0], [np.concatenate([s, zeros], -1) for s in states])
    ref_out, ref_new = reference(x[:, 0], states)
    np.testing.assert_allclose(_np(out)[:, :H], _np(ref_out), atol=1e-5)
    for got, expected in zip(new, ref_new):
        np.testing.assert_allclose(_np(got)[:, :H], _np(expected), atol=1e-5)
        np.testing.assert_allclose(_np(got)[:, H:], 0.0, atol=1e-5)


def test_unit_forget_bias_and_gru_bias_shapes():
    lstm = FastDropoutLSTM(H)
    lstm.build((None, None, D))
    np.testing.assert_array_equal(_np(lstm.bias), np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])
    plain = FastDropoutLSTM(H, unit_forget_bias=False)
    plain.build((None, None, D))
    np.testing.assert_array_equal(_np(plain.bias), np.zeros(4 * H))
    gru = _built(FastDropoutGRU(H))
    assert tuple(gru.bias.shape) == (2, 3 * H)
    assert tuple(_built(FastDropoutGRU(H, reset_after=False)).bias.shape) == (3 * H,)


# -- fused loop = cell loop -----------------------------------------------------------------


def _value_and_grads(layer, x, mask=None, initial_state=None):
    """Outputs and the gradients of ``sum(outputs * fixed weights)`` w.r.t. the weights and ``x``."""
    probe = [np.random.RandomState(7 + i) for i in range(8)]
    kwargs = {"mask": mask}
    if initial_state is not None:
        kwargs["initial_state"] = initial_state

    def loss_of(out):
        return sum(ops.sum(o * p.normal(size=o.shape).astype("float32")) for o, p in zip(out, probe))

    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x, **kwargs)
            out = list(out) if isinstance(out, (list, tuple)) else [out]
            loss = loss_of(out)
        grads = tape.gradient(loss, [*layer.trainable_variables, x])
        return [_np(o) for o in out], [_np(g) for g in grads]
    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(args):
            tv, xs = args
            out, _ = layer.stateless_call(tv, non_trainable, xs, **kwargs)
            out = list(out) if isinstance(out, (list, tuple)) else [out]
            return loss_of(out), out

        # One compiled program (eager JAX would compile every op apart).
        (_, out), (g_w, g_x) = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))((trainable, x))
        return [_np(o) for o in out], [_np(g) for g in [*g_w, g_x]]
    pytest.skip(f"no gradient helper for backend {BACKEND}")


def _assert_same(first, second, atol_out=1e-5, atol_grad=1e-4):
    (out_a, grads_a), (out_b, grads_b) = first, second
    assert len(out_a) == len(out_b) and len(grads_a) == len(grads_b)
    for a, b in zip(out_a, out_b):
        np.testing.assert_allclose(a, b, atol=atol_out, rtol=1e-5)
    for a, b in zip(grads_a, grads_b):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=atol_grad, rtol=1e-4)


@pytest.mark.parametrize("masked_backwards", [False, True], ids=["plain", "masked_backwards"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_fused_loop_equals_cell_loop(kind, masked_backwards):
    layer_cls, _, _, _, kwargs = KINDS[kind]
    layer = _built(layer_cls(H, input_rate=0.2, hidden_rate=0.3, go_backwards=masked_backwards, **kwargs))
    assert layer.uses_fast_path() == (BACKEND in ("tensorflow", "jax"))
    x, mask = _x(), (_mask() if masked_backwards else None)
    fused = _value_and_grads(layer, x, mask=mask)
    layer.fast_path = False
    assert not layer.uses_fast_path()
    loop = _value_and_grads(layer, x, mask=mask)
    _assert_same(fused, loop)
    mean, var = fused[0]
    assert var.min() >= 0.0 and var.max() > 1e-3
    assert all(np.abs(g).max() > 0 for g in fused[1])
    if masked_backwards:
        # A masked step keeps both moments (outputs in processing order): row 1 is padded
        # after step 4, which going backwards comes first and keeps the zero state.
        np.testing.assert_allclose(mean[1, :3], 0.0, atol=1e-7)
        np.testing.assert_allclose(var[1, :3], 0.0, atol=1e-7)
        np.testing.assert_allclose(mean[3, 3], mean[3, 2], atol=1e-7)
        np.testing.assert_allclose(var[3, 3], var[3, 2], atol=1e-7)
        assert np.abs(mean[3, 4] - mean[3, 3]).max() > 1e-3


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_cell_in_keras_rnn_equals_the_layer(kind):
    layer_cls, cell_cls, _, _, kwargs = KINDS[kind]
    layer = _built(layer_cls(H, input_rate=0.2, hidden_rate=0.3, **kwargs))
    rnn = _built(keras.layers.RNN(cell_cls(H, input_rate=0.2, hidden_rate=0.3, **kwargs), return_sequences=True),
                 layer.get_weights())
    x, mask = _x(), _mask()
    mean, var = layer(x, mask=mask)
    out = _np(rnn(x, mask=mask))
    np.testing.assert_allclose(out[..., :H], _np(mean), atol=1e-5)
    np.testing.assert_allclose(out[..., H:], _np(var), atol=1e-5)
    # FastDropoutDense takes the concatenated moments as they come, and the pair.
    dense = FastDropoutDense(3, rate=0.4)
    np.testing.assert_allclose(_np(dense(out)), _np(dense([_np(mean), _np(var)])), atol=1e-6)


# -- the RNN features -------------------------------------------------------------------------


@pytest.mark.parametrize("fast_path", ["auto", False])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_initial_state_and_return_state(kind, fast_path):
    layer_cls, cell_cls, _, _, kwargs = KINDS[kind]
    n_states = 2 if kind == "lstm" else 1
    layer = _built(layer_cls(H, return_state=True, return_sequences=False, fast_path=fast_path))
    rng = np.random.RandomState(4)
    split = []
    for _ in range(n_states):
        split += [rng.normal(scale=0.5, size=(4, H)).astype("float32"), rng.uniform(0, 0.1, size=(4, H)).astype("float32")]
    joined = [np.concatenate(split[k:k + 2], -1) for k in range(0, len(split), 2)]
    x, mask = _x(), _mask()
    got = _value_and_grads(layer, x, mask=mask, initial_state=split)
    outputs = got[0]
    assert len(outputs) == 2 + 2 * n_states
    np.testing.assert_allclose(outputs[0], outputs[2], atol=1e-7)  # output = h_T
    np.testing.assert_allclose(outputs[1], outputs[3], atol=1e-7)
    # The cell's concatenated states give the same, as does the cell in keras.layers.RNN.
    again = [_np(o) for o in layer(x, mask=mask, initial_state=joined)]
    for a, b in zip(outputs, again):
        np.testing.assert_allclose(a, b, atol=1e-6)
    rnn = _built(keras.layers.RNN(cell_cls(H), return_state=True), layer.get_weights())
    reference = [_np(o) for o in rnn(x, mask=mask, initial_state=joined)]
    np.testing.assert_allclose(np.concatenate(outputs[:2], -1), reference[0], atol=1e-5)
    for k in range(n_states):
        np.testing.assert_allclose(np.concatenate(outputs[2 + 2 * k:4 + 2 * k], -1), reference[1 + k], atol=1e-5)
    # The initial state matters (row 1 starts masked at no step, but every row starts from it).
    assert np.abs(outputs[0] - _np(layer(x, mask=mask)[0])).max() > 1e-3
    # Symbolic shapes agree with the outputs.
    symbolic = layer(keras.Input((7, D)))
    assert [tuple(s.shape[1:]) for s in symbolic] == [o.shape[1:] for o in outputs]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_stateful_continues_the_sequence(kind):
    layer_cls = KINDS[kind][0]
    x = _x(batch=3, steps=8)
    whole = _built(layer_cls(H, split_moments=False))
    stateful = layer_cls(H, stateful=True, split_moments=False)
    stateful.build((3, None, D))
    stateful.set_weights(whole.get_weights())
    first = _np(stateful(x[:, :5]))
    second = _np(stateful(x[:, 5:]))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), _np(whole(x)), atol=1e-5)
    stateful.reset_states()
    np.testing.assert_allclose(_np(stateful(x[:, :5])), first, atol=1e-6)


def test_bidirectional_and_stacking():
    """Bidirectional(split_moments=False) equals Bidirectional over the cell in keras.layers.RNN, with a mask."""
    x = _x()
    mask = _mask()
    layer = keras.layers.Bidirectional(FastDropoutLSTM(H, split_moments=False))
    cells = keras.layers.Bidirectional(keras.layers.RNN(FastDropoutLSTMCell(H), return_sequences=True))
    layer.build((None, None, D))
    weights = _random_weights(layer)
    layer.set_weights(weights)
    cells.build((None, None, D))
    cells.set_weights(weights)
    out = _np(layer(x, mask=mask))
    assert out.shape == (4, 7, 4 * H)
    np.testing.assert_allclose(out, _np(cells(x, mask=mask)), atol=1e-5)
    # Stacked (symbolically: the shapes), the moments apart into FastDropoutDense.
    inputs = keras.Input((None, D))
    hidden = keras.layers.Bidirectional(FastDropoutGRU(H, split_moments=False))(inputs)
    means, variances = FastDropoutLSTM(H)(hidden)
    assert tuple(hidden.shape) == (None, None, 4 * H) and tuple(means.shape) == (None, None, H)
    assert tuple(FastDropoutDense(3)([means, variances]).shape) == (None, None, 3)


# -- arguments, config, saving, fit ---------------------------------------------------------------


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        FastDropoutLSTM(4, input_rate=1.0)
    with pytest.raises(ValueError, match="hidden_rate"):
        FastDropoutGRUCell(4, hidden_rate=-0.1)
    with pytest.raises(ValueError, match="variance_approximation"):
        FastDropoutGRU(4, variance_approximation="exact")
    with pytest.raises(ValueError, match="reset_after"):
        FastDropoutGRU(4, reset_after="yes")
    with pytest.raises(ValueError, match="fast_path"):
        FastDropoutLSTM(4, fast_path="yes")
    with pytest.raises(ValueError, match="units"):
        FastDropoutLSTMCell(0)


def test_config_round_trip():
    layer = FastDropoutLSTM(H, input_rate=0.15, hidden_rate=0.25, variance_approximation="wang_manning",
                            unit_forget_bias=False, kernel_regularizer=keras.regularizers.L2(1e-3),
                            split_moments=False, go_backwards=True, fast_path=False, name="lstm")
    config = layer.get_config()
    for key, value in {"units": H, "input_rate": 0.15, "hidden_rate": 0.25, "unit_forget_bias": False,
                       "variance_approximation": "wang_manning", "split_moments": False, "go_backwards": True,
                       "fast_path": False, "return_sequences": True}.items():
        assert config[key] == value, key
    assert FastDropoutLSTM.from_config(config).get_config() == config
    gru = FastDropoutGRU(H, reset_after=False, input_rate=0.3)
    assert FastDropoutGRU.from_config(gru.get_config()).get_config() == gru.get_config()
    assert gru.get_config()["reset_after"] is False
    for cell in (FastDropoutLSTMCell(H, hidden_rate=0.4), FastDropoutGRUCell(H, reset_after=False)):
        assert type(cell).from_config(cell.get_config()).get_config() == cell.get_config()


def test_save_and_load_with_safe_mode(tmp_path):
    inputs = keras.Input((None, D))
    hidden = keras.layers.Masking(0.0)(inputs)
    hidden = keras.layers.Bidirectional(FastDropoutGRU(H, reset_after=False, split_moments=False, name="gru"),
                                        name="both")(hidden)
    hidden = keras.layers.RNN(FastDropoutLSTMCell(H, hidden_rate=0.4), return_sequences=True)(hidden)
    moments = FastDropoutLSTM(H, input_rate=0.3, name="lstm")(hidden)
    model = keras.Model(inputs, FastDropoutDense(3, rate=0.4)(moments))
    x = _x()
    x[1, 5:] = 0.0
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), atol=1e-6)
    assert type(loaded.get_layer("lstm")) is FastDropoutLSTM
    assert loaded.get_layer("lstm").get_config() == model.get_layer("lstm").get_config()
    assert type(loaded.get_layer("both").forward_layer) is FastDropoutGRU


def test_tiny_fit_reduces_the_loss():
    """A few epochs of model.fit (compiled training step on this backend): the loss goes down."""
    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    x = rng.normal(size=(32, 6, D)).astype("float32")
    y = (np.cumsum(x[..., :3], axis=1) > 0).astype("float32")
    inputs = keras.Input((6, D))
    moments = FastDropoutLSTM(8, input_rate=0.1, hidden_rate=0.2)(inputs)
    model = keras.Model(inputs, FastDropoutDense(3, rate=0.2)(moments))
    model.compile(optimizer=keras.optimizers.Adam(0.03), loss="binary_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=8, epochs=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.evaluate(x, y, verbose=0) < 0.8 * before
