"""Weight-noise definitions shared by the layers: names, validation and sampling.

Kinds (paper sections 8-9, docs/references.md):
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

:class:`WeightNoise` bundles one such choice (kind, level, scope,
implementation, seed) for one kernel. It is the only code that draws weight
noise: :meth:`WeightNoise.draw` samples what one forward pass needs, and
:meth:`WeightNoise.matmul` computes ``x @ W*`` from such a draw, for the
cells' single steps and for the sequence layers' whole-sequence projections
alike. The fused recurrences of :mod:`keras_rnnreg.rnn.recurrence` consume the
same draws, so the fast path and the cell loop see the same noise.
"""

import keras
from keras import ops

from keras_rnnreg import rng
from keras_rnnreg.rnn.choices import IMPLEMENTATIONS

NOISE_KINDS = ("additive", "multiplicative", "dropconnect")
GAUSSIAN_KINDS = ("additive", "multiplicative")
SCOPES = ("step", "sequence")


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

    Drawn from 16-bit uniform integers (:func:`keras_rnnreg.rng.bits16_at_least`
    for one matrix, :func:`keras_rnnreg.rng.hashed_bits16_at_least` for a stack of per-step
    matrices, ``len(shape) > 2``): a
    weight is dropped when its integer is below ``round(rate * 2^16)``, so the
    drop probability is ``rate`` rounded to a multiple of ``2^-16`` (off by at
    most ``7.6e-6``).
    """
    threshold = int(round(float(rate) * DROPCONNECT_RESOLUTION))
    if len(shape) <= 2:
        # One matrix (per-sequence masks, a cell's single step): cheap with the
        # general generator, whose draws earlier runs used.
        return rng.bits16_at_least(shape, seed_generator, threshold)
    return rng.hashed_bits16_at_least(shape, seed_generator, threshold)


def _tiny_sqrt(x):
    return ops.sqrt(x + 1e-12)


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class WeightNoise:
    """Noise on one weight matrix ``W`` (``(fan_in, units)``), applied while training.

    Args:
        kind: ``"additive"`` (``W + Delta``), ``"multiplicative"``
            (``W + W * Delta``), both with ``Delta ~ N(0, level^2)``, or
            ``"dropconnect"`` (each weight dropped with probability ``level``,
            the kept ones scaled by ``1 / (1 - level)``).
        level: the standard deviation (Gaussian kinds, > 0) or the drop
            probability (DropConnect, in (0, 1)). Zero or missing is a
            ``ValueError``: no noise is ``None`` in the layers, not a zero level.
        scope: ``"step"`` (fresh noise at every time step) or ``"sequence"``
            (one matrix per forward pass, shared by the batch, reused at every
            step).
        implementation: for per-step Gaussian noise,
            ``"local_reparameterization"`` (the equivalent per-example
            pre-activation noise, default) or ``"exact"`` (one matrix per step,
            shared by the batch). DropConnect and per-sequence noise always
            sample matrices.
        seed: int or None. The layers draw with their own seed generator unless
            a seed is given here, in which case the noise gets a generator of its own.

    Example:

    ```python
    noise = WeightNoise("dropconnect", 0.2, scope="sequence")
    draw = noise.draw(kernel, keras.random.SeedGenerator(0))  # one per forward pass
    y = noise.matmul(x, kernel, draw)  # x @ W*, for every step of the pass
    ```
    """

    def __init__(self, kind, level, scope="step", implementation="local_reparameterization", seed=None):
        self.kind = check_choice("kind", kind, NOISE_KINDS)
        self.level = check_level(kind, level)
        self.scope = check_choice("scope", scope, SCOPES)
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)
        self.seed = seed

    # -- what one forward pass samples ---------------------------------------

    @property
    def per_sequence(self):
        return self.scope == "sequence"

    @property
    def local_reparameterization(self):
        """Per-step Gaussian noise drawn as per-example pre-activation noise."""
        return (
            self.scope == "step" and self.kind in GAUSSIAN_KINDS
            and self.implementation == "local_reparameterization"
        )

    def draw(self, kernel, seed_generator, steps=None, leading_shape=None):
        """Sample the noise of one forward pass for ``kernel``.

        Returns a dict, one of:

        - ``{"kernel": W*}``: per-sequence noise, one matrix.
        - ``{"eps": eps}``: per-step local reparameterization, standard normal
          of ``leading_shape + (units,)`` (e.g. ``(T, B)`` time-major, ``(B,)``
          for one step).
        - ``{"keep": mask}`` (DropConnect) or ``{"kernels": W*}`` (exact
          Gaussian): per-step matrices, ``(steps,) + W.shape``, or ``W.shape``
          for one step (``steps=None``).
        """
        shape = tuple(kernel.shape)
        if self.per_sequence:
            return {"kernel": perturb(kernel, self.kind, self.level, seed_generator)}
        if self.local_reparameterization:
            if leading_shape is None:
                raise ValueError("WeightNoise.draw: per-step local reparameterization needs leading_shape")
            return {"eps": rng.normal(tuple(leading_shape) + shape[-1:], seed_generator, dtype=kernel.dtype)}
        full = shape if steps is None else (steps,) + shape
        if self.kind == "dropconnect":
            return {"keep": dropconnect_keep_mask(full, self.level, seed_generator)}
        return {"kernels": perturb(kernel, self.kind, self.level, seed_generator, shape=full)}

    def dropconnect_scale(self):
        return 1.0 / (1.0 - self.level)

    def noisy_kernels(self, kernel, draw):
        """The noisy matrix (or per-step matrices) of a matrix draw."""
        if "kernel" in draw:
            return draw["kernel"]
        if "kernels" in draw:
            return draw["kernels"]
        if "keep" in draw:
            return ops.where(draw["keep"], kernel * self.dropconnect_scale(), 0.0)
        raise ValueError("WeightNoise.noisy_kernels: a local-reparameterization draw has no matrices")

    def lrt_scale(self, x, kernel):
        """Standard deviation of the pre-activation noise of ``x @ W*`` per unit / level."""
        if self.kind == "additive":
            return _tiny_sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
        return _tiny_sqrt(ops.matmul(ops.square(x), ops.square(kernel)))

    def matmul(self, x, kernel, draw, time_axis=None):
        """``x @ W*`` for a draw of :meth:`draw`.

        ``x`` is ``(..., fan_in)``. For per-step matrix draws with a time axis
        (``(T,) + W.shape``), ``time_axis`` names the axis of ``x`` that runs
        over those steps (0: time-major ``(T, B, D)``, 1: ``(B, T, D)``); a
        draw for one step (``steps=None``) is a single matrix.
        """
        if "eps" in draw:
            return ops.matmul(x, kernel) + self.level * self.lrt_scale(x, kernel) * draw["eps"]
        noisy = self.noisy_kernels(kernel, draw)
        if len(noisy.shape) == 3:
            if time_axis == 0:
                return ops.einsum("tbd,tdu->tbu", x, noisy)
            if time_axis == 1:
                return ops.einsum("btd,tdu->btu", x, noisy)
            raise ValueError("WeightNoise.matmul: per-step matrices need time_axis 0 or 1")
        return ops.matmul(x, noisy)

    # -- serialization ------------------------------------------------------

    def get_config(self):
        return {
            "kind": self.kind,
            "level": self.level,
            "scope": self.scope,
            "implementation": self.implementation,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, WeightNoise) and self.get_config() == other.get_config()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"WeightNoise({args})"


def check_level(kind, level, what="level"):
    """A noise level for ``kind``: ``ValueError`` when it is zero, missing or out of range."""
    if kind == "dropconnect":
        if level is None or not 0 < level < 1:
            raise ValueError(
                f"{what} of DropConnect must be a drop probability in (0, 1); got {level!r} "
                "(for no noise, pass noise kind None)"
            )
    elif level is None or not level > 0:
        raise ValueError(
            f"{what} of {kind} Gaussian noise must be a standard deviation > 0; got {level!r} "
            "(for no noise, pass noise kind None)"
        )
    return float(level)


def make_weight_noise(what, kind, scope, sigma, dropconnect_p, implementation, sigma_name, p_name,
                      kinds=NOISE_KINDS):
    """The :class:`WeightNoise` of a layer's flat noise arguments, or ``None``.

    ``kind`` is ``None``, a kind name or a :class:`WeightNoise` (then the level
    arguments must be unset). The level argument the kind does not use must be
    unset (``None`` or 0); the one it uses must be set and nonzero.
    """
    if isinstance(kind, dict):
        kind = keras.saving.deserialize_keras_object(kind)
    if isinstance(kind, WeightNoise):
        if sigma or dropconnect_p:
            raise ValueError(f"{what}: pass either a WeightNoise or {sigma_name}/{p_name}, not both")
        if kind.kind not in kinds:
            raise ValueError(f"{what} must be one of {', '.join(repr(k) for k in kinds)}; got {kind!r}")
        return kind
    check_choice(what, kind, (None,) + tuple(kinds))
    check_choice(f"{what}_scope", scope, SCOPES)
    if sigma is not None and not sigma >= 0:
        raise ValueError(f"{sigma_name} must be a standard deviation > 0; got {sigma!r}")
    if dropconnect_p is not None and not 0 <= dropconnect_p < 1:
        raise ValueError(f"{p_name} must be a probability in [0, 1); got {dropconnect_p!r}")
    if kind is None:
        for name, value in ((sigma_name, sigma), (p_name, dropconnect_p)):
            if value:
                raise ValueError(f"{name}={value!r} is set but {what} is None: name the noise kind")
        return None
    used, unused = (p_name, sigma_name) if kind == "dropconnect" else (sigma_name, p_name)
    level, other = (dropconnect_p, sigma) if kind == "dropconnect" else (sigma, dropconnect_p)
    if other:
        raise ValueError(f"{unused}={other!r} is set but {what} is {kind!r}, which uses {used}")
    check_level(kind, level, what=f"{used} (the level of {what}={kind!r})")
    return WeightNoise(kind, level, scope=scope, implementation=implementation)
