"""Behaviour of NoisySimpleRNN: equivalence to SimpleRNN, noise scope and statistics.

The noise is observed from the outputs alone. For a layer whose hidden states
stay away from saturation, ``atanh(h_t) - x_t W_ih - b = h_{t-1} W*_t``, so with
more examples than units the effective recurrent matrix ``W*_t`` of every step
is recovered by least squares (exact and per-sequence noise share one matrix
across the batch), and the per-example pre-activation noise of the local
reparameterization is ``atanh(h_t) - x_t W_ih - b - h_{t-1} W_hh``.
"""

import keras
import numpy as np
import pytest

from keras_rnnreg import NoisySimpleRNN

D, H = 6, 8


def _layer(seed=0, **kwargs):
    layer = NoisySimpleRNN(H, seed=seed, **kwargs)
    layer.build((None, None, D))
    rng = np.random.RandomState(42)
    layer.set_weights(
        [
            rng.normal(scale=0.3, size=(D, H)).astype("float32"),
            rng.normal(scale=0.3, size=(H, H)).astype("float32"),
            rng.normal(scale=0.1, size=(H,)).astype("float32"),
        ]
    )
    return layer


def _inputs(batch=64, steps=6, seed=0):
    return np.random.RandomState(seed).normal(scale=0.5, size=(batch, steps, D)).astype("float32")


def _recurrent_part(layer, x, hs):
    """``atanh(h_t) - x_t W_ih - b`` for t >= 1 and the previous states, in float64."""
    kernel, _, bias = (w.astype("float64") for w in layer.get_weights())
    hs = np.asarray(hs, dtype="float64")
    target = np.arctanh(hs[:, 1:]) - x[:, 1:].astype("float64") @ kernel - bias
    return target, hs[:, :-1]


def _effective_kernels(layer, x, hs):
    """Least-squares ``W*_t`` for every step t >= 1: ``(T-1, H, H)``."""
    target, prev = _recurrent_part(layer, x, hs)
    return np.stack(
        [np.linalg.lstsq(prev[:, t], target[:, t], rcond=None)[0] for t in range(prev.shape[1])]
    )


def test_no_regularization_equals_keras_simple_rnn():
    x = _inputs(batch=5, steps=12)
    layer = _layer()
    reference = keras.layers.SimpleRNN(H, return_sequences=True)
    reference.build((None, None, D))
    reference.set_weights(layer.get_weights())
    for training in (False, True):
        np.testing.assert_allclose(layer(x, training=training), reference(x), atol=1e-5)
    last = NoisySimpleRNN(H, return_sequences=False)
    last.build((None, None, D))
    last.set_weights(layer.get_weights())
    np.testing.assert_allclose(last(x), reference(x)[:, -1], atol=1e-5)


@pytest.mark.parametrize(
    "kind,level",
    [("additive", 0.2), ("multiplicative", 0.3), ("dropconnect", 0.3)],
)
def test_per_sequence_noise_is_the_same_at_every_step(kind, level):
    layer = _layer(
        recurrent_noise=kind,
        recurrent_noise_scope="sequence",
        **({"dropconnect_p": level} if kind == "dropconnect" else {"sigma": level}),
    )
    x = _inputs()
    clean = layer.get_weights()[1]
    first = _effective_kernels(layer, x, layer(x, training=True))
    # One matrix for the whole pass ...
    assert np.abs(first - first[0]).max() < 1e-3
    # ... that is not the clean one ...
    assert np.abs(first[0] - clean).max() > 0.05
    # ... and a new one on the next pass.
    second = _effective_kernels(layer, x, layer(x, training=True))
    assert np.abs(second[0] - first[0]).max() > 0.05
    if kind == "dropconnect":
        ratio = first[0] / clean
        assert np.all(np.isclose(ratio, 0.0, atol=1e-3) | np.isclose(ratio, 1 / (1 - level), atol=1e-3))


@pytest.mark.parametrize("kind", ["additive", "multiplicative", "dropconnect"])
def test_exact_per_step_noise_differs_between_steps(kind):
    layer = _layer(
        recurrent_noise=kind,
        recurrent_noise_scope="step",
        **({"dropconnect_p": 0.3} if kind == "dropconnect" else {"sigma": 0.2}),
        noise_implementation="exact",
    )
    x = _inputs()
    kernels = _effective_kernels(layer, x, layer(x, training=True))
    diffs = [np.abs(kernels[t] - kernels[t + 1]).max() for t in range(len(kernels) - 1)]
    assert min(diffs) > 0.05


