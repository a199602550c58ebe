"""NoisyLSTMCell and NoisyGRUCell: Keras parity, Keras's dropout, weight noise by Monte Carlo.

- With every regularizer off and the same weights, the cells inside
  ``keras.layers.RNN`` compute what ``keras.layers.LSTM`` / ``GRU`` compute:
  outputs and gradients, with masking and ``go_backwards`` (tolerance 1e-5 on
  values of order 1; float32).
- ``dropout`` / ``recurrent_dropout``: the same masks as Keras's cells for the
  same seed (hence the same training outputs), at the requested rate.
- Weight noise on the gated recurrent kernel, observed from the cell's outputs:
  with linear gates or a constant activation, one step from one-hot states
  ``h_{t-1} = e_j`` gives row ``j`` of every gate block of the effective
  ``W*_hh`` exactly (:func:`_effective_recurrent_kernel`). The steps of one
  pass are run as ``keras.layers.RNN`` runs them (masks and the pass's draws
  before the loop, the step counter carried in the state), so each step's
  ``W*`` is seen. Inside ``keras.layers.RNN`` itself (TF's while loop, JAX's
  scan) the candidate block's ``W*`` of each step is recovered by least squares.
- ``get_config`` round trip and ``.keras`` save / ``safe_mode=True`` load.

Backend-agnostic: run under TensorFlow and ``KERAS_BACKEND=jax``. All draws use
fixed seeds; tolerances are stated at each check (about 5 standard errors).
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_rnnreg
from keras_rnnreg.rnn.gated import NoisyGRUCell, NoisyLSTMCell

BACKEND = keras.backend.backend()
D, H = 5, 6


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _x(batch=4, steps=7, seed=0):
    return np.random.RandomState(seed).normal(scale=0.7, size=(batch, steps, D)).astype("float32")


def _random_weights(layer, seed=1):
    rng = np.random.RandomState(seed)
    return [rng.normal(scale=0.4, size=w.shape).astype("float32") for w in layer.get_weights()]


# (our cell, Keras's layer, constructor arguments) of every weight layout.
KINDS = {
    "lstm": (NoisyLSTMCell, keras.layers.LSTM, {}),
    "lstm_no_bias": (NoisyLSTMCell, keras.layers.LSTM, {"use_bias": False}),
    "gru": (NoisyGRUCell, keras.layers.GRU, {}),
    "gru_reset_before": (NoisyGRUCell, keras.layers.GRU, {"reset_after": False}),
}


def _pair(kind, layer_kwargs=None, **cell_kwargs):
    """Our cell in ``keras.layers.RNN`` and Keras's layer, built with the same random weights."""
    cell_cls, keras_cls, kwargs = KINDS[kind]
    layer_kwargs = layer_kwargs or {}
    ours = keras.layers.RNN(cell_cls(H, **kwargs, **cell_kwargs), **layer_kwargs)
    theirs = keras_cls(H, **kwargs, **cell_kwargs, **layer_kwargs)
    for layer in (ours, theirs):
        layer.build((None, None, D))
    weights = _random_weights(theirs)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in weights]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def _value_and_grads(layer, x, mask=None, training=True):
    """Outputs and the gradients of ``sum(outputs * fixed weights)`` w.r.t. the weights and ``x``."""
    probe = [np.random.RandomState(7 + i) for i in range(4)]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x, mask=mask, training=training)
            out = list(out) if isinstance(out, (list, tuple)) else [out]
            loss = sum(ops.sum(o * p.normal(size=o.shape).astype("float32")) for o, p in zip(out, probe))
        grads = tape.gradient(loss, [*layer.trainable_variables, x])
        return [_np(o) for o in out], [_np(g) for g in grads]
    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(args):
            tv, xs = args
            out, _ = layer.stateless_call(tv, non_trainable, xs, mask=mask, training=training)
            out = list(out) if isinstance(out, (list, tuple)) else [out]
            return sum(ops.sum(o * p.normal(size=o.shape).astype("float32")) for o, p in zip(out, probe)), out

        (_, out), (g_w, g_x) = jax.value_and_grad(loss_fn, has_aux=True)((trainable, x))
        return [_np(o) for o in out], [_np(g) for g in [*g_w, g_x]]
    pytest.skip(f"no gradient helper for backend {BACKEND}")


