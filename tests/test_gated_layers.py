"""NoisyLSTM and NoisyGRU: fused loop = cell loop, Keras parity, the RNN features, saving, fit.

- The fused loop and the cell loop (``fast_path=False``) of one layer, called
  with the same seed-generator state (hence the same noise draws and dropout
  mask), give the same outputs and the same gradients with respect to the
  weights and the inputs, for every noise kind and scope on ``W_hh`` and
  ``W_ih``, with and without a mask, forwards and ``go_backwards``
  (tolerances 1e-5 on outputs of order 1, 1e-4 on gradients; float32).
- With the noise off both loops compute what ``keras.layers.LSTM`` /
  ``GRU`` compute with the same weights (and the same dropout mask for the
  same seed): outputs and gradients.
- ``initial_state`` / ``return_state``, ``stateful``, ``Bidirectional`` and
  stacking against Keras's layers; ``.keras`` save and ``safe_mode=True`` load
  in a fresh process; a short ``model.fit``.

Backend-agnostic: run under TensorFlow and ``KERAS_BACKEND=jax``.
"""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

import keras_rnnreg  # noqa: F401  (registers the library's serializables)
from keras_rnnreg.rnn.noisy_gated import NoisyGRU, NoisyLSTM

BACKEND = keras.backend.backend()
D, H = 5, 6
FUSED = BACKEND in ("tensorflow", "jax")

# (our layer, Keras's layer, constructor arguments) of every weight layout.
KINDS = {
    "lstm": (NoisyLSTM, keras.layers.LSTM, {}),
    "lstm_no_bias": (NoisyLSTM, keras.layers.LSTM, {"use_bias": False}),
    "gru": (NoisyGRU, keras.layers.GRU, {}),
    "gru_reset_before": (NoisyGRU, keras.layers.GRU, {"reset_after": False}),
}

# Every noise kind and scope on W_hh, and on W_ih, in a few combinations.
NOISE = {
    "dropout": {"dropout": 0.3},
    "dropconnect_step": {"recurrent_noise": "dropconnect", "dropconnect_p": 0.3,
                         "input_noise": "additive", "input_sigma": 0.2},
    "dropconnect_sequence": {"recurrent_noise": "dropconnect", "dropconnect_p": 0.3,
                             "recurrent_noise_scope": "sequence",
                             "input_noise": "dropconnect", "input_dropconnect_p": 0.2},
    "additive_step": {"recurrent_noise": "additive", "sigma": 0.2,
                      "input_noise": "multiplicative", "input_sigma": 0.3, "input_noise_scope": "sequence"},
    "multiplicative_step": {"recurrent_noise": "multiplicative", "sigma": 0.3, "dropout": 0.2},
    "exact_step": {"recurrent_noise": "multiplicative", "sigma": 0.3, "noise_implementation": "exact",
                   "input_noise": "additive", "input_sigma": 0.2},
    "gaussian_sequence": {"recurrent_noise": "additive", "sigma": 0.2, "recurrent_noise_scope": "sequence",
                          "input_noise": "dropconnect", "input_dropconnect_p": 0.2,
                          "input_noise_scope": "sequence"},
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


def _random_weights(layer, seed=1):
    rng = np.random.RandomState(seed)
    return [rng.normal(scale=0.4, size=w.shape).astype("float32") for w in layer.get_weights()]


def _built(layer, weights=None):
    layer.build((None, None, D))
    layer.set_weights(_random_weights(layer) if weights is None else weights)
    return layer


def _value_and_grads(layer, x, mask=None, training=True, initial_state=None):
    """Outputs and the gradients of ``sum(outputs * fixed weights)`` w.r.t. the weights and ``x``.

    The seed generators' state is the same at every call (restored on
    TensorFlow, passed in on JAX), so every call draws the same noise.
    """
    probe = [np.random.RandomState(7 + i) for i in range(4)]
    kwargs = {"mask": mask, "training": training}
    if initial_state is not None:
        kwargs["initial_state"] = initial_state
    if BACKEND == "tensorflow":
        import tensorflow as tf

        saved = [v.numpy() for v in layer.non_trainable_variables]
        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x, **kwargs)
            out = list(out) if isinstance(out, (list, tuple)) else [out]
            loss = sum(ops.sum(o * p.normal(size=o.shape).astype("float32")) for o, p in zip(out, probe))
        grads = tape.gradient(loss, [*layer.trainable_variables, x])
        for v, value in zip(layer.non_trainable_variables, saved):
            v.assign(value)
        return [_np(o) for o in out], [_np(g) for g in grads]
    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(args):
            tv, xs = args
            out, _ = layer.stateless_call(tv, non_trainable, xs, **kwargs)
            out = list(out) if isinstance(out, (list, tuple)) else [out]
            return sum(ops.sum(o * p.normal(size=o.shape).astype("float32")) for o, p in zip(out, probe)), out

        (_, out), (g_w, g_x) = jax.value_and_grad(loss_fn, has_aux=True)((trainable, x))
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


