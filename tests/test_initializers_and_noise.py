"""Initializers (sparse, spectral radius) and the weight-noise samplers."""

import keras
import numpy as np
import pytest

from keras_rnnreg import NoisyDense, SparseGaussian, SpectralRadius, spectral_radius
from keras_rnnreg.rnn import weight_noise as noise_lib


@pytest.mark.parametrize("shape,k", [((200, 200), 15), ((88, 50), 10), ((5, 7), 9)])
def test_sparse_gaussian_has_exactly_k_nonzeros_per_unit(shape, k):
    weights = keras.ops.convert_to_numpy(SparseGaussian(k=k, stddev=0.5, seed=1)(shape))
    np.testing.assert_array_equal((weights != 0).sum(axis=0), min(k, shape[0]))
    nonzero = weights[weights != 0]
    if nonzero.size >= 500:  # enough draws for a 10% check of the std
        assert abs(nonzero.std() - 0.5) < 0.05


def test_sparse_gaussian_is_seeded():
    a = SparseGaussian(k=3, seed=4)((20, 20))
    b = SparseGaussian(k=3, seed=4)((20, 20))
    c = SparseGaussian(k=3, seed=5)((20, 20))
    np.testing.assert_array_equal(a, b)
    assert np.any(np.asarray(a) != np.asarray(c))


@pytest.mark.parametrize("radius", [0.9, 1.1, 1.2])
def test_spectral_radius_is_hit(radius):
    init = SpectralRadius(SparseGaussian(k=15, seed=0), radius=radius)
    weights = keras.ops.convert_to_numpy(init((200, 200)))
    assert abs(spectral_radius(weights) - radius) < 1e-4
    np.testing.assert_array_equal((weights != 0).sum(axis=0), 15)


def test_spectral_radius_rejects_bad_input():
    with pytest.raises(ValueError, match="radius"):
        SpectralRadius(radius=0.0)
    with pytest.raises(ValueError, match="square"):
        SpectralRadius()((3, 4))
    with pytest.raises(ValueError, match="nilpotent"):
        SpectralRadius(keras.initializers.Zeros())((4, 4))
    with pytest.raises(ValueError, match="k must be"):
        SparseGaussian(k=0)


def test_initializer_configs_round_trip():
    init = SpectralRadius(SparseGaussian(k=7, stddev=0.3, seed=2), radius=1.05)
    clone = keras.initializers.deserialize(keras.initializers.serialize(init))
    np.testing.assert_array_equal(init((30, 30)), clone((30, 30)))


def test_dropconnect_zeroes_weights_at_rate_p():
    """Monte Carlo over 100 x 50 x 50 = 250,000 weights: drop fraction within 0.005 of p
    (4.6 standard errors at p = 0.3); kept weights scaled by 1 / (1 - p)."""
    p = 0.3
    weights = keras.ops.ones((50, 50))
    seed = keras.random.SeedGenerator(0)
    noisy = keras.ops.convert_to_numpy(noise_lib.perturb(weights, "dropconnect", p, seed, shape=(100, 50, 50)))
    assert abs((noisy == 0).mean() - p) < 0.005
    np.testing.assert_allclose(noisy[noisy != 0], 1 / (1 - p), rtol=1e-6)


def test_gaussian_noise_variances():
    """Additive: Var[W*] = sigma^2; multiplicative: Var[W*] = sigma^2 W^2 (20,000 draws,
    tolerance 5% relative, about 7 standard errors)."""
    sigma = 0.2
    weights = keras.ops.convert_to_tensor(np.linspace(-2, 2, 12).reshape(3, 4).astype("float32"))
    w = keras.ops.convert_to_numpy(weights)
    seed = keras.random.SeedGenerator(1)
    additive = keras.ops.convert_to_numpy(noise_lib.perturb(weights, "additive", sigma, seed, shape=(20000, 3, 4)))
    np.testing.assert_allclose(additive.var(0), sigma**2, rtol=0.05)
    np.testing.assert_allclose(additive.mean(0), w, atol=0.01)
    mult = keras.ops.convert_to_numpy(noise_lib.perturb(weights, "multiplicative", sigma, seed, shape=(20000, 3, 4)))
    np.testing.assert_allclose(mult.var(0), sigma**2 * w**2, rtol=0.05)
    np.testing.assert_allclose(mult.mean(0), w, atol=0.02)


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
@pytest.mark.parametrize("implementation", ["local_reparameterization", "exact"])
def test_noisy_dense_output_noise_variance(kind, implementation):
    """Per-frame output noise variance sigma^2 ||x||^2 (additive) or sigma^2 x^2 @ W^2
    (multiplicative); exact mode shares one matrix per time step across the batch."""
    sigma = 0.3
    layer = NoisyDense(5, weight_noise=kind, sigma=sigma, noise_implementation=implementation, seed=0)
    x = np.random.RandomState(0).normal(size=(400, 30, 6)).astype("float32")
    layer.build(x.shape)
    clean = np.asarray(layer(x, training=False))
    noisy = np.asarray(layer(x, training=True))
    w = layer.get_weights()[0]
    scale = sigma * (np.linalg.norm(x, axis=-1, keepdims=True) if kind == "additive" else np.sqrt(x**2 @ w**2))
    z = (noisy - clean) / scale
    assert abs(z.var() - 1.0) < 0.1
    if implementation == "exact":
        # Same matrix for every example at a given step: noise / x is explained per step.
        delta = np.linalg.lstsq(x[:, 3], noisy[:, 3] - clean[:, 3], rcond=None)[0]
        np.testing.assert_allclose(x[:, 3] @ delta, noisy[:, 3] - clean[:, 3], atol=1e-3)
    np.testing.assert_array_equal(layer(x, training=False), clean)