# -- parity with Keras's LSTM / GRU ------------------------------------------------------


@pytest.mark.parametrize("masked_backwards", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_without_regularizers_equals_keras_outputs_and_gradients(kind, masked_backwards):
    x = _x()
    mask = None
    layer_kwargs = {"return_sequences": True, "return_state": True}
    if masked_backwards:
        layer_kwargs["go_backwards"] = True
        mask = np.ones((4, 7), dtype=bool)
        mask[1, 5:] = mask[3, 2:] = False  # right padding, of two lengths
    ours, theirs = _pair(kind, layer_kwargs)
    for training in (False, True):
        out_ours, grads_ours = _value_and_grads(ours, x, mask, training)
        out_theirs, grads_theirs = _value_and_grads(theirs, x, mask, training)
        assert len(out_ours) == len(out_theirs) == (3 if kind.startswith("lstm") else 2)
        for a, b in zip(out_ours, out_theirs):
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
        assert len(grads_ours) == len(grads_theirs)
        for a, b in zip(grads_ours, grads_theirs):
            assert np.abs(b).max() > 1e-3  # a gradient that can differ
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_reset_before"])
@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.3, 0.2), (0.0, 0.25)])
def test_keras_dropout_masks_and_training_outputs(kind, rates):
    dropout, recurrent_dropout = rates
    x = _x(batch=8)
    ours, theirs = _pair(kind, {"return_sequences": True}, dropout=dropout, recurrent_dropout=recurrent_dropout,
                         seed=11)
    # Same seed, same masks: the training outputs are Keras's (and differ from inference).
    np.testing.assert_allclose(_np(ours(x, training=True)), _np(theirs(x, training=True)), atol=1e-5)
    assert np.abs(_np(ours(x, training=True)) - _np(ours(x, training=False))).max() > 1e-2
    np.testing.assert_allclose(_np(ours(x, training=False)), _np(theirs(x, training=False)), atol=1e-5)

    # The masks themselves, drawn through Keras's protocol on a large batch:
    # Keras's (one per gate when recurrent_dropout > 0) at the requested rate.
    cell_cls, keras_cell_cls = ((NoisyLSTMCell, keras.layers.LSTMCell) if kind == "lstm"
                                else (NoisyGRUCell, keras.layers.GRUCell))
    cell = cell_cls(H, dropout=dropout, recurrent_dropout=recurrent_dropout, seed=5)
    reference = keras_cell_cls(H, dropout=dropout, recurrent_dropout=recurrent_dropout, seed=5)
    step, state = ops.ones((4000, D)), ops.ones((4000, H))
    for rate, ours_mask, theirs_mask in (
        (dropout, cell.get_dropout_mask(step), reference.get_dropout_mask(step)),
        (recurrent_dropout, cell.get_recurrent_dropout_mask(state), reference.get_recurrent_dropout_mask(state)),
    ):
        if rate == 0:
            assert ours_mask is None and theirs_mask is None
            continue
        gates = {"lstm": 4}.get(kind, 3)
        ours_masks = ours_mask if recurrent_dropout > 0 else [ours_mask]
        theirs_masks = theirs_mask if recurrent_dropout > 0 else [theirs_mask]
        assert len(ours_masks) == len(theirs_masks) == (gates if recurrent_dropout > 0 else 1)
        for a, b in zip(ours_masks, theirs_masks):
            a, b = _np(a), _np(b)
            np.testing.assert_array_equal(a, b)
            # Dropped fraction: 20,000+ entries, standard error < 0.0035; tolerance 0.02.
            assert abs((a == 0).mean() - rate) < 0.02
            np.testing.assert_allclose(a[a != 0], 1.0 / (1.0 - rate), rtol=1e-6)
        if len(ours_masks) > 1:
            assert not np.array_equal(_np(ours_masks[0]), _np(ours_masks[1]))


# -- the effective recurrent kernel, one step at a time ----------------------------------

U = 16  # units of the Monte Carlo cells: W_hh is (16, 64) for the LSTM, (16, 48) for the GRU


def _identity(z):
    return z


def _ones(z):
    return ops.ones_like(z)


