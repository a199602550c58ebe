"""Random draws of the layers: ``keras.random`` with TensorFlow's generator pinned.

On the TensorFlow backend ``keras.random.normal`` / ``uniform`` call
``tf.random.stateless_*`` with ``alg="auto_select"``. Outside XLA that selects
Philox on CPU; inside an XLA-compiled function (``jit_compile=True``) it lowers
to a generic bit generator that is ~35x slower on CPU (230 ms instead of 7 ms
for the ``(100, 32, 200)`` normal draw of one per-step-noise batch), which made
whole-model XLA unusable for the noisy models. Naming Philox explicitly gives
fast draws in both. TensorFlow's Philox kernels for a plain graph and for XLA
order their outputs differently, so a seed reproduces a run only under the same
``jit_compile`` setting. Other backends use ``keras.random`` as is.

:func:`hashed_bits16_at_least` draws the largest stacks of DropConnect masks
from a counter-based hash of a few generator words instead (the same on every
backend, under a plain graph and XLA).
"""

import keras
from keras import ops

_TF = keras.backend.backend() == "tensorflow"
ALGORITHM = "philox"


def _tf_seed(seed):
    """The int32 seed pair ``tf.random.stateless_*`` needs, as ``keras.random`` makes it.

    A ``keras.random.SeedGenerator`` gives its next state (and advances), an
    int ``s`` the pair ``(s, 0)``. TensorFlow's generator state is int64, the
    stateless ops under XLA want int32: reduced modulo ``2^31 - 2``, as Keras's
    TensorFlow backend does, so the draws equal those of the same seed before.
    An integer tensor is taken as the pair itself.
    The library's layers always pass a generator of their own; ``None`` (Keras's
    global generator, which has no public accessor) is refused.
    """
    import tensorflow as tf

    if isinstance(seed, keras.random.SeedGenerator):
        pair = seed.next()
    elif isinstance(seed, int) and not isinstance(seed, bool):
        pair = tf.constant([seed, 0], tf.int64)
    elif tf.is_tensor(seed) and seed.dtype.is_integer:
        pair = seed  # a seed pair (the cells' per-step seeds, keras_rnnreg/rnn/cells.py)
    else:
        raise ValueError(f"seed must be an int, a seed-pair tensor or a keras.random.SeedGenerator, got {seed!r}")
    pair = tf.convert_to_tensor(pair)
    if pair.dtype == tf.int32:
        return pair
    return tf.cast(tf.math.floormod(pair, tf.int32.max - 1), tf.int32)


def normal(shape, seed, stddev=1.0, dtype="float32"):
    """``N(0, stddev^2)`` samples of ``shape``; ``seed`` as for ``keras.random.normal``.

    On TensorFlow by inversion, ``stddev * ndtri(u)`` with ``u`` uniform on the
    midpoints ``(k + 1/2) 2^-23`` of the float32 uniform grid (symmetric, never 0
    or 1): exact in distribution up to the tails beyond 5.3 standard deviations
    (probability 1.2e-7), and about half the cost of TensorFlow's Box-Muller
    sampler (3.9 vs 7.2 ms wall, 7 vs 13 ms CPU for 640,000 draws under XLA on
    2 CPU cores; per-step weight noise draws that many every batch).
    """
    if not _TF:
        return keras.random.normal(shape, stddev=stddev, seed=seed, dtype=dtype)
    import tensorflow as tf

    # float64 draws use the float64 grid (k + 1/2) 2^-52; others are drawn in float32.
    wide = tf.as_dtype(dtype) == tf.float64
    u = tf.random.stateless_uniform(shape, seed=_tf_seed(seed), dtype=tf.float64 if wide else tf.float32,
                                    alg=ALGORITHM)
    z = _materialized(tf.math.ndtri(u + (2.0**-53 if wide else 2.0**-24)))
    return tf.cast(z * stddev if stddev != 1.0 else z, dtype)


def _materialized(z):
    """``z`` unchanged, computed once into a buffer under XLA.

    XLA fuses the Philox expansion into each element-wise consumer of a draw
    (``pre + scale * eps``), where it runs ~3x slower than as a draw of its own
    (20 vs 7 ms for ``(100, 32, 200)``, it evaluates a whole 4-word Philox block
    per element). A second consumer that needs every element, a reduction, makes
    XLA compute the draw once instead of duplicating it. ``0 * max(z)`` is 0
    (``z`` is finite: the uniforms stay inside ``(0, 1)``), so values are unchanged.
    """
    import tensorflow as tf

    return z + 0.0 * tf.reduce_max(z)


