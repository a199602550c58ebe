"""Random draws of the layers: ``keras.random`` with TensorFlow's generator pinned.

On the TensorFlow backend ``keras.random.normal`` / ``uniform`` call
``tf.random.stateless_*`` with ``alg="auto_select"``. Outside XLA that selects
Philox on CPU; inside an XLA-compiled function (``jit_compile=True``) it lowers
to a generic bit generator that is ~35x slower on CPU (230 ms instead of 7 ms
for the ``(100, 32, 200)`` normal draw of one per-step-noise batch), which made
whole-model XLA unusable for the noisy models. Naming Philox explicitly gives
the same numbers as ``keras.random`` in a plain graph (same seeds, same
stream) and fast draws under XLA. Other backends use ``keras.random`` as is.
"""

import keras

_TF = keras.backend.backend() == "tensorflow"
ALGORITHM = "philox"


def _tf_seed(seed):
    # The seed handling of keras.random's TensorFlow backend (int32 seed pair).
    from keras.src.backend.tensorflow.random import _cast_seed
    from keras.src.random.seed_generator import draw_seed

    return _cast_seed(draw_seed(seed))


def normal(shape, seed, stddev=1.0, dtype="float32"):
    """``N(0, stddev^2)`` samples of ``shape``; ``seed`` as for ``keras.random.normal``."""
    if not _TF:
        return keras.random.normal(shape, stddev=stddev, seed=seed, dtype=dtype)
    import tensorflow as tf

    return tf.random.stateless_normal(shape, seed=_tf_seed(seed), stddev=stddev, dtype=dtype, alg=ALGORITHM)


def uniform(shape, seed, dtype="float32"):
    """``U[0, 1)`` samples of ``shape``; ``seed`` as for ``keras.random.uniform``."""
    if not _TF:
        return keras.random.uniform(shape, seed=seed, dtype=dtype)
    import tensorflow as tf

    return tf.random.stateless_uniform(shape, seed=_tf_seed(seed), dtype=dtype, alg=ALGORITHM)


def bits16(shape, seed):
    """Uniform integers in ``[0, 2^16)`` of ``shape`` (int32).

    On TensorFlow each 32-bit Philox output supplies two of them (its low and
    high halves), half the generator work of one uniform float per entry; the
    DropConnect masks (``T x H x H`` per batch) are the largest draws of the
    library.
    """
    shape = tuple(int(d) if not hasattr(d, "dtype") else d for d in shape)
    if not _TF:
        return keras.random.randint(shape, 0, 1 << 16, seed=seed, dtype="int32")
    import tensorflow as tf

    last = shape[-1]
    half = (last + 1) // 2
    words = tf.random.stateless_uniform(
        tuple(shape[:-1]) + (half,), seed=_tf_seed(seed), minval=None, maxval=None, dtype=tf.uint32, alg=ALGORITHM
    )
    low = tf.bitwise.bitwise_and(words, 0xFFFF)
    high = tf.bitwise.right_shift(words, 16)
    both = tf.cast(tf.concat([low, high], axis=-1), tf.int32)
    return both if 2 * half == last else both[..., :last]