def _clean_weights(cell_cls, seed=3, gru_reset_after=True):
    rng = np.random.RandomState(seed)
    width = (4 if cell_cls is NoisyLSTMCell else 3) * U
    kernel = rng.normal(scale=0.3, size=(D, width)).astype("float32")
    # No weight near zero: a DropConnect zero is then unambiguous.
    recurrent = (rng.choice([-1, 1], size=(U, width)) * rng.uniform(0.2, 1.0, size=(U, width))).astype("float32")
    if cell_cls is NoisyGRUCell and gru_reset_after:
        bias = rng.normal(scale=0.1, size=(2, width)).astype("float32")
    else:
        bias = rng.normal(scale=0.1, size=(width,)).astype("float32")
    return [kernel, recurrent, bias]


def _run_pass(cell, h_rows, c_rows=None, steps=1):
    """The states after each of ``steps`` steps of one training pass, every step from ``(h_rows, c_rows)``.

    Runs the cell as ``keras.layers.RNN`` does (the DropoutRNNCell protocol
    around the loop, the step counter carried from step to step), but feeds
    the same chosen states at every step so that each step's noise is seen
    on the same probe. Inputs are zeros (no input-kernel contribution).
    """
    batch = h_rows.shape[0]
    zeros = ops.zeros((batch, D))
    cell.get_dropout_mask(zeros)
    cell.get_recurrent_dropout_mask(ops.convert_to_tensor(h_rows))
    counter = cell.get_initial_state(batch)[-1] if cell.counts_steps else None
    own = [h_rows] if c_rows is None else [h_rows, c_rows]
    results = []
    for _ in range(steps):
        states = [ops.convert_to_tensor(s) for s in own] + ([counter] if counter is not None else [])
        _, new = cell(zeros, states, training=True)
        if counter is not None:
            counter = new[-1]
        results.append([_np(s) for s in new[: len(own)]])
    cell.reset_dropout_mask()
    return results


def _lstm_cell(recurrent_activation, activation, weights, **noise):
    cell = NoisyLSTMCell(U, recurrent_activation=recurrent_activation, activation=activation, **noise)
    cell.build((None, D))
    cell.set_weights(weights)
    return cell


def _effective_lstm_kernels(noise, steps, weights, passes=1):
    """``(steps, U, 4U)``: the effective ``W*_hh`` (all four gate blocks) at each step of one pass.

    With ``passes > 1``, ``(passes, steps, U, 4U)`` from consecutive passes of the same cells.

    Two cells with the same seed draw the same noise. With ``activation``
    constant 1 and linear gates, ``c_t = z_f c_{t-1} + z_i`` and ``h_t = z_o``:
    from ``h_{t-1} = e_j`` and ``c_{t-1} = 0`` or ``1``, ``z = e_j W* + b``
    gives rows ``j`` of the i, f, o blocks. With linear activation and gates
    constant 1, ``h_t = c_{t-1} + z_c`` gives the c block.
    """
    eye = np.eye(U, dtype="float32")
    b_i, b_f, b_c, b_o = np.split(weights[2], 4)
    gates = _lstm_cell(_identity, _ones, weights, **noise)
    candidate = _lstm_cell(_ones, _identity, weights, **noise)
    h_rows = np.concatenate([eye, eye])
    c_rows = np.concatenate([np.zeros((U, U)), np.ones((U, U))]).astype("float32")
    all_passes = []
    for _ in range(passes):
        gate_steps = _run_pass(gates, h_rows, c_rows, steps)
        candidate_steps = _run_pass(candidate, eye, np.zeros((U, U), "float32"), steps)
        kernels = []
        for (h, c), (h_c, _) in zip(gate_steps, candidate_steps):
            w_i = c[:U] - b_i
            w_f = c[U:] - c[:U] - b_f
            w_o = h[:U] - b_o
            w_c = h_c - b_c
            kernels.append(np.concatenate([w_i, w_f, w_c, w_o], axis=1))
        all_passes.append(np.stack(kernels))
    return all_passes[0] if passes == 1 else np.stack(all_passes)


