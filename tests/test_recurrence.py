"""The hand-written backward passes of keras_rnnreg.rnn.recurrence against autodiff.

Each custom-gradient recurrence is compared, in float64, with the same forward
computation written as a plain Python loop and differentiated by TensorFlow.
"""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_rnnreg.rnn import recurrence

T, B, H = 5, 3, 4
RNG = np.random.RandomState(0)


def _inputs(per_step=False):
    pre = tf.constant(RNG.normal(scale=0.5, size=(T, B, H)))
    shape = (T, H, H) if per_step else (H, H)
    kernel = tf.constant(RNG.normal(scale=0.5, size=shape))
    h0 = tf.constant(RNG.normal(scale=0.3, size=(B, H)))
    weights = tf.constant(RNG.normal(size=(T, B, H)))  # random upstream gradient
    return pre, kernel, h0, weights


def _grads(fn, args, weights):
    with tf.GradientTape() as tape:
        tape.watch(args)
        out = fn(*args)
        if isinstance(out, (tuple, list)):
            loss = sum(tf.reduce_sum(o * w) for o, w in zip(out, weights))
        else:
            loss = tf.reduce_sum(out * weights)
    return out, tape.gradient(loss, args)


def _reference_simple(pre, kernel, h0):
    h, outs = h0, []
    for t in range(T):
        k = kernel[t] if len(kernel.shape) == 3 else kernel
        h = tf.tanh(pre[t] + h @ k)
        outs.append(h)
    return tf.stack(outs)


@pytest.mark.parametrize("per_step", [False, True])
def test_simple_recurrence_matches_autodiff(per_step):
    pre, kernel, h0, w = _inputs(per_step)
    out, grads = _grads(recurrence.simple_recurrence, [pre, kernel, h0], w)
    ref_out, ref_grads = _grads(_reference_simple, [pre, kernel, h0], w)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_noisy_recurrence_matches_autodiff(mode):
    pre, kernel, h0, w = _inputs()
    eps = tf.constant(RNG.normal(size=(T, B, H)))
    stddev = 0.3

    def reference(pre, kernel, h0):
        h, outs = h0, []
        for t in range(T):
            if mode == "additive":
                scale = tf.sqrt(tf.reduce_sum(h * h, axis=-1, keepdims=True) + 1e-12)
            else:
                scale = tf.sqrt((h * h) @ (kernel * kernel) + 1e-12)
            h = tf.tanh(pre[t] + h @ kernel + stddev * eps[t] * scale)
            outs.append(h)
        return tf.stack(outs)

    def fn(pre, kernel, h0):
        return recurrence.noisy_recurrence(pre, kernel, h0, eps, stddev, mode)

    out, grads = _grads(fn, [pre, kernel, h0], w)
    ref_out, ref_grads = _grads(reference, [pre, kernel, h0], w)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("variance", ["zero_corrected", "wang_manning"])
def test_fast_dropout_recurrence_matches_autodiff(variance):
    mu_in = tf.constant(RNG.normal(scale=0.5, size=(T, B, H)))
    var_in = tf.constant(RNG.uniform(0.0, 0.3, size=(T, B, H)))
    kernel = tf.constant(RNG.normal(scale=0.5, size=(H, H)))
    m0 = tf.constant(RNG.normal(scale=0.3, size=(B, H)))
    v0 = tf.constant(RNG.uniform(0.0, 0.1, size=(B, H)))
    keep = 0.8
    w_m = tf.constant(RNG.normal(size=(T, B, H)))
    w_v = tf.constant(RNG.normal(size=(T, B, H)))

    def reference(mu_in, var_in, kernel, m0, v0):
        m, v, ms, vs = m0, v0, [], []
        for t in range(T):
            mu = mu_in[t] + keep * m @ kernel
            var = var_in[t] + (keep * v + keep * (1 - keep) * m * m) @ (kernel * kernel)
            m, v = recurrence.tanh_moments(mu, var, variance)
            ms.append(m)
            vs.append(v)
        return tf.stack(ms), tf.stack(vs)

    def fn(*args):
        return recurrence.fast_dropout_recurrence(*args, keep, variance)

    args = [mu_in, var_in, kernel, m0, v0]
    out, grads = _grads(fn, args, [w_m, w_v])
    ref_out, ref_grads = _grads(reference, args, [w_m, w_v])
    for o, r in zip(out, ref_out):
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-8, atol=1e-10)


def test_tanh_moments_match_monte_carlo():
    """The tanh moment approximations against sampled moments (200,000 draws).

    Stated tolerances for |mu| <= 2, var <= 2: mean within 0.015 (both);
    variance within 0.04 for the zero-corrected formula, 0.07 for the published
    Wang-Manning one (it overestimates by 0.02-0.06), and only the corrected one
    is exact (0) for a deterministic input.
    """
    rng = np.random.RandomState(1)
    mu = np.array([-1.5, -0.3, 0.0, 0.4, 1.2, 0.5, 2.0])
    var = np.array([0.05, 0.5, 1.0, 0.2, 2.0, 0.01, 0.3])
    samples = np.tanh(mu + np.sqrt(var) * rng.normal(size=(200_000, len(mu))))
    for variance, tolerance in (("zero_corrected", 0.04), ("wang_manning", 0.07)):
        mean, approx_var = (ops.convert_to_numpy(v) for v in recurrence.tanh_moments(mu, var, variance))
        np.testing.assert_allclose(mean, samples.mean(0), atol=0.015)
        np.testing.assert_allclose(approx_var, samples.var(0), atol=tolerance)
    _, zero_var = recurrence.tanh_moments(mu, np.zeros_like(var))
    np.testing.assert_allclose(ops.convert_to_numpy(zero_var), 0.0, atol=1e-7)
    _, published = recurrence.tanh_moments(mu, np.zeros_like(var), "wang_manning")
    assert ops.convert_to_numpy(published).max() > 0.01


