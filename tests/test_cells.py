"""The cells and the RNN-subclass layers as Keras RNN building blocks.

Each cell inside ``keras.layers.RNN``, ``Bidirectional``, stacked, masked, with
``initial_state`` / ``return_state``, serialized and reloaded with
``safe_mode=True``; the sequence layers' fused loop against their cell loop
(same weights, same noise draws: same outputs and gradients); the noise scope
of every kernel the noise can sit on, by Monte Carlo. Backend-agnostic: CI
runs this file under TensorFlow and JAX.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_rnnreg
from keras_rnnreg import (
    FastDropoutDense,
    FastDropoutSimpleRNN,
    FastDropoutSimpleRNNCell,
    NoisyDense,
    NoisySimpleRNN,
    NoisySimpleRNNCell,
    WeightNoise,
)

D, H = 5, 6
BACKEND = keras.backend.backend()
RNG = np.random.RandomState(0)


def _x(batch=4, steps=7, seed=0):
    return np.random.RandomState(seed).normal(scale=0.7, size=(batch, steps, D)).astype("float32")


def _weights(units=H, features=D, seed=1, n=3):
    rng = np.random.RandomState(seed)
    return [
        rng.normal(scale=0.4, size=(features, units)).astype("float32"),
        rng.normal(scale=0.4, size=(units, units)).astype("float32"),
        rng.normal(scale=0.1, size=(units,)).astype("float32"),
    ][:n]


def _built(layer, weights=None, features=D):
    layer.build((None, None, features))
    layer.set_weights(weights or _weights(features=features))
    return layer


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _simple_rnn(**kwargs):
    return _built(keras.layers.SimpleRNN(H, **kwargs))


# -- each cell inside keras.layers.RNN -------------------------------------------


def test_noisy_cell_in_keras_rnn_equals_simple_rnn():
    x = _x()
    layer = _built(keras.layers.RNN(NoisySimpleRNNCell(H), return_sequences=True))
    np.testing.assert_allclose(_np(layer(x)), _np(_simple_rnn(return_sequences=True)(x)), atol=1e-5)
    fused = _built(NoisySimpleRNN(H))
    np.testing.assert_allclose(_np(fused(x)), _np(layer(x)), atol=1e-5)


def test_fast_dropout_cell_in_keras_rnn_equals_the_layer():
    x = _x()
    rnn = _built(keras.layers.RNN(FastDropoutSimpleRNNCell(H, input_rate=0.2, hidden_rate=0.3), return_sequences=True))
    layer = _built(FastDropoutSimpleRNN(H, input_rate=0.2, hidden_rate=0.3))
    mean, var = layer(x)
    out = _np(rnn(x))
    np.testing.assert_allclose(out[..., :H], _np(mean), atol=1e-5)
    np.testing.assert_allclose(out[..., H:], _np(var), atol=1e-5)
    assert _np(var).min() >= 0 and _np(var).max() > 1e-3
    # FastDropoutDense takes the concatenated moments as they come.
    dense = FastDropoutDense(3, rate=0.4)
    np.testing.assert_allclose(_np(dense(rnn(x))), _np(dense([mean, var])), atol=1e-6)


@pytest.mark.parametrize("scope", ["step", "sequence"])
def test_noisy_cell_in_keras_rnn_applies_noise_only_in_training(scope):
    x = _x(batch=8)
    layer = _built(keras.layers.RNN(
        NoisySimpleRNNCell(H, recurrent_noise="dropconnect", dropconnect_p=0.3, recurrent_noise_scope=scope, seed=0),
        return_sequences=True,
    ))
    clean = _np(_simple_rnn(return_sequences=True)(x))
    np.testing.assert_allclose(_np(layer(x, training=False)), clean, atol=1e-5)
    noisy, again = _np(layer(x, training=True)), _np(layer(x, training=True))
    assert np.abs(noisy - clean).max() > 1e-2 and np.abs(noisy - again).max() > 1e-3


def test_per_step_noise_in_keras_rnn_differs_between_steps():
    """Exact per-step noise drawn by the cell inside keras.layers.RNN's loop: the effective
    recurrent matrix (least squares over 64 sequences) changes from step to step."""
    x = _x(batch=64, steps=5) * 0.5
    cell = NoisySimpleRNNCell(H, recurrent_noise="additive", sigma=0.3, noise_implementation="exact", seed=0)
    layer = _built(keras.layers.RNN(cell, return_sequences=True))
    hs = _np(layer(x, training=True)).astype("float64")
    kernel, _, bias = layer.get_weights()
    target = np.arctanh(hs[:, 1:]) - x[:, 1:] @ kernel - bias
    w = _effective_matrices(hs[:, :-1], target)
    assert min(np.abs(w[t + 1] - w[t]).max() for t in range(len(w) - 1)) > 0.1


def test_per_sequence_noise_in_keras_rnn_is_one_matrix_per_pass():
    """keras.layers.RNN draws the per-sequence DropConnect matrix once, before its loop
    (the DropoutRNNCell protocol): a pass equals the clean RNN run with that one matrix."""
    x = _x(batch=4, steps=9)
    cell = NoisySimpleRNNCell(H, recurrent_noise="dropconnect", dropconnect_p=0.4, recurrent_noise_scope="sequence", seed=3)
    layer = _built(keras.layers.RNN(cell, return_sequences=True))
    noisy = _np(layer(x, training=True))
    assert cell._sequence_draws is None  # reset after the pass
    kernel, recurrent, bias = layer.get_weights()
    h, outs = np.zeros((4, H), "float32"), []
    # Recover the matrix from the first two steps, then check every later step with it.
    pre = np.arctanh(np.clip(noisy, -0.999999, 0.999999)) - x @ kernel - bias
    w_star = np.linalg.lstsq(noisy[:, :-1].reshape(-1, H), pre[:, 1:].reshape(-1, H), rcond=None)[0]
    ratio = w_star / recurrent
    assert np.all(np.isclose(ratio, 0, atol=1e-3) | np.isclose(ratio, 1 / 0.6, atol=1e-3))
    for t in range(9):
        h = np.tanh(x[:, t] @ kernel + bias + h @ w_star)
        outs.append(h)
    np.testing.assert_allclose(np.stack(outs, 1), noisy, atol=1e-4)


# -- Bidirectional, stacking ---------------------------------------------------------


def test_bidirectional_equals_keras_simple_rnn_bidirectional():
    x = _x()
    ours = keras.layers.Bidirectional(NoisySimpleRNN(H, recurrent_noise="additive", sigma=0.1, seed=0))
    ref = keras.layers.Bidirectional(keras.layers.SimpleRNN(H, return_sequences=True))
    ours.build((None, None, D))
    ref.build((None, None, D))
    weights = _weights() + _weights(seed=2)
    ours.set_weights(weights)
    ref.set_weights(weights)
    np.testing.assert_allclose(_np(ours(x)), _np(ref(x)), atol=1e-5)
    assert ours(x, training=True).shape == (4, 7, 2 * H)
    cell_bidi = keras.layers.Bidirectional(keras.layers.RNN(NoisySimpleRNNCell(H), return_sequences=True))
    cell_bidi.build((None, None, D))
    cell_bidi.set_weights(weights)
    np.testing.assert_allclose(_np(cell_bidi(x)), _np(ref(x)), atol=1e-5)


def test_bidirectional_fast_dropout():
    x = _x()
    layer = keras.layers.Bidirectional(FastDropoutSimpleRNN(H, split_moments=False))
    cells = keras.layers.Bidirectional(keras.layers.RNN(FastDropoutSimpleRNNCell(H), return_sequences=True))
    for b in (layer, cells):
        b.build((None, None, D))
        b.set_weights(_weights() + _weights(seed=2))
    np.testing.assert_allclose(_np(layer(x)), _np(cells(x)), atol=1e-5)
    assert layer(x).shape == (4, 7, 4 * H)


def test_stacked_cells_and_stacked_layers():
    x = _x()
    stacked = keras.layers.RNN(
        keras.layers.StackedRNNCells([NoisySimpleRNNCell(H), NoisySimpleRNNCell(H)]), return_sequences=True
    )
    stacked.build((None, None, D))
    stacked.set_weights(_weights() + _weights(features=H, seed=2))
    first = _simple_rnn(return_sequences=True)
    second = _built(keras.layers.SimpleRNN(H, return_sequences=True), _weights(features=H, seed=2), features=H)
    np.testing.assert_allclose(_np(stacked(x)), _np(second(first(x))), atol=1e-5)
    model = keras.Sequential([
        keras.Input((None, D)),
        NoisySimpleRNN(H, recurrent_noise="dropconnect", dropconnect_p=0.2, seed=1),
        FastDropoutSimpleRNN(H, split_moments=False),
        FastDropoutDense(3),
    ])
    assert model(x, training=True).shape == (4, 7, 3)
    mixed = keras.layers.RNN([NoisySimpleRNNCell(H), FastDropoutSimpleRNNCell(H)], return_sequences=True)
    assert mixed(x).shape == (4, 7, 2 * H)


# -- masking -----------------------------------------------------------------------------


def _masked_layers():
    return {
        "noisy_fused": lambda: _built(NoisySimpleRNN(H, return_state=True)),
        "noisy_cell_loop": lambda: _built(NoisySimpleRNN(H, return_state=True, fast_path=False)),
        "noisy_keras_rnn": lambda: _built(keras.layers.RNN(NoisySimpleRNNCell(H), return_sequences=True,
                                                           return_state=True)),
        "fd_fused": lambda: _built(FastDropoutSimpleRNN(H, split_moments=False, return_state=True)),
        "fd_cell_loop": lambda: _built(FastDropoutSimpleRNN(H, split_moments=False, return_state=True,
                                                            fast_path=False)),
        "fd_keras_rnn": lambda: _built(keras.layers.RNN(FastDropoutSimpleRNNCell(H), return_sequences=True,
                                                        return_state=True)),
    }


@pytest.mark.parametrize("which", list(_masked_layers()))
def test_masked_frames_leave_the_state_unchanged(which):
    layer = _masked_layers()[which]()
    x = _x(batch=3, steps=6)
    padded = np.concatenate([x, np.zeros((3, 5, D), "float32")], axis=1)
    inputs = keras.Input((None, D))
    masked = keras.layers.Masking(0.0)(inputs)
    model = keras.Model(inputs, layer(masked))
    out_padded, *state_padded = model(padded)
    out, *state = layer(x)
    # Five zero frames at the end, masked: the last state is that of the unpadded sequence ...
    for a, b in zip(state_padded, state):
        np.testing.assert_allclose(_np(a), _np(b), atol=1e-6)
    # ... and so are the outputs of the unpadded steps.
    np.testing.assert_allclose(_np(out_padded)[:, :6], _np(out), atol=1e-6)
    # A masked frame in the middle repeats the previous output (the state did not move).
    mask = np.ones((3, 6), bool)
    mask[1, 3] = False
    out_m = _np(layer(x, mask=mask)[0])
    np.testing.assert_array_equal(out_m[1, 3], out_m[1, 2])
    np.testing.assert_allclose(out_m[0], _np(out)[0], atol=1e-6)


def test_unmasked_noise_layer_would_see_padding():
    """The same padded input without a mask changes the last state (what masking fixes)."""
    layer = _built(NoisySimpleRNN(H, return_sequences=False))
    x = _x(batch=3, steps=6)
    padded = np.concatenate([x, np.zeros((3, 5, D), "float32")], axis=1)
    assert np.abs(_np(layer(padded)) - _np(layer(x))).max() > 1e-2


# -- initial_state / return_state / go_backwards / stateful ------------------------------


@pytest.mark.parametrize("fast_path", ["auto", False])
def test_initial_state_return_state_go_backwards_match_simple_rnn(fast_path):
    x = _x()
    h0 = RNG.normal(scale=0.5, size=(4, H)).astype("float32")
    for go_backwards in (False, True):
        ours = _built(NoisySimpleRNN(H, return_state=True, go_backwards=go_backwards, fast_path=fast_path))
        ref = _simple_rnn(return_sequences=True, return_state=True, go_backwards=go_backwards)
        out, state = ours(x, initial_state=[h0])
        ref_out, ref_state = ref(x, initial_state=[h0])
        np.testing.assert_allclose(_np(out), _np(ref_out), atol=1e-5)
        np.testing.assert_allclose(_np(state), _np(ref_state), atol=1e-5)


def test_fast_dropout_initial_state_and_return_state():
    x = _x()
    m0 = RNG.normal(scale=0.5, size=(4, H)).astype("float32")
    v0 = RNG.uniform(0, 0.1, size=(4, H)).astype("float32")
    layer = _built(FastDropoutSimpleRNN(H, return_state=True, return_sequences=False))
    cells = _built(keras.layers.RNN(FastDropoutSimpleRNNCell(H), return_state=True))
    mean, var, m_last, v_last = layer(x, initial_state=[m0, v0])
    out, state = cells(x, initial_state=[np.concatenate([m0, v0], -1)])
    m_ref, v_ref = _np(state)[:, :H], _np(state)[:, H:]
    np.testing.assert_allclose(_np(mean), m_ref, atol=1e-5)
    np.testing.assert_allclose(_np(var), v_ref, atol=1e-5)
    np.testing.assert_allclose(_np(m_last), m_ref, atol=1e-5)
    np.testing.assert_allclose(_np(v_last), v_ref, atol=1e-5)
    np.testing.assert_allclose(_np(out), _np(state), atol=1e-6)


def test_stateful_carries_the_state_between_calls():
    x = _x(batch=2, steps=8)
    layer = NoisySimpleRNN(H, stateful=True, return_sequences=False)
    layer.build((2, None, D))
    layer.set_weights(_weights())
    whole = _np(_simple_rnn()(x))
    layer(x[:, :4])
    np.testing.assert_allclose(_np(layer(x[:, 4:])), whole, atol=1e-5)
    layer.reset_state()
    np.testing.assert_allclose(_np(layer(x[:, :4])), _np(_simple_rnn()(x[:, :4])), atol=1e-5)


# -- serialization ---------------------------------------------------------------------


def _round_trip(model, tmp_path, x):
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), atol=1e-6)
    return loaded


def test_models_of_cells_and_layers_reload_with_safe_mode(tmp_path):
    x = _x()
    inputs = keras.Input((None, D))
    noisy = NoisySimpleRNNCell(
        H, recurrent_noise="multiplicative", sigma=0.1, recurrent_noise_scope="sequence",
        input_noise="dropconnect", input_dropconnect_p=0.2, seed=3,
        recurrent_initializer=keras_rnnreg.SpectralRadius(keras_rnnreg.SparseGaussian(k=3, seed=0), radius=1.1),
        kernel_regularizer=keras.regularizers.L1L2(l2=1e-3),
    )
    a = keras.layers.RNN(noisy, return_sequences=True)(inputs)
    b = keras.layers.Bidirectional(NoisySimpleRNN(H, recurrent_noise="dropconnect", dropconnect_p=0.3))(a)
    c = keras.layers.RNN([FastDropoutSimpleRNNCell(H), NoisySimpleRNNCell(H)], return_sequences=True)(b)
    d = FastDropoutSimpleRNN(H, split_moments=False, go_backwards=True)(c)
    e = NoisyDense(3, weight_noise=WeightNoise("additive", 0.1, scope="sequence", seed=5))(d)
    model = keras.Model(inputs, e)
    loaded = _round_trip(model, tmp_path, x)
    cell = loaded.layers[1].cell
    assert cell.get_config() == noisy.get_config()
    assert loaded.layers[-1].noise == WeightNoise("additive", 0.1, scope="sequence", seed=5)


def test_weight_noise_serializes():
    noise = WeightNoise("dropconnect", 0.25, scope="sequence", seed=4)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(noise))
    assert again == noise and again.level == 0.25


# -- one name per knob; a noise kind needs a level ----------------------------------------


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"recurrent_noise": "dropconnect"}, r"dropconnect_p.*\(0, 1\)"),
        ({"recurrent_noise": "additive", "sigma": 0.0}, r"sigma.*> 0"),
        ({"recurrent_noise": "multiplicative"}, r"sigma"),
        ({"input_noise": "additive"}, r"input_sigma"),
        ({"sigma": 0.1}, "recurrent_noise is None"),
        ({"recurrent_noise": "additive", "sigma": 0.1, "dropconnect_p": 0.2}, "uses sigma"),
    ],
)
@pytest.mark.parametrize("cls", [NoisySimpleRNN, NoisySimpleRNNCell])
def test_a_noise_kind_without_level_is_a_value_error(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(4, **kwargs)


def test_noisy_dense_and_weight_noise_levels():
    with pytest.raises(ValueError, match="sigma"):
        NoisyDense(3, weight_noise="additive")
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        WeightNoise("dropconnect", 0.0)
    layer = NoisySimpleRNN(4, recurrent_noise="dropconnect", dropconnect_p=0.2)
    assert layer.dropconnect_p == 0.2 and layer.sigma is None
    # One name per knob: the names used before the library had one are not arguments.
    for old_name in ("recurrent_stddev", "dropconnect_rate", "input_stddev"):
        with pytest.raises((TypeError, ValueError), match=old_name):
            NoisySimpleRNN(4, recurrent_noise="additive", sigma=0.1, **{old_name: 0.1})


# -- fused loop vs cell loop: same draws, same outputs and gradients ----------------------


def _value_and_grads(layer, x, weights, mask=None, training=True):
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = layer(x, mask=mask, training=training)
            out = out if isinstance(out, (list, tuple)) else [out]
            loss = sum(ops.sum(o * w) for o, w in zip(out, weights))
        grads = tape.gradient(loss, layer.trainable_variables)
        return [_np(o) for o in out], [_np(g) for g in grads]
    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(tv):
            out, _ = layer.stateless_call(tv, non_trainable, x, mask=mask, training=training)
            out = out if isinstance(out, (list, tuple)) else [out]
            return sum(ops.sum(o * w) for o, w in zip(out, weights)), out

        (_, out), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable)
        return [_np(o) for o in out], [_np(g) for g in grads]
    pytest.skip(f"no gradient helper for backend {BACKEND}")


NOISE_CONFIGS = {
    "none": {},
    "additive_step_lrt": {"recurrent_noise": "additive", "sigma": 0.2},
    "multiplicative_step_lrt": {"recurrent_noise": "multiplicative", "sigma": 0.3},
    "additive_step_exact": {"recurrent_noise": "additive", "sigma": 0.2, "noise_implementation": "exact"},
    "dropconnect_step": {"recurrent_noise": "dropconnect", "dropconnect_p": 0.3},
    "multiplicative_sequence": {"recurrent_noise": "multiplicative", "sigma": 0.3, "recurrent_noise_scope": "sequence"},
    "dropconnect_sequence": {"recurrent_noise": "dropconnect", "dropconnect_p": 0.3,
                             "recurrent_noise_scope": "sequence"},
    "input_additive_step_lrt": {"input_noise": "additive", "input_sigma": 0.2},
    # Keras's input dropout (one mask per sequence) with per-step DropConnect: fused too.
    "dropout_and_dropconnect_step": {"dropout": 0.3, "recurrent_noise": "dropconnect", "dropconnect_p": 0.3},
    "input_dropconnect_step_and_recurrent_additive_sequence": {
        "input_noise": "dropconnect", "input_dropconnect_p": 0.3,
        "recurrent_noise": "additive", "sigma": 0.2, "recurrent_noise_scope": "sequence",
    },
}


@pytest.mark.parametrize("masked_backwards", [False, True])
@pytest.mark.parametrize("config", list(NOISE_CONFIGS))
def test_fused_loop_equals_cell_loop(config, masked_backwards):
    kwargs = dict(NOISE_CONFIGS[config], seed=11)
    if masked_backwards:
        kwargs["go_backwards"] = True
    x = _x(batch=4, steps=6)
    mask = None
    if masked_backwards:
        mask = np.ones((4, 6), bool)
        mask[0, 2] = mask[2, 4:] = mask[3, 0] = False
    weights = [RNG.normal(size=(4, 6, H)).astype("float32")]
    fused = _built(NoisySimpleRNN(H, **kwargs))
    loop = _built(NoisySimpleRNN(H, fast_path=False, **kwargs))
    assert fused.uses_fast_path() and not loop.uses_fast_path()
    out_f, grads_f = _value_and_grads(fused, x, weights, mask)
    out_l, grads_l = _value_and_grads(loop, x, weights, mask)
    np.testing.assert_allclose(out_f[0], out_l[0], atol=2e-5)
    for gf, gl in zip(grads_f, grads_l):
        np.testing.assert_allclose(gf, gl, rtol=1e-4, atol=1e-4)
    if config != "none":  # the noise is there
        clean, _ = _value_and_grads(fused, x, weights, mask, training=False)
        assert np.abs(clean[0] - out_f[0]).max() > 1e-3


@pytest.mark.parametrize("masked_backwards", [False, True])
def test_fast_dropout_fused_loop_equals_cell_loop(masked_backwards):
    kwargs = {"input_rate": 0.2, "hidden_rate": 0.3, "go_backwards": masked_backwards}
    x = _x(batch=4, steps=6)
    mask = None
    if masked_backwards:
        mask = np.ones((4, 6), bool)
        mask[1, 3:] = False
    weights = [RNG.normal(size=(4, 6, H)).astype("float32") for _ in range(2)]
    fused = _built(FastDropoutSimpleRNN(H, **kwargs))
    loop = _built(FastDropoutSimpleRNN(H, fast_path=False, **kwargs))
    out_f, grads_f = _value_and_grads(fused, x, weights, mask)
    out_l, grads_l = _value_and_grads(loop, x, weights, mask)
    for a, b in zip(out_f, out_l):
        np.testing.assert_allclose(a, b, atol=2e-5)
    for gf, gl in zip(grads_f, grads_l):
        np.testing.assert_allclose(gf, gl, rtol=1e-4, atol=1e-4)


# -- noise scope by Monte Carlo, for every kernel ----------------------------------------


def _effective_matrices(inputs, targets):
    """Least-squares ``W_t`` with ``targets[:, t] = inputs[:, t] @ W_t`` for every step t."""
    return np.stack([
        np.linalg.lstsq(inputs[:, t].astype("float64"), targets[:, t].astype("float64"), rcond=None)[0]
        for t in range(inputs.shape[1])
    ])


def _input_kernel_matrices(scope, passes=6):
    """Effective W_ih per step (recovered through atanh) over several passes."""
    sigma = 0.2
    layer = _built(NoisySimpleRNN(H, input_noise="additive", input_sigma=sigma, input_noise_scope=scope,
                                  noise_implementation="exact", seed=1))
    kernel, recurrent, bias = layer.get_weights()
    x = _x(batch=64, steps=5, seed=3) * 0.5
    out = []
    for _ in range(passes):
        hs = _np(layer(x, training=True)).astype("float64")
        prev = np.concatenate([np.zeros_like(hs[:, :1]), hs[:, :-1]], axis=1)
        target = np.arctanh(hs) - prev @ recurrent - bias
        out.append(_effective_matrices(x, target) - kernel)
    return np.stack(out), sigma


def _output_kernel_matrices(scope, passes=6):
    sigma = 0.2
    layer = NoisyDense(4, weight_noise="additive", sigma=sigma, noise_scope=scope, noise_implementation="exact", seed=2)
    x = _x(batch=64, steps=5, seed=4)
    layer.build(x.shape)
    kernel = layer.get_weights()[0]
    clean = _np(layer(x, training=False))
    out = [
        _effective_matrices(x, _np(layer(x, training=True)) - clean) for _ in range(passes)
    ]
    return np.stack(out), sigma


def _recurrent_kernel_matrices(scope, passes=6):
    sigma = 0.2
    layer = _built(NoisySimpleRNN(H, recurrent_noise="additive", sigma=sigma, recurrent_noise_scope=scope,
                                  noise_implementation="exact", seed=3))
    kernel, recurrent, bias = layer.get_weights()
    x = _x(batch=64, steps=6, seed=5) * 0.5
    out = []
    for _ in range(passes):
        hs = _np(layer(x, training=True)).astype("float64")
        target = np.arctanh(hs[:, 1:]) - x[:, 1:] @ kernel - bias
        out.append(_effective_matrices(hs[:, :-1], target) - recurrent)
    return np.stack(out), sigma


@pytest.mark.parametrize("kernel", ["W_ih", "W_hh", "W_ho"])
def test_noise_scope_by_monte_carlo(kernel):
    """For each kernel: per-sequence noise is one matrix for all steps of a pass (and a new
    one each pass), per-step noise a new matrix each step; either way the noise on a weight
    has variance sigma^2 (6 passes x 4-6 steps x 24-36 weights; tolerance 25%, ~4 standard
    errors of a variance estimated from >= 144 independent draws)."""
    recover = {"W_ih": _input_kernel_matrices, "W_hh": _recurrent_kernel_matrices, "W_ho": _output_kernel_matrices}
    per_sequence, sigma = recover[kernel]("sequence")
    per_step, _ = recover[kernel]("step")
    # per sequence: the same matrix at every step of a pass ...
    assert np.abs(per_sequence - per_sequence[:, :1]).max() < 2e-3
    # ... a new one on every pass, with variance sigma^2 per weight.
    draws = per_sequence[:, 0]
    assert min(np.abs(d - draws[0]).max() for d in draws[1:]) > sigma
    assert abs(draws.var() / sigma**2 - 1) < 0.25
    # per step: consecutive steps differ, each with variance sigma^2 per weight.
    diffs = per_step[:, 1:] - per_step[:, :-1]
    assert abs(diffs.var() / (2 * sigma**2) - 1) < 0.25
    assert abs(per_step.var() / sigma**2 - 1) < 0.25