def _effective_gru_candidate_kernels(noise, steps, weights, reset_after):
    """``(steps, U, U)``: the candidate block of the effective ``W*_hh`` of a GRU, per step.

    Biases of +-60 saturate the sigmoid gates exactly in float32 (z = 0,
    r = 1, whatever the noise), and with a linear activation
    ``h_t = hh = h_{t-1} W*_h + b``: row ``j`` from ``h_{t-1} = e_j``.
    """
    weights = [w.copy() for w in weights]
    bias = weights[2]
    input_bias = bias[0] if reset_after else bias
    input_bias[:U], input_bias[U : 2 * U] = -60.0, 60.0
    cell = NoisyGRUCell(U, activation=_identity, reset_after=reset_after, **noise)
    cell.build((None, D))
    cell.set_weights(weights)
    b_h = input_bias[2 * U :] + (bias[1][2 * U :] if reset_after else 0.0)
    return np.stack([h - b_h for (h,) in _run_pass(cell, np.eye(U, dtype="float32"), steps=steps)])


@pytest.fixture(scope="module")
def lstm_weights():
    return _clean_weights(NoisyLSTMCell)


def test_effective_kernel_probe_recovers_the_clean_kernel(lstm_weights):
    # The probe itself: with noise off (training or not) it reads back W_hh.
    kernels = _effective_lstm_kernels({}, 2, lstm_weights)
    np.testing.assert_allclose(kernels, np.broadcast_to(lstm_weights[1], kernels.shape), atol=1e-5)
    for reset_after in (True, False):
        weights = _clean_weights(NoisyGRUCell, gru_reset_after=reset_after)
        candidate = _effective_gru_candidate_kernels({}, 1, weights, reset_after)
        np.testing.assert_allclose(candidate[0], weights[1][:, 2 * U :], atol=1e-5)


STEPS = 12  # steps of the Monte Carlo pass: 12 x 16 x 64 = 12,288 recurrent weights (3,072 per gate block)