def test_dropconnect_recurrence_matches_autodiff():
    pre, kernel, h0, w = _inputs()
    rate = 0.3
    keep = tf.constant(RNG.uniform(size=(T, H, H)) >= rate)

    def reference(pre, kernel, h0):
        masked = tf.where(keep, kernel / (1 - rate), tf.zeros_like(kernel))
        return _reference_simple(pre, masked, h0)

    def fn(pre, kernel, h0):
        return recurrence.dropconnect_recurrence(pre, kernel, h0, keep, rate)

    out, grads = _grads(fn, [pre, kernel, h0], w)
    ref_out, ref_grads = _grads(reference, [pre, kernel, h0], w)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("which", ["shared", "per_step", "lrt", "dropconnect", "fast_dropout"])
def test_xla_compiled_loops_match_uncompiled_in_float32(which, monkeypatch):
    """float32 inputs take the XLA-compiled loops; they agree with the plain ones."""
    pre, kernel, h0, w = (tf.cast(t, tf.float32) for t in _inputs(per_step=which == "per_step"))
    eps = tf.constant(RNG.normal(size=(T, B, H)), tf.float32)
    keep = tf.constant(RNG.uniform(size=(T, H, H)) >= 0.3)

    def fn(pre, kernel, h0):
        if which == "lrt":
            return recurrence.noisy_recurrence(pre, kernel, h0, eps, 0.2, "multiplicative")
        if which == "dropconnect":
            return recurrence.dropconnect_recurrence(pre, kernel, h0, keep, 0.3)
        if which == "fast_dropout":
            return recurrence.fast_dropout_recurrence(pre, tf.abs(pre), kernel, h0, tf.abs(h0), 0.8)[0]
        return recurrence.simple_recurrence(pre, kernel, h0)

    compiled = _grads(fn, [pre, kernel, h0], w)
    monkeypatch.setattr(recurrence, "XLA_LOOPS", False)
    plain = _grads(fn, [pre, kernel, h0], w)
    np.testing.assert_allclose(compiled[0], plain[0], rtol=1e-5, atol=1e-6)
    for g, r in zip(compiled[1], plain[1]):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("which", ["shared", "per_step", "additive", "multiplicative", "dropconnect", "fast_dropout"])
def test_masked_recurrences_match_autodiff(which):
    """With a step mask every recurrence keeps the previous state at masked steps
    (as keras.layers.RNN does), forward and backward, against autodiff in float64."""
    pre, kernel, h0, w = _inputs(per_step=which == "per_step")
    mask = tf.constant(RNG.uniform(size=(T, B)) < 0.6)
    eps = tf.constant(RNG.normal(size=(T, B, H)))
    keep = tf.constant(RNG.uniform(size=(T, H, H)) >= 0.3)
    w_v = tf.constant(RNG.normal(size=(T, B, H)))
    m3 = mask[:, :, None]

    def cell(t, h, pre, kernel):
        if which == "per_step":
            return tf.tanh(pre[t] + h @ kernel[t])
        if which in ("additive", "multiplicative"):
            if which == "additive":
                scale = tf.sqrt(tf.reduce_sum(h * h, axis=-1, keepdims=True) + 1e-12)
            else:
                scale = tf.sqrt((h * h) @ (kernel * kernel) + 1e-12)
            return tf.tanh(pre[t] + h @ kernel + 0.3 * eps[t] * scale)
        if which == "dropconnect":
            return tf.tanh(pre[t] + h @ tf.where(keep[t], kernel / 0.7, tf.zeros_like(kernel)))
        return tf.tanh(pre[t] + h @ kernel)

    if which == "fast_dropout":
        var_in = tf.abs(pre)
        v0 = tf.abs(h0)

        def reference(pre, kernel, h0):
            m, v, ms, vs = h0, v0, [], []
            for t in range(T):
                mu = pre[t] + 0.8 * m @ kernel
                var = var_in[t] + (0.8 * v + 0.8 * 0.2 * m * m) @ (kernel * kernel)
                m_new, v_new = recurrence.tanh_moments(mu, var)
                m, v = tf.where(m3[t], m_new, m), tf.where(m3[t], v_new, v)
                ms.append(m)
                vs.append(v)
            return tf.stack(ms), tf.stack(vs)

        def fn(pre, kernel, h0):
            return recurrence.fast_dropout_recurrence(pre, var_in, kernel, h0, v0, 0.8, mask=mask)

        weights = [w, w_v]
    else:
        def reference(pre, kernel, h0):
            h, outs = h0, []
            for t in range(T):
                h = tf.where(m3[t], cell(t, h, pre, kernel), h)
                outs.append(h)
            return tf.stack(outs)

        def fn(pre, kernel, h0):
            if which in ("additive", "multiplicative"):
                return recurrence.noisy_recurrence(pre, kernel, h0, eps, 0.3, which, mask=mask)
            if which == "dropconnect":
                return recurrence.dropconnect_recurrence(pre, kernel, h0, keep, 0.3, mask=mask)
            return recurrence.simple_recurrence(pre, kernel, h0, mask=mask)

        weights = w

    out, grads = _grads(fn, [pre, kernel, h0], weights)
    ref_out, ref_grads = _grads(reference, [pre, kernel, h0], weights)
    for o, r in zip(tf.nest.flatten(out), tf.nest.flatten(ref_out)):
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-8, atol=1e-10)
    # Masked steps repeat the previous state.
    hs = np.asarray(tf.nest.flatten(out)[0])
    prev = np.concatenate([np.asarray(h0)[None], hs[:-1]])
    np.testing.assert_array_equal(hs[~np.asarray(mask)], prev[~np.asarray(mask)])