@pytest.mark.parametrize("threshold", [0, 13107, 32768, 60000])
def test_bits16_at_least_is_true_with_probability_one_minus_threshold(threshold):
    """200,000 draws with an odd last axis (columns 0-4 from low half-words, 5-8 from
    high ones): each half True with probability 1 - threshold / 2^16 within 4.5 standard
    errors; the same seed gives the same draws."""
    from keras_rnnreg import rng

    draws = keras.ops.convert_to_numpy(rng.bits16_at_least((20000, 9), keras.random.SeedGenerator(3), threshold))
    assert draws.shape == (20000, 9) and draws.dtype == bool
    p = 1 - threshold / 2**16
    for half in (draws[:, :5], draws[:, 5:]):
        assert abs(half.mean() - p) <= 4.5 * np.sqrt(p * (1 - p) / half.size) + 1e-12
    again = keras.ops.convert_to_numpy(rng.bits16_at_least((20000, 9), keras.random.SeedGenerator(3), threshold))
    np.testing.assert_array_equal(again, draws)
    with pytest.raises(ValueError, match="threshold"):
        rng.bits16_at_least((2, 2), 0, 70000)


@pytest.mark.parametrize("jit", [False, True])
def test_rng_normal_matches_the_gaussian_cdf(jit):
    """400,000 draws (inverse-CDF sampler, plain graph and XLA): mean and variance, and the
    empirical CDF at 13 points within 0.003 of the normal CDF (Kolmogorov-style bound,
    ~4 standard errors); tails reach beyond 4 standard deviations. float64 draws too."""
    import math

    import tensorflow as tf

    from keras_rnnreg import rng

    seed = keras.random.SeedGenerator(11)
    draw = tf.function(lambda: rng.normal((400, 1000), seed, stddev=2.0), jit_compile=jit)
    first, second = draw().numpy(), draw().numpy()
    assert not np.array_equal(first, second)  # the seed generator advances
    z = first.ravel() / 2.0
    assert abs(z.mean()) < 4.5 / math.sqrt(z.size)
    assert abs(z.var() - 1.0) < 4.5 * math.sqrt(2.0 / z.size)
    for x in np.linspace(-3, 3, 13):
        cdf = 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))
        assert abs((z <= x).mean() - cdf) < 0.003, x
    assert z.min() < -4 and z.max() > 4
    wide = rng.normal((100000,), keras.random.SeedGenerator(1), dtype="float64").numpy()
    assert wide.dtype == np.float64 and abs(wide.std() - 1.0) < 0.01


def test_rng_normal_materialization_leaves_values_unchanged():
    """Under XLA, rng.normal (with its z + 0 * max z materialization) equals the plain
    inverse-CDF transform of the same Philox uniforms."""
    import tensorflow as tf

    from keras_rnnreg import rng

    first, second = keras.random.SeedGenerator(5), keras.random.SeedGenerator(5)
    drawn = tf.function(lambda: rng.normal((50, 40), first), jit_compile=True)()
    plain = tf.function(
        lambda: tf.math.ndtri(
            tf.random.stateless_uniform((50, 40), seed=rng._tf_seed(second), alg="philox") + 2.0**-24
        ),
        jit_compile=True,
    )()
    np.testing.assert_array_equal(drawn.numpy(), plain.numpy())
    assert np.all(np.isfinite(drawn.numpy()))