@pytest.mark.parametrize("scope", ["step", "sequence"])
@pytest.mark.parametrize("kind", ["additive", "multiplicative", "dropconnect"])
def test_inference_uses_clean_weights(kind, scope):
    layer = _layer(
        recurrent_noise=kind, recurrent_noise_scope=scope,
        **({"dropconnect_p": 0.3} if kind == "dropconnect" else {"sigma": 0.3}),
        input_noise="additive", input_sigma=0.3,
    )
    clean = _layer()
    x = _inputs(batch=4)
    np.testing.assert_array_equal(layer(x, training=False), layer(x, training=False))
    np.testing.assert_allclose(layer(x, training=False), clean(x, training=False), atol=1e-6)
    assert np.abs(np.asarray(layer(x, training=True)) - np.asarray(clean(x))).max() > 1e-2
    assert np.abs(np.asarray(layer(x, training=True)) - np.asarray(layer(x, training=True))).max() > 1e-3


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_local_reparameterization_noise_statistics(kind):
    """Per-step LRT noise: standardized pre-activation noise is N(0, 1), white in time.

    Monte Carlo over 512 sequences x 7 steps x 8 units (28,672 draws): the
    standard error of the variance estimate is ~0.008; tolerance 0.05 on mean
    and variance, 0.05 on the lag-1 correlation.
    """
    sigma = 0.25
    layer = _layer(seed=3, recurrent_noise=kind, recurrent_noise_scope="step", sigma=sigma)
    x = _inputs(batch=512, steps=8, seed=1)
    hs = np.asarray(layer(x, training=True), dtype="float64")
    target, prev = _recurrent_part(layer, x, hs)
    clean = layer.get_weights()[1].astype("float64")
    noise = target - prev @ clean
    if kind == "additive":
        scale = sigma * np.sqrt((prev**2).sum(-1, keepdims=True))
    else:
        scale = sigma * np.sqrt((prev**2) @ clean**2)
    z = noise / scale
    assert abs(z.mean()) < 0.05
    assert abs(z.var() - 1.0) < 0.05
    lag1 = np.corrcoef(z[:, :-1].ravel(), z[:, 1:].ravel())[0, 1]
    assert abs(lag1) < 0.05


def test_input_weight_noise_lrt_statistics():
    """Per-step additive noise on W_ih: pre-activation noise variance sigma^2 ||x_t||^2."""
    sigma = 0.2
    layer = _layer(seed=5, input_noise="additive", input_sigma=sigma)
    x = _inputs(batch=512, steps=6, seed=2)
    hs = np.asarray(layer(x, training=True), dtype="float64")
    kernel, recurrent, bias = (w.astype("float64") for w in layer.get_weights())
    prev = np.concatenate([np.zeros_like(hs[:, :1]), hs[:, :-1]], axis=1)
    noise = np.arctanh(hs) - x.astype("float64") @ kernel - bias - prev @ recurrent
    z = noise / (sigma * np.linalg.norm(x, axis=-1, keepdims=True))
    assert abs(z.mean()) < 0.05
    assert abs(z.var() - 1.0) < 0.05


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"units": 0}, "units"),
        ({"units": 4, "recurrent_noise": "gaussian"}, "'additive', 'multiplicative', 'dropconnect'"),
        ({"units": 4, "recurrent_noise_scope": "batch"}, "'step', 'sequence'"),
        ({"units": 4, "sigma": -0.1}, "sigma"),
        ({"units": 4, "dropconnect_p": 1.0}, r"\[0, 1\)"),
        ({"units": 4, "noise_implementation": "fast"}, "'local_reparameterization', 'exact'"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NoisySimpleRNN(**kwargs)


def test_get_config_round_trip():
    layer = NoisySimpleRNN(
        5, recurrent_noise="multiplicative", recurrent_noise_scope="sequence", sigma=0.1,
        kernel_regularizer=keras.regularizers.L1L2(l1=1e-3), seed=7,
    )
    clone = NoisySimpleRNN.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_dropconnect_masks_are_bernoulli_independent_and_reproducible():
    """The hashed 16-bit DropConnect masks: rate, no correlation between neighbours, steps or halves; seeded."""
    from keras_rnnreg.rnn.weight_noise import dropconnect_keep_mask

    rate, shape = 0.2, (50, 120, 121)  # odd width: the high halves are cut
    masks = keras.ops.convert_to_numpy(dropconnect_keep_mask(shape, rate, keras.random.SeedGenerator(5)))
    assert masks.shape == shape and masks.dtype == bool
    n = masks.size
    # Dropped fraction within 5 standard errors of the rate.
    assert abs((1.0 - masks.mean()) - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    x = masks.astype(np.float64) - masks.mean()
    var = x.var()
    # Correlation of neighbours across columns, rows and steps, and of the two
    # halves of a word (columns j and j + 61): 0 within 5 / sqrt(pairs).
    for a, b in ((x[..., 1:], x[..., :-1]), (x[:, 1:], x[:, :-1]), (x[1:], x[:-1]), (x[..., :60], x[..., 61:])):
        assert abs((a * b).mean() / var) < 5 / np.sqrt(a.size)
    again = keras.ops.convert_to_numpy(dropconnect_keep_mask(shape, rate, keras.random.SeedGenerator(5)))
    np.testing.assert_array_equal(masks, again)
    other = keras.ops.convert_to_numpy(dropconnect_keep_mask(shape, rate, keras.random.SeedGenerator(6)))
    assert 0.6 < (masks == other).mean() < 0.72  # independent masks agree w.p. 0.8^2 + 0.2^2 = 0.68