def _both_loops(layer, x, **kwargs):
    """``(fused, cell loop)`` results of one layer with the same draws."""
    assert layer.fast_path == "auto"
    assert layer.uses_fast_path() == FUSED
    fused = _value_and_grads(layer, x, **kwargs)
    layer.fast_path = False
    try:
        assert not layer.uses_fast_path()
        loop = _value_and_grads(layer, x, **kwargs)
    finally:
        layer.fast_path = "auto"
    return fused, loop


# -- the fused loop = the cell loop ----------------------------------------------------


@pytest.mark.parametrize("masked_backwards", [False, "backwards", True], ids=["plain", "backwards", "masked_backwards"])
@pytest.mark.parametrize("noise", list(NOISE))
@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_reset_before"])
def test_fused_loop_equals_cell_loop(kind, noise, masked_backwards):
    # Unmasked, LSTM and GRU (reset_after) run gated_recurrence's hand-written loops;
    # the rest run Keras's loop.
    cls, _, kwargs = KINDS[kind]
    layer = _built(cls(H, **kwargs, **NOISE[noise], seed=3, go_backwards=bool(masked_backwards)))
    x = _x()
    mask = _mask() if masked_backwards is True else None
    fused, loop = _both_loops(layer, x, mask=mask)
    _assert_same(fused, loop)
    # The draws matter: training differs from inference (clean weights, no dropout).
    clean = _np(layer(x, mask=mask, training=False))
    assert np.abs(fused[0][0] - clean).max() > 1e-2
    if masked_backwards is True:
        # A masked step keeps the state: the output repeats the previous one.
        # Outputs run in processing order. Row 1 is padded after step 4: going backwards
        # those steps come first and keep h0 = 0. Row 3's hole (step 3) is processed fourth.
        out = fused[0][0]
        np.testing.assert_allclose(out[1, :3], 0.0, atol=1e-7)
        np.testing.assert_allclose(out[3, 3], out[3, 2], atol=1e-7)
        assert np.abs(out[3, 4] - out[3, 3]).max() > 1e-3


@pytest.mark.parametrize("noise", ["none", "dropconnect_step", "dropconnect_sequence", "exact_step",
                                   "additive_step", "multiplicative_step"])
@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_reset_before"])
def test_which_loop_runs(kind, noise, monkeypatch):
    """The hand-written loops run unmasked with matrix draws, with tanh / sigmoid, LSTM and GRU (reset_after)."""
    from keras_rnnreg.rnn import gated_recurrence

    calls = []
    for name in ("lstm_recurrence", "gru_recurrence"):
        original = getattr(gated_recurrence, name)
        monkeypatch.setattr(gated_recurrence, name, lambda *a, _f=original, **k: calls.append(1) or _f(*a, **k))
    cls, _, kwargs = KINDS[kind]
    layer = _built(cls(H, **kwargs, **NOISE.get(noise, {}), seed=3))
    x = _x()
    layer(x, training=True)
    # Per-step matrices on JAX: Keras's loop (it measured faster there).
    per_step_matrices = noise in ("dropconnect_step", "exact_step") and BACKEND == "jax"
    expected = FUSED and kind != "gru_reset_before" and not per_step_matrices
    assert len(calls) == int(expected)
    layer(x, mask=_mask(), training=True)
    assert len(calls) == int(expected)  # masks: Keras's loop
    other = _built(cls(H, **kwargs, activation="relu", seed=3))
    other(x, training=True)
    assert len(calls) == int(expected)  # another activation: Keras's loop


def test_noise_drawn_anew_at_every_pass():
    """Per-step DropConnect in the fused loop: two passes over the same input draw anew."""
    layer = _built(NoisyGRU(H, recurrent_noise="dropconnect", dropconnect_p=0.5, seed=0))
    x = np.ones((2, 5, D), "float32")
    first, second = _np(layer(x, training=True)), _np(layer(x, training=True))
    assert np.abs(first - second).max() > 1e-2


# -- noise off: Keras's LSTM / GRU ------------------------------------------------------