@pytest.mark.parametrize("scope", ["step", "sequence"])
def test_dropconnect_on_every_lstm_gate_block(lstm_weights, scope):
    p = 0.3
    noise = {"recurrent_noise": "dropconnect", "dropconnect_p": p, "recurrent_noise_scope": scope, "seed": 21}
    kernels, next_pass = _effective_lstm_kernels(noise, STEPS, lstm_weights, passes=2)
    clean = lstm_weights[1]
    dropped = np.abs(kernels) < 1e-5
    # Every kept weight is the clean one scaled by 1 / (1 - p).
    np.testing.assert_allclose(kernels[~dropped], np.broadcast_to(clean / (1 - p), kernels.shape)[~dropped],
                               rtol=1e-4, atol=1e-5)
    independent = STEPS if scope == "step" else 1
    for block in np.split(dropped, 4, axis=2):
        # Dropped fraction per gate block: n = 3,072 (step) or 256 (sequence)
        # independent weights; standard error 0.0083 / 0.029; tolerance 5 of them.
        n = block[:independent].size
        assert abs(block[:independent].mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    if scope == "sequence":
        # One mask for the whole pass.
        assert all(np.array_equal(dropped[0], d) for d in dropped[1:])
        # ... and a new one for the next pass.
        assert not np.array_equal(np.abs(next_pass[0]) < 1e-5, dropped[0])
    else:
        # Fresh masks at every step: consecutive masks agree on p^2 + (1 - p)^2 = 0.58
        # of the weights if independent (n = 11 x 1,024, standard error 0.005; tolerance 0.03).
        agree = np.mean(dropped[1:] == dropped[:-1])
        assert abs(agree - (p**2 + (1 - p) ** 2)) < 0.03


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
@pytest.mark.parametrize("scope", ["step", "sequence"])
def test_gaussian_noise_on_every_lstm_gate_block(lstm_weights, kind, scope):
    sigma = 0.2
    noise = {"recurrent_noise": kind, "sigma": sigma, "recurrent_noise_scope": scope, "seed": 4,
             "noise_implementation": "exact"}
    kernels = _effective_lstm_kernels(noise, STEPS, lstm_weights)
    clean = lstm_weights[1]
    delta = kernels - clean
    if kind == "multiplicative":
        delta = delta / clean  # W* = W + W * Delta
    independent = STEPS if scope == "step" else 1
    for block in np.split(delta[:independent], 4, axis=2):
        n = block.size
        # Mean 0 (standard error sigma / sqrt(n)) and standard deviation sigma
        # (relative standard error 1 / sqrt(2 n)): tolerances 5 standard errors.
        assert abs(block.mean()) < 5 * sigma / np.sqrt(n)
        assert abs(block.std() / sigma - 1) < 5 / np.sqrt(2 * n)
    if scope == "sequence":
        np.testing.assert_allclose(delta, np.broadcast_to(delta[0], delta.shape), atol=1e-4)
    else:
        # Independent draws per step: correlation of consecutive perturbations
        # ~ N(0, 1 / n), n = 11,264; tolerance 0.05 (5.3 standard errors).
        corr = np.corrcoef(delta[1:].ravel(), delta[:-1].ravel())[0, 1]
        assert abs(corr) < 0.05


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_local_reparameterization_noise_per_example(lstm_weights, kind):
    # Per-step Gaussian noise, default implementation: per-example noise of each
    # pre-activation, e_j W* + b - (e_j W + b) ~ N(0, sigma^2 s^2) with s = 1
    # (additive, |e_j| = 1) or |W_jk| (multiplicative).
    sigma = 0.2
    noise = {"recurrent_noise": kind, "sigma": sigma, "seed": 8}
    kernels = _effective_lstm_kernels(noise, STEPS, lstm_weights)
    clean = lstm_weights[1]
    scale = 1.0 if kind == "additive" else np.abs(clean)
    # The i and o blocks come from one example per row (the f block is a difference of two).
    for block in (0, 3):
        cols = slice(block * U, (block + 1) * U)
        z = ((kernels - clean) / (sigma * scale))[:, :, cols]
        # n = 3,072 standard normals: tolerances 5 standard errors.
        assert abs(z.mean()) < 5 / np.sqrt(z.size)
        assert abs(z.std() - 1) < 5 / np.sqrt(2 * z.size)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("scope", ["step", "sequence"])
def test_dropconnect_on_the_gru_candidate_block(scope, reset_after):
    p = 0.25
    weights = _clean_weights(NoisyGRUCell, gru_reset_after=reset_after)
    noise = {"recurrent_noise": "dropconnect", "dropconnect_p": p, "recurrent_noise_scope": scope, "seed": 2}
    kernels = _effective_gru_candidate_kernels(noise, STEPS, weights, reset_after)
    clean = weights[1][:, 2 * U :]
    dropped = np.abs(kernels) < 1e-5
    np.testing.assert_allclose(kernels[~dropped], np.broadcast_to(clean / (1 - p), kernels.shape)[~dropped],
                               rtol=1e-4, atol=1e-5)
    independent = dropped[: STEPS if scope == "step" else 1]
    # n = 3,072 or 256: tolerance 5 standard errors.
    assert abs(independent.mean() - p) < 5 * np.sqrt(p * (1 - p) / independent.size)
    same_every_step = all(np.array_equal(dropped[0], d) for d in dropped[1:])
    assert same_every_step == (scope == "sequence")


# -- inside keras.layers.RNN (TensorFlow's while loop, JAX's scan) -----------------------


def _candidate_kernels_in_keras_rnn(noise, steps=6, batch=48, seed=0):
    """Per step, the c block of ``W*_hh`` of a ``NoisyLSTMCell`` run by ``keras.layers.RNN``.

    Gates constant 1 and a linear activation: ``h_t = h_{t-1} + h_{t-1} W*_c + b_c``
    (zero inputs), so with more examples than units each step's ``W*_c`` is
    the least-squares solution from the returned states.
    """
    weights = _clean_weights(NoisyLSTMCell, seed=5)
    weights[1] *= 0.2  # keep the linear recurrence bounded over the steps
    cell = _lstm_cell(_ones, _identity, weights, **noise)
    layer = keras.layers.RNN(cell, return_sequences=True)
    rng = np.random.RandomState(seed)
    h0 = rng.normal(size=(batch, U)).astype("float32")
    initial = cell.get_initial_state(batch)
    initial[0] = initial[1] = h0  # h_0 = c_0
    hs = _np(layer(np.zeros((batch, steps, D), "float32"), initial_state=initial, training=True))
    hs = np.concatenate([h0[:, None], hs], axis=1).astype("float64")
    b_c = weights[2][2 * U : 3 * U]
    return np.stack([
        np.linalg.lstsq(hs[:, t], hs[:, t + 1] - hs[:, t] - b_c, rcond=None)[0] for t in range(steps)
    ]), weights[1][:, 2 * U : 3 * U]


def test_per_step_and_per_sequence_dropconnect_inside_keras_rnn():
    p = 0.4
    for scope in ("step", "sequence"):
        noise = {"recurrent_noise": "dropconnect", "dropconnect_p": p, "recurrent_noise_scope": scope, "seed": 9}
        kernels, clean = _candidate_kernels_in_keras_rnn(noise)
        dropped = np.abs(kernels) < 1e-3
        np.testing.assert_allclose(kernels[~dropped], np.broadcast_to(clean / (1 - p), kernels.shape)[~dropped],
                                   rtol=1e-3, atol=1e-3)
        same_every_step = all(np.array_equal(dropped[0], d) for d in dropped[1:])
        # Per step: 6 fresh masks of 256 weights (1,536; standard error 0.0125; tolerance 0.07).
        assert same_every_step == (scope == "sequence")
        if scope == "step":
            assert abs(dropped.mean() - p) < 0.07


# -- configuration, validation, serialization ---------------------------------------------


def test_config_round_trip_and_keras_fields():
    lstm = NoisyLSTMCell(
        7, recurrent_noise="dropconnect", dropconnect_p=0.2, recurrent_noise_scope="sequence",
        input_noise="additive", input_sigma=0.1, dropout=0.1, recurrent_dropout=0.2, seed=3,
        unit_forget_bias=False, kernel_regularizer=keras.regularizers.L1L2(l1=1e-4, l2=1e-3),
    )
    gru = NoisyGRUCell(7, recurrent_noise="multiplicative", sigma=0.3, reset_after=False, seed=1,
                       noise_implementation="exact")
    for cell, keras_cell in ((lstm, keras.layers.LSTMCell(7)), (gru, keras.layers.GRUCell(7))):
        config = cell.get_config()
        # Every field of Keras's cell, under the same name.
        assert set(keras_cell.get_config()) <= set(config)
        clone = type(cell).from_config(config)
        assert clone.get_config() == config
    assert lstm.get_config()["unit_forget_bias"] is False
    assert lstm.get_config()["dropconnect_p"] == 0.2 and lstm.get_config()["input_sigma"] == 0.1
    assert gru.get_config()["reset_after"] is False and gru.get_config()["sigma"] == 0.3
    # A WeightNoise object with its own seed survives the round trip.
    noise = keras_rnnreg.WeightNoise("additive", 0.1, scope="sequence", seed=5)
    cell = NoisyGRUCell(4, recurrent_noise=noise)
    assert NoisyGRUCell.from_config(cell.get_config()).recurrent_weight_noise == noise


@pytest.mark.parametrize("cls", [NoisyLSTMCell, NoisyGRUCell])
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"recurrent_noise": "dropconnect"}, "dropconnect_p"),
        ({"recurrent_noise": "additive", "sigma": 0.0}, "sigma"),
        ({"recurrent_noise": "gaussian", "sigma": 0.1}, "'additive', 'multiplicative', 'dropconnect'"),
        ({"recurrent_noise": "additive", "sigma": 0.1, "recurrent_noise_scope": "batch"}, "'step', 'sequence'"),
        ({"sigma": 0.1}, "recurrent_noise is None"),
        ({"input_noise": "dropconnect", "input_dropconnect_p": 1.5}, "input_dropconnect_p"),
        ({"dropout": 1.0}, "dropout"),
        ({"recurrent_dropout": -0.1}, "recurrent_dropout"),
        ({"noise_implementation": "fast"}, "'local_reparameterization', 'exact'"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_valid_ones(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(4, **kwargs)
    with pytest.raises(ValueError, match="units"):
        cls(0)


def test_state_carries_a_step_counter_only_with_per_step_noise():
    assert NoisyLSTMCell(3).state_size == [3, 3]
    assert NoisyGRUCell(3).state_size == 3
    per_step = {"recurrent_noise": "additive", "sigma": 0.1}
    per_sequence = {**per_step, "recurrent_noise_scope": "sequence"}
    assert NoisyLSTMCell(3, **per_step).state_size == [3, 3, 2]
    assert NoisyGRUCell(3, **per_step).state_size == [3, 2]
    assert NoisyLSTMCell(3, **per_sequence).state_size == [3, 3]
    cell = NoisyLSTMCell(3, **per_step)
    cell.build((None, D))
    with pytest.raises(ValueError, match="step counter"):
        cell(ops.zeros((2, D)), [ops.zeros((2, 3)), ops.zeros((2, 3))], training=True)


def test_library_initializers_apply_per_gate_block():
    radius = 1.1
    init = keras_rnnreg.SpectralRadius(keras_rnnreg.SparseGaussian(k=3, seed=0), radius=radius)
    for cls, gates in ((NoisyLSTMCell, 4), (NoisyGRUCell, 3)):
        cell = cls(8, recurrent_initializer=init)
        cell.build((None, D))
        blocks = np.split(_np(cell.recurrent_kernel), gates, axis=1)
        for block in blocks:
            assert abs(keras_rnnreg.spectral_radius(block) - radius) < 1e-4
            assert ((block != 0).sum(axis=0) == 3).all()
        assert not np.array_equal(blocks[0], blocks[1])
    # Keras's initializers still cover the whole kernel (orthogonal rows of (8, 32)).
    cell = NoisyLSTMCell(8)
    cell.build((None, D))
    w = _np(cell.recurrent_kernel)
    np.testing.assert_allclose(w @ w.T, np.eye(8), atol=1e-4)
    # unit_forget_bias: Keras's forget block of ones.
    np.testing.assert_array_equal(_np(cell.bias)[8:16], 1.0)
    np.testing.assert_array_equal(np.delete(_np(cell.bias), np.s_[8:16]), 0.0)


def test_regularizers_add_losses():
    cell = NoisyLSTMCell(4, recurrent_regularizer=keras.regularizers.L2(0.1))
    layer = keras.layers.RNN(cell)
    layer.build((None, None, D))
    expected = 0.1 * np.sum(_np(cell.recurrent_kernel) ** 2)
    layer(_x())
    np.testing.assert_allclose(sum(_np(loss) for loss in layer.losses), expected, rtol=1e-5)


def test_save_and_load_with_safe_mode(tmp_path):
    # The user path: the cells are public names, registered by `import keras_rnnreg` alone.
    assert {"NoisyLSTMCell", "NoisyGRUCell"} <= set(dir(keras_rnnreg))
    inputs = keras.Input((None, D))
    a = keras.layers.RNN(
        NoisyLSTMCell(H, recurrent_noise="dropconnect", dropconnect_p=0.3, recurrent_noise_scope="sequence",
                      input_noise="additive", input_sigma=0.1, dropout=0.1, seed=2,
                      recurrent_initializer=keras_rnnreg.SpectralRadius(keras_rnnreg.SparseGaussian(k=2), 1.1)),
        return_sequences=True,
    )(inputs)
    b = keras.layers.Bidirectional(
        keras.layers.RNN(NoisyGRUCell(H, recurrent_noise="multiplicative", sigma=0.2, reset_after=False, seed=4),
                         return_sequences=True)
    )(a)
    c = keras.layers.RNN([NoisyGRUCell(H), NoisyLSTMCell(H, recurrent_dropout=0.2)])(b)
    model = keras.Model(inputs, c)
    x = _x()
    path = tmp_path / "gated.keras"
    model.save(path)
    # A fresh process importing only keras_rnnreg loads it with safe_mode=True.
    import subprocess
    import sys

    np.save(tmp_path / "x.npy", x)
    code = (
        "import keras, numpy as np, keras_rnnreg\n"
        f"m = keras.saving.load_model({str(path)!r}, safe_mode=True)\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, keras.ops.convert_to_numpy(m(np.load({str(tmp_path / 'x.npy')!r}))))\n"
        "print(type(m.layers[1].cell).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NoisyLSTMCell" in result.stdout
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), _np(model(x)), atol=1e-6)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.layers[1].cell.get_config() == model.layers[1].cell.get_config()
