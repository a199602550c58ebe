"""Initializers of the "correct regime" (Sutskever et al. 2013; paper section 6.1).

- :class:`SparseGaussian`: every unit gets exactly ``k`` nonzero incoming
  weights drawn from ``N(0, stddev^2)``; the rest are zero.
- :class:`SpectralRadius`: draws from a base initializer and rescales the square
  matrix so that its largest absolute eigenvalue equals ``radius`` exactly.

- :class:`SparsifyColumns`: draws from a base initializer and keeps ``k``
  random entries per column, zeroing the rest (climin's ``sparsify_columns``,
  which the paper's authors apply *after* the spectral rescaling).

They compose: ``SpectralRadius(SparseGaussian(k=15), radius=1.1)`` (sparse, then
exactly radius 1.1), or the authors' order
``SparsifyColumns(SpectralRadius(RandomNormal(), radius=1.2), k=15)`` (the
resulting radius is far below 1.2).
"""

import keras
import numpy as np
from keras import ops


def _check_k(owner, k):
    if int(k) != k or k < 1:
        raise ValueError(f"{owner}: k must be an integer >= 1, got {k!r}")
    return int(k)


def _keep_per_column(values, k, seed_generator):
    """``values`` ``(fan_in, units)`` with all but ``min(k, fan_in)`` random entries per column zeroed."""
    # Rank a uniform draw within each column: the k smallest ranks survive.
    scores = keras.random.uniform(tuple(values.shape), seed=seed_generator)
    ranks = ops.argsort(ops.argsort(scores, axis=0), axis=0)
    return values * ops.cast(ranks < min(k, values.shape[0]), values.dtype)


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class SparseGaussian(keras.initializers.Initializer):
    """Exactly ``k`` nonzero Gaussian incoming weights per unit.

    For a kernel of shape ``(fan_in, units)`` each column (a unit's incoming
    weights) has ``min(k, fan_in)`` nonzero entries at uniformly random rows.

    Args:
        k: number of nonzero incoming weights per unit, >= 1.
        stddev: standard deviation of the nonzero weights, > 0.
        seed: int or None, for reproducible draws.
    """

    def __init__(self, k=15, stddev=1.0, seed=None):
        self.k = _check_k("SparseGaussian", k)
        if not stddev > 0:
            raise ValueError(f"SparseGaussian: stddev must be > 0, got {stddev!r}")
        self.stddev = float(stddev)
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed)

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"SparseGaussian needs a 2-D shape (fan_in, units), got {shape}")
        values = keras.random.normal(shape, stddev=self.stddev, dtype=dtype, seed=self._seed_generator)
        return _keep_per_column(values, self.k, self._seed_generator)

    def get_config(self):
        return {"k": self.k, "stddev": self.stddev, "seed": self.seed}


def spectral_radius(matrix):
    """Largest absolute eigenvalue of a square matrix (computed in float64).

    A gated recurrent kernel ``(units, n * units)`` (the ``n`` gate blocks of
    an LSTM or GRU side by side) gives the largest over its square blocks.
    """
    matrix = np.asarray(ops.convert_to_numpy(matrix), dtype=np.float64)
    rows, columns = matrix.shape
    if rows and columns != rows and columns % rows == 0:
        return max(spectral_radius(block) for block in np.split(matrix, columns // rows, axis=1))
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class SpectralRadius(keras.initializers.Initializer):
    """Rescale a square draw of ``base`` to spectral radius ``radius``.

    Args:
        base: an initializer (instance, name or config) for the raw matrix;
            default ``SparseGaussian(k=15)``.
        radius: target largest absolute eigenvalue, > 0.
    """

    def __init__(self, base=None, radius=1.1):
        if not radius > 0:
            raise ValueError(f"SpectralRadius: radius must be > 0, got {radius!r}")
        self.base = keras.initializers.get(base) if base is not None else SparseGaussian(k=15)
        self.radius = float(radius)

    def __call__(self, shape, dtype=None):
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"SpectralRadius needs a square 2-D shape, got {shape}")
        matrix = np.asarray(ops.convert_to_numpy(self.base(shape, dtype=dtype)), dtype=np.float64)
        current = spectral_radius(matrix)
        if current == 0.0:
            raise ValueError(
                "SpectralRadius: the base initializer drew a matrix whose eigenvalues are "
                "all 0 (nilpotent or zero); it cannot be rescaled to a spectral radius"
            )
        return ops.convert_to_tensor(matrix * (self.radius / current), dtype=dtype or "float32")

    def get_config(self):
        return {"base": keras.initializers.serialize(self.base), "radius": self.radius}


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class SparsifyColumns(keras.initializers.Initializer):
    """Draw from ``base``, then keep ``min(k, fan_in)`` random entries per column.

    Args:
        base: an initializer (instance, name or config) for the dense draw.
        k: entries kept per column (a unit's incoming weights), >= 1.
        seed: int or None, for reproducible choices of the kept entries.
    """

    def __init__(self, base, k=15, seed=None):
        self.base = keras.initializers.get(base)
        self.k = _check_k("SparsifyColumns", k)
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed)

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"SparsifyColumns needs a 2-D shape (fan_in, units), got {shape}")
        values = ops.convert_to_tensor(self.base(shape, dtype=dtype), dtype=dtype or "float32")
        return _keep_per_column(values, self.k, self._seed_generator)

    def get_config(self):
        return {"base": keras.initializers.serialize(self.base), "k": self.k, "seed": self.seed}