@pytest.mark.parametrize("fast_path", ["auto", False])
@pytest.mark.parametrize("masked_backwards", [False, True], ids=["plain", "masked_backwards_dropout"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_noise_off_equals_keras(kind, masked_backwards, fast_path):
    """Training outputs and gradients (with Keras's dropout mask for the same seed in the masked,
    backwards case), and inference outputs."""
    cls, keras_cls, kwargs = KINDS[kind]
    dropout = 0.3 if masked_backwards else 0.0
    common = dict(kwargs, dropout=dropout, seed=5, go_backwards=masked_backwards, return_sequences=True)
    ours = _built(cls(H, fast_path=fast_path, **common))
    assert ours.uses_fast_path() == (FUSED and fast_path == "auto")
    theirs = keras_cls(H, **common)
    theirs.build((None, None, D))
    assert [v.name for v in theirs.trainable_variables] == [v.name for v in ours.trainable_variables]
    theirs.set_weights(ours.get_weights())
    x, mask = _x(), (_mask() if masked_backwards else None)
    _assert_same(_value_and_grads(ours, x, mask=mask), _value_and_grads(theirs, x, mask=mask))
    np.testing.assert_allclose(_np(ours(x, mask=mask)), _np(theirs(x, mask=mask)), atol=1e-5)


@pytest.mark.parametrize("fast_path", ["auto", False])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_initial_state_and_return_state(kind, fast_path):
    cls, keras_cls, kwargs = KINDS[kind]
    ours = _built(cls(H, return_state=True, return_sequences=False, fast_path=fast_path))
    theirs = keras_cls(H, return_state=True)
    theirs.build((None, None, D))
    theirs.set_weights(ours.get_weights())
    n_states = 2 if kind == "lstm" else 1
    rng = np.random.RandomState(4)
    initial = [rng.normal(scale=0.5, size=(4, H)).astype("float32") for _ in range(n_states)]
    mask = _mask()
    got = _value_and_grads(ours, _x(), mask=mask, initial_state=initial)
    _assert_same(got, _value_and_grads(theirs, _x(), mask=mask, initial_state=initial))
    outputs = got[0]
    assert len(outputs) == 1 + n_states
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-7)  # output = h_T
    assert np.abs(outputs[-1] - initial[-1]).max() > 1e-2


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_stateful_continues_the_sequence(kind):
    cls = KINDS[kind][0]
    x = _x(batch=3, steps=8)
    whole = _built(cls(H))
    stateful = cls(H, stateful=True)
    stateful.build((3, None, D))
    stateful.set_weights(whole.get_weights())
    first = _np(stateful(x[:, :5]))
    second = _np(stateful(x[:, 5:]))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), _np(whole(x)), atol=1e-5)
    stateful.reset_states()
    np.testing.assert_allclose(_np(stateful(x[:, :5])), first, atol=1e-6)


@pytest.mark.parametrize("fast_path", ["auto", False])
def test_bidirectional_and_stacking_equal_keras(fast_path):
    """Masking -> Bidirectional(NoisyLSTM) -> NoisyGRU with the noise off equals the same model of
    Keras's layers (the mask reaches every layer); with noise, training differs from inference."""

    def model(lstm, gru):
        inputs = keras.Input((7, D))
        hidden = keras.layers.Masking(0.0)(inputs)
        hidden = keras.layers.Bidirectional(lstm)(hidden)
        return keras.Model(inputs, gru(hidden))

    x = _x()
    x[1, 4:] = 0.0
    x[2, :2] = 0.0
    ours = model(NoisyLSTM(H, fast_path=fast_path), NoisyGRU(H, reset_after=False, fast_path=fast_path))
    theirs = model(keras.layers.LSTM(H, return_sequences=True), keras.layers.GRU(H, reset_after=False,
                                                                                  return_sequences=True))
    weights = _random_weights(theirs)
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(_np(ours(x)), _np(theirs(x)), atol=1e-5)
    np.testing.assert_allclose(_np(ours(x, training=True)), _np(theirs(x, training=True)), atol=1e-5)

    noisy = model(NoisyLSTM(H, recurrent_noise="dropconnect", dropconnect_p=0.3, seed=1, fast_path=fast_path),
                  NoisyGRU(H, reset_after=False, recurrent_noise="additive", sigma=0.3, seed=2,
                           fast_path=fast_path))
    noisy.set_weights(weights)
    np.testing.assert_allclose(_np(noisy(x)), _np(theirs(x)), atol=1e-5)
    assert np.abs(_np(noisy(x, training=True)) - _np(theirs(x))).max() > 1e-2


# -- arguments and config -------------------------------------------------------------------


