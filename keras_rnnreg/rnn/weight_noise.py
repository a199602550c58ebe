"""Weight-noise definitions shared by the layers: names, validation and sampling.

Kinds (paper sections 8-9, NOTES.md):
- ``"additive"``: ``W* = W + Delta``, ``Delta ~ N(0, stddev^2)`` element-wise.
- ``"multiplicative"``: ``W* = W + W * Delta``.
- ``"dropconnect"``: each weight zeroed with probability ``rate`` (Wan et al. 2013);
  kept weights are scaled by ``1 / (1 - rate)`` so that ``E[W*] = W`` and
  inference can use the clean weights.

Scopes: ``"step"`` draws fresh noise at every time step, ``"sequence"`` draws one
sample per forward pass (one training iteration) and reuses it at every step.

Implementations of per-step Gaussian noise: ``"local_reparameterization"``
samples the equivalent pre-activation noise, independently per example (exact in
distribution for per-example weight noise, and cheap); ``"exact"`` samples a
weight matrix per step, shared by the batch.
"""

from keras import ops

from keras_rnnreg import rng

NOISE_KINDS = ("additive", "multiplicative", "dropconnect")
GAUSSIAN_KINDS = ("additive", "multiplicative")
SCOPES = ("step", "sequence")
IMPLEMENTATIONS = ("local_reparameterization", "exact")


def check_choice(what, value, choices):
    """Raise ``ValueError`` naming the valid choices unless ``value in choices``."""
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{what} must be one of {valid}; got {value!r}")
    return value


def check_stddev(what, value):
    if value is None or not value >= 0:
        raise ValueError(f"{what} must be a standard deviation >= 0; got {value!r}")
    return float(value)


def check_rate(what, value):
    if value is None or not 0 <= value < 1:
        raise ValueError(f"{what} must be a probability in [0, 1); got {value!r}")
    return float(value)


def perturb(weights, kind, level, seed_generator, shape=None):
    """Return noisy copies of ``weights``.

    ``shape`` defaults to ``weights.shape``; a leading extra dimension (e.g.
    ``(T,) + weights.shape``) draws independent noise per time step.
    ``level`` is the standard deviation (Gaussian kinds) or the drop rate.
    """
    shape = tuple(weights.shape) if shape is None else shape
    if kind == "additive":
        return weights + rng.normal(shape, seed_generator, stddev=level, dtype=weights.dtype)
    if kind == "multiplicative":
        delta = rng.normal(shape, seed_generator, stddev=level, dtype=weights.dtype)
        return weights + weights * delta
    if kind == "dropconnect":
        keep = dropconnect_keep_mask(shape, level, seed_generator)
        return ops.where(keep, weights / (1.0 - level), ops.zeros_like(weights))
    raise ValueError(f"unknown noise kind {kind!r}")


DROPCONNECT_RESOLUTION = 1 << 16


def dropconnect_keep_mask(shape, rate, seed_generator):
    """Boolean mask of kept weights, each kept with probability ``1 - rate``.

    Drawn from 16-bit uniform integers (:func:`keras_rnnreg.rng.bits16_at_least`,
    half the random-number work of float uniforms): a weight is dropped when its
    integer is below ``round(rate * 2^16)``, so the drop probability is ``rate``
    rounded to a multiple of ``2^-16`` (off by at most ``7.6e-6``).
    """
    threshold = int(round(float(rate) * DROPCONNECT_RESOLUTION))
    return rng.bits16_at_least(shape, seed_generator, threshold)


def lrt_preactivation_noise(x, weights, kind, stddev, seed_generator):
    """Per-example pre-activation noise equivalent to Gaussian noise on ``x @ weights``.

    ``x`` is ``(..., D)``, ``weights`` ``(D, U)``; returns ``(..., U)`` with
    variance ``stddev^2 * sum_d x_d^2`` (additive) or
    ``stddev^2 * sum_d x_d^2 W_du^2`` (multiplicative).
    """
    out_shape = tuple(ops.shape(x)[:-1]) + (weights.shape[-1],)
    eps = rng.normal(out_shape, seed_generator, dtype=x.dtype)
    if kind == "additive":
        scale = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True) + 1e-12)
    elif kind == "multiplicative":
        scale = ops.sqrt(ops.matmul(ops.square(x), ops.square(weights)) + 1e-12)
    else:
        raise ValueError(f"local reparameterization needs a Gaussian kind, got {kind!r}")
    return stddev * scale * eps