def bits16_at_least(shape, seed, threshold):
    """Boolean ``shape``: ``b >= threshold`` for uniform 16-bit integers ``b`` in ``[0, 2^16)``.

    True with probability ``1 - threshold / 2^16``. On TensorFlow each 32-bit
    Philox output supplies two of the integers (its low and high halves), half
    the generator work of one uniform float per entry; the halves are compared
    before they are joined, so no integer tensor of the full shape is formed.
    The DropConnect masks (``T x H x H`` per batch) are the largest draws of the
    library.
    """
    threshold = int(threshold)
    if not 0 <= threshold <= 1 << 16:
        raise ValueError(f"threshold must be in [0, 2^16], got {threshold}")
    if not _TF:
        return keras.random.randint(shape, 0, 1 << 16, seed=seed, dtype="int32") >= threshold
    import tensorflow as tf

    last = int(shape[-1])
    half = (last + 1) // 2
    words = tf.random.stateless_uniform(
        tuple(shape[:-1]) + (half,), seed=_tf_seed(seed), minval=None, maxval=None, dtype=tf.uint32, alg=ALGORITHM
    )
    t = tf.constant(threshold, tf.uint32)
    low = tf.bitwise.bitwise_and(words, 0xFFFF) >= t
    high = tf.bitwise.right_shift(words, 16) >= t
    both = tf.concat([low, high], axis=-1)
    return both if 2 * half == last else both[..., :last]


# Multipliers of MurmurHash3's 32-bit finalizer (fmix32).
_FMIX_1, _FMIX_2 = 0x85EBCA6B, 0xC2B2AE35


def _fmix32(x):
    """MurmurHash3's finalizer: a bijection of uint32 in which every input bit flips each output bit w.p. ~1/2."""
    x = ops.bitwise_xor(x, ops.right_shift(x, 16))
    x = ops.multiply(x, ops.convert_to_tensor(_FMIX_1, "uint32"))
    x = ops.bitwise_xor(x, ops.right_shift(x, 13))
    x = ops.multiply(x, ops.convert_to_tensor(_FMIX_2, "uint32"))
    return ops.bitwise_xor(x, ops.right_shift(x, 16))


def _key_words(shape, seed):
    """Random uint32 words of ``shape`` (the hash keys); ``seed`` as for :func:`normal`."""
    if _TF:
        import tensorflow as tf

        # _tf_seed: also the cells' per-step seed pairs (tensors).
        return tf.random.stateless_uniform(shape, seed=_tf_seed(seed), minval=None, maxval=None,
                                           dtype=tf.uint32, alg=ALGORITHM)
    return ops.cast(keras.random.randint(shape, 0, 2**31 - 1, seed=seed, dtype="int32"), "uint32")


def hashed_bits16_at_least(shape, seed_generator, threshold):
    """Boolean ``shape``: ``b >= threshold`` for uniform 16-bit integers ``b``, from a counter-based hash.

    The DropConnect masks (``T x H x H`` per batch, 4 million entries at
    ``H = 200``) are the library's largest draws, and a general-purpose
    generator dominated the cost of a training step with them: JAX's
    Threefry-2x32 took ~120 ms CPU per batch for them on 2 CPU cores (the
    whole SimpleRNN training step takes ~40 ms), TensorFlow's Philox ~19 ms.
    Here the generator draws only a 64-bit key per matrix (per leading index,
    e.g. per step: two 32-bit words ``k0, k1`` from ``seed_generator``; 31-bit
    off TensorFlow),
    and each 32-bit word of a matrix is ``fmix32(fmix32(c ^ k0) + k1)`` of
    its position ``c``, two rounds of MurmurHash3's finalizer, which XLA
    fuses into one vectorized pass (~10x cheaper). Each word supplies two of
    the 16-bit integers (its low and high halves). For a fixed key the words
    of a matrix are distinct (the map from ``c`` is a bijection), so the
    integers are uniform and pairwise nearly independent; different keys
    give unrelated matrices (tests/test_noisy_rnn.py checks rates and
    correlations). The draws advance ``seed_generator`` once, as any draw.
    """
    threshold = int(threshold)
    if not 0 <= threshold <= 1 << 16:
        raise ValueError(f"threshold must be in [0, 2^16], got {threshold}")
    shape = tuple(shape)
    if len(shape) < 2:
        return ops.reshape(hashed_bits16_at_least((1,) + shape, seed_generator, threshold), shape)
    # The leading sizes (the steps) may be unknown while tracing; a matrix's are not.
    lead, rows, cols = shape[:-2], int(shape[-2]), int(shape[-1])
    half = (cols + 1) // 2
    keys = ops.expand_dims(ops.expand_dims(_key_words(lead + (2,), seed_generator), -2), -2)
    counter = ops.cast(ops.reshape(ops.arange(rows * half, dtype="int32"), (rows, half)), "uint32")
    words = _fmix32(ops.add(_fmix32(ops.bitwise_xor(counter, keys[..., 0])), keys[..., 1]))
    t = ops.convert_to_tensor(threshold, "uint32")
    low = ops.greater_equal(ops.bitwise_and(words, ops.convert_to_tensor(0xFFFF, "uint32")), t)
    high = ops.greater_equal(ops.right_shift(words, 16), t)
    both = ops.concatenate([low, high], axis=-1)
    return both if 2 * half == cols else both[..., :cols]