def test_fast_path_choice_and_fallbacks():
    assert NoisyLSTM(H, fast_path=True).fast_path == "auto"
    assert NoisyGRU(H).uses_fast_path() == FUSED
    assert not NoisyGRU(H, fast_path=False).uses_fast_path()
    # Keras's per-gate recurrent dropout masks and unroll=True run the cell.
    assert not NoisyLSTM(H, recurrent_dropout=0.2).uses_fast_path()
    assert not NoisyLSTM(H, unroll=True).uses_fast_path()
    with pytest.raises(ValueError, match=r"fast_path must be one of \('auto', True, False\); got 'yes'"):
        NoisyLSTM(H, fast_path="yes")
    with pytest.raises(ValueError, match="sigma"):
        NoisyGRU(H, recurrent_noise="additive")


@pytest.mark.parametrize("kind", ["lstm", "gru_reset_before"])
def test_unroll_and_recurrent_dropout_run_the_cell(kind):
    """The cell-loop configurations give the cell's results: unroll=True equals the scan loop."""
    cls, _, kwargs = KINDS[kind]
    args = dict(kwargs, recurrent_noise="dropconnect", dropconnect_p=0.3, recurrent_dropout=0.2, seed=3)
    rolled = _built(cls(H, **args))
    unrolled = _built(cls(H, unroll=True, **args), rolled.get_weights())
    x = _x()
    _assert_same(_value_and_grads(rolled, x), _value_and_grads(unrolled, x))


def test_config_round_trip():
    layer = NoisyLSTM(H, recurrent_noise="dropconnect", dropconnect_p=0.3, recurrent_noise_scope="sequence",
                      input_noise="additive", input_sigma=0.1, dropout=0.1, unit_forget_bias=False,
                      kernel_regularizer=keras.regularizers.L2(1e-3), go_backwards=True, fast_path=False,
                      seed=4, name="lstm")
    config = layer.get_config()
    for key, value in {"units": H, "dropconnect_p": 0.3, "recurrent_noise_scope": "sequence",
                       "input_sigma": 0.1, "unit_forget_bias": False, "go_backwards": True,
                       "fast_path": False, "return_sequences": True, "seed": 4}.items():
        assert config[key] == value, key
    clone = NoisyLSTM.from_config(config)
    assert clone.get_config() == config
    gru = NoisyGRU(H, reset_after=False, recurrent_noise="multiplicative", sigma=0.2,
                   noise_implementation="exact")
    assert NoisyGRU.from_config(gru.get_config()).get_config() == gru.get_config()
    assert gru.get_config()["reset_after"] is False


def test_save_and_load_with_safe_mode_in_a_fresh_process(tmp_path):
    inputs = keras.Input((None, D))
    hidden = keras.layers.Masking(0.0)(inputs)
    hidden = keras.layers.Bidirectional(
        NoisyLSTM(H, recurrent_noise="dropconnect", dropconnect_p=0.3, recurrent_noise_scope="sequence",
                  seed=1, name="lstm"),
        name="both",
    )(hidden)
    hidden = NoisyGRU(H, reset_after=False, recurrent_noise="additive", sigma=0.1, input_noise="dropconnect",
                      input_dropconnect_p=0.2, dropout=0.1, return_sequences=False, name="gru")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    x = _x()
    x[1, 5:] = 0.0
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", _np(model(x)))
    expected_config = {"lstm": model.get_layer("both").forward_layer.get_config(),
                       "gru": model.get_layer("gru").get_config()}
    script = f"""
import json, keras, numpy as np
import keras_rnnreg, keras_rnnreg.rnn.noisy_gated
model = keras.saving.load_model({str(path)!r}, safe_mode=True)
x = np.load({str(tmp_path / "x.npy")!r})
np.testing.assert_allclose(np.asarray(model(x)), np.load({str(tmp_path / "expected.npy")!r}), atol=1e-5)
forward = model.get_layer("both").forward_layer
print(json.dumps({{"types": [type(forward).__name__, type(model.get_layer("gru")).__name__],
                  "lstm": forward.get_config(), "gru": model.get_layer("gru").get_config()}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["types"] == ["NoisyLSTM", "NoisyGRU"]
    for key in ("lstm", "gru"):
        assert loaded[key] == json.loads(json.dumps(expected_config[key])), key


def test_tiny_fit_reduces_the_loss():
    """A few epochs of model.fit (compiled training step on this backend) with noise on both
    layers: the loss is finite and goes down."""
    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    x = rng.normal(size=(32, 6, D)).astype("float32")
    y = (x.sum(axis=(1, 2)) > 0).astype("float32")[:, None]
    model = keras.Sequential([
        keras.Input((6, D)),
        NoisyLSTM(8, recurrent_noise="dropconnect", dropconnect_p=0.2, input_noise="additive", input_sigma=0.05,
                  seed=1),
        NoisyGRU(8, recurrent_noise="multiplicative", sigma=0.05, recurrent_noise_scope="sequence",
                 return_sequences=False, seed=2),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=8, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert model.evaluate(x, y, verbose=0) < 0.8 * before


# -- cuDNN's LSTM on a JAX GPU (keras_rnnreg.rnn.cudnn) -----------------------------------

ON_JAX = pytest.mark.skipif(BACKEND != "jax", reason="the cuDNN handover is made on the JAX backend only")


def _reference_cudnn(monkeypatch):
    """Make the handover run on this machine and count its calls.

    cuDNN's kernel needs a GPU; in its place runs JAX's reference LSTM
    (``jax.experimental.rnn.lstm_ref``, which JAX's own tests hold against
    cuDNN), unpacking the same flat weight vector. Everything of ours around
    the kernel (weight layout, perturbed matrices, go_backwards, states,
    gradients through the noise) runs as on a GPU.
    """
    from jax.experimental import rnn

    from keras_rnnreg.rnn import cudnn

    calls = []

    def lstm(x, h0, c0, weights, seq_lengths, input_size, hidden_size, num_layers, dropout, bidirectional,
             precision=None):
        calls.append(tuple(x.shape))
        unpacked = rnn.unpack_lstm_weights(weights, input_size, hidden_size, num_layers, bidirectional)
        return rnn.lstm_ref(x, h0, c0, *unpacked, seq_lengths, input_size, hidden_size, num_layers, dropout,
                            bidirectional)

    monkeypatch.setattr(rnn, "lstm", lstm)
    monkeypatch.setattr(cudnn, "available", lambda: True)
    return calls


def test_cudnn_is_available_only_on_a_jax_gpu():
    from keras_rnnreg.rnn import cudnn

    if BACKEND != "jax":
        assert not cudnn.available()
    else:
        import jax

        assert cudnn.available() == (jax.default_backend() == "gpu")


# Per-sequence noise on both kernels (one W*_ih, one W*_hh a pass), with Keras's input dropout.
PER_SEQUENCE = {"recurrent_noise": "dropconnect", "dropconnect_p": 0.3, "recurrent_noise_scope": "sequence",
                "input_noise": "multiplicative", "input_sigma": 0.3, "input_noise_scope": "sequence",
                "dropout": 0.2}


@ON_JAX
@pytest.mark.parametrize("variant", ["sequences", "backwards", "states", "last"])
@pytest.mark.parametrize("noise", ["none", "per_sequence", "gaussian_sequence"])
def test_cudnn_handover_equals_the_fused_loop(noise, variant, monkeypatch):
    """Same draws, same outputs and gradients (weights, inputs) as the layer's own fused loop."""
    extra = {"backwards": {"go_backwards": True}, "states": {"return_state": True},
             "last": {"return_sequences": False}}.get(variant, {})
    noise_args = PER_SEQUENCE if noise == "per_sequence" else NOISE.get(noise, {})
    for kind in ("lstm", "lstm_no_bias"):
        layer = _built(NoisyLSTM(H, **KINDS[kind][2], **noise_args, seed=3, **extra))
        x = _x()
        rng = np.random.RandomState(5)
        initial = [rng.normal(size=(4, H)).astype("float32") for _ in range(2)] if variant == "states" else None
        ours = _value_and_grads(layer, x, initial_state=initial)
        with monkeypatch.context() as patch:
            calls = _reference_cudnn(patch)
            handed = _value_and_grads(layer, x, initial_state=initial)
        assert calls == [(4, 7, D)]
        _assert_same(handed, ours)
        if noise != "none":
            clean = _value_and_grads(layer, x, training=False, initial_state=initial)
            assert np.abs(handed[0][0] - clean[0][0]).max() > 1e-2  # the draws reached cuDNN's weights


@ON_JAX
@pytest.mark.parametrize("case", ["dropconnect_step", "additive_step", "exact_step", "dropconnect_sequence", "masked",
                                  "gru", "relu"])
def test_cudnn_handover_only_where_one_matrix_computes_the_pass(case, monkeypatch):
    calls = _reference_cudnn(monkeypatch)
    kwargs = {"relu": {"activation": "relu"}}.get(case, NOISE.get(case, {}))
    layer = _built((NoisyGRU if case == "gru" else NoisyLSTM)(H, **kwargs, seed=3))
    layer(_x(), mask=_mask() if case == "masked" else None, training=True)
    assert calls == []
    _built(NoisyLSTM(H, seed=3))(_x(), training=True)
    assert len(calls) == 1
