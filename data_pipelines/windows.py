"""Pipelines of 100-step training windows and whole test sequences.

``tf.data`` where TensorFlow is installed, else (or with
``pipeline="pydataset"``) the NumPy ``keras.utils.PyDataset`` of
:mod:`.pydataset`, which yields the same batches.

Windowing (used for training and validation). For a sequence
``x_1..x_T`` prepend one all-zero frame, ``s' = [0, x_1, ..., x_T]``; the
input/target pairs are ``(s'[t], s'[t+1])`` for ``t = 0..T-1``, so ``x_1`` is
predicted from an all-zero start frame and every frame is a target exactly
once. The ``T`` pairs are cut into consecutive windows of ``window`` pairs
aligned at the **end** of the sequence, so only the first window can be
short; a short window is zero-padded at the **front** (inputs and targets zero
there) and its weight is 0 on the padding, 1 elsewhere. A sequence gives
``ceil(T / window)`` windows.

Windows are stored compactly as ``uint8`` buffers of ``window + 1`` frames
(inputs are ``buf[:-1]``, targets ``buf[1:]``) and cast to ``float32`` after
batching.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Sequence

import numpy as np

from .registry import NUM_KEYS
from .validation import validate_sequences

PIPELINES = ("auto", "tf.data", "pydataset")


def _use_tf_data(pipeline):
    """Whether ``pipeline`` (one of :data:`PIPELINES`) means ``tf.data`` here."""
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {', '.join(PIPELINES)}, got {pipeline!r}")
    if pipeline == "auto":
        return importlib.util.find_spec("tensorflow") is not None
    return pipeline == "tf.data"


def window_count(length: int, window: int = 100) -> int:
    """Number of windows a sequence of ``length`` frames yields: ``ceil(length / window)``."""
    return math.ceil(length / window)


def window_arrays(
    sequences: Sequence[np.ndarray], window: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Cut sequences into windows (NumPy, no TensorFlow).

    Args:
        sequences: piano rolls ``(T, 88)``.
        window: pairs per window.

    Returns:
        ``(buffers, pads)``: ``buffers`` is ``uint8`` of shape
        ``(N, window + 1, 88)`` (inputs ``buffers[:, :-1]``, targets
        ``buffers[:, 1:]``); ``pads`` is ``int32`` ``(N,)``, the number of
        padded (weight 0) positions at the front of each window. Windows are
        in sequence order, and within a sequence in time order.
    """
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    window = int(window)
    rolls = validate_sequences(sequences)
    total = sum(window_count(len(r), window) for r in rolls)
    buffers = np.zeros((total, window + 1, NUM_KEYS), dtype=np.uint8)
    pads = np.zeros((total,), dtype=np.int32)
    n = 0
    for roll in rolls:
        length = len(roll)
        shifted = np.zeros((length + 1, NUM_KEYS), dtype=np.uint8)
        shifted[1:] = roll
        first = length % window or window  # pairs in the first (maybe short) window
        # first window: pairs t = 0..first-1 use frames s'[0..first]
        buffers[n, window - first :] = shifted[: first + 1]
        pads[n] = window - first
        n += 1
        for start in range(first, length, window):
            buffers[n] = shifted[start : start + window + 1]
            n += 1
    return buffers, pads


def batches_per_epoch(windows: int, batch_size: int, drop_remainder: bool = False) -> int:
    """Batches one epoch of ``windows`` windows makes."""
    return windows // batch_size if drop_remainder else math.ceil(windows / batch_size)


def _epoch_indexed_dataset(buffers, pads, batch_size, seed, drop_remainder, first_epoch):
    """Epochs ``first_epoch, ...`` of the windows, epoch ``e`` shuffled by ``(seed, e)`` alone (stateless)."""
    import tensorflow as tf

    count = len(pads)
    buffers, pads = tf.constant(buffers), tf.constant(pads)
    base = tf.constant(0 if seed is None else int(seed), tf.int64)

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=tf.stack([base, e]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)

    ds = tf.data.Dataset.range(first_epoch, 2**62).flat_map(epoch)
    ds = ds.map(lambda rows: _split_window_batch(tf.gather(buffers, rows), tf.gather(pads, rows)),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _split_window_batch(buffers, pads):
    """Map a batch of uint8 buffers to ``(inputs, targets, weights)`` float32."""
    import tensorflow as tf

    frames = tf.cast(buffers, tf.float32)
    window = tf.shape(buffers)[1] - 1
    positions = tf.range(window)[tf.newaxis, :]
    weights = tf.cast(positions >= pads[:, tf.newaxis], tf.float32)
    return frames[:, :-1], frames[:, 1:], weights


def make_window_dataset(
    sequences: Sequence[np.ndarray],
    window: int = 100,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int | None = 0,
    drop_remainder: bool = False,
    pipeline: str = "auto",
    epochs_from: int | None = None,
):
    """Training/validation pipeline of ``window``-step windows.

    Args:
        sequences: piano rolls ``(T, 88)`` of 0/1.
        window: pairs per window (100 in the paper).
        batch_size: windows per batch.
        shuffle: shuffle the windows (reshuffled every epoch, reproducibly
            for a fixed ``seed``).
        seed: shuffle seed.
        drop_remainder: drop a last incomplete batch.
        pipeline: ``"tf.data"``, ``"pydataset"`` (NumPy, no TensorFlow) or
            ``"auto"``: ``tf.data`` if TensorFlow is installed.
        epochs_from: ``None`` (default): one epoch, reshuffled each time it is
            iterated. An epoch number ``k``: an endless pipeline of epochs
            ``k, k + 1, ...``, the windows of epoch ``e`` in an order that
            depends on ``seed`` and ``e`` alone, so a run resumed after epoch
            ``k`` sees what the uninterrupted run saw. Train on it with
            ``model.fit(..., steps_per_epoch=len(...))``, the batches per epoch
            (:func:`batches_per_epoch`). Needs ``shuffle=True``.

    Returns:
        A ``tf.data.Dataset`` (or a :class:`.pydataset.WindowPyDataset`) of
        ``(inputs, targets, weights)`` with shapes
        ``(B, window, 88)``, ``(B, window, 88)``, ``(B, window)``, all float32,
        usable directly as ``model.fit(ds)`` ``(x, y, sample_weight)``.
        Weights are 0 on front padding.

    Raises:
        DataError: no sequences or a malformed one.
    """
    if epochs_from is not None and (not shuffle or int(epochs_from) != epochs_from or epochs_from < 0):
        raise ValueError(f"epochs_from must be an epoch number >= 0 with shuffle=True, got {epochs_from!r}")
    buffers, pads = window_arrays(sequences, window)
    if not _use_tf_data(pipeline):
        from .pydataset import WindowPyDataset

        return WindowPyDataset(buffers, pads, batch_size, shuffle, seed, drop_remainder, epochs_from=epochs_from)
    import tensorflow as tf

    if epochs_from is not None:
        return _epoch_indexed_dataset(buffers, pads, batch_size, seed, drop_remainder, int(epochs_from))
    ds = tf.data.Dataset.from_tensor_slices((buffers, pads))
    if shuffle:
        ds = ds.shuffle(len(pads), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(_split_window_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_sequence_dataset(sequences: Sequence[np.ndarray], batch_size: int = 1, pipeline: str = "auto"):
    """Test pipeline of whole sequences, as the paper's code evaluates them.

    Each sequence ``x_1..x_T`` gives inputs ``x_1..x_{T-1}``, targets
    ``x_2..x_T`` and weights of ones (``T - 1`` predicted frames).

    With ``batch_size=1`` (default) every element is one unpadded sequence
    of shapes ``(1, T-1, 88)``, ``(1, T-1, 88)``, ``(1, T-1)``. With
    ``batch_size > 1`` sequences are combined with ``padded_batch``: shorter
    sequences are zero-padded **at the end** up to the longest in the batch
    and their weights are 0 there, so a weighted metric is unchanged.

    ``pipeline``: as for :func:`make_window_dataset`.

    Returns:
        A ``tf.data.Dataset`` (or a :class:`.pydataset.SequencePyDataset`) of
        ``(inputs, targets, weights)`` (float32), in the order of ``sequences``.
    """
    rolls = validate_sequences(sequences)
    if not _use_tf_data(pipeline):
        from .pydataset import SequencePyDataset

        return SequencePyDataset(rolls, batch_size)
    import tensorflow as tf

    lengths = np.array([len(r) for r in rolls], dtype=np.int64)
    flat = np.concatenate([r.astype(np.uint8) for r in rolls], axis=0)
    ragged = tf.RaggedTensor.from_row_lengths(flat, lengths)

    def split(seq):
        frames = tf.cast(seq, tf.float32)
        inputs, targets = frames[:-1], frames[1:]
        return inputs, targets, tf.ones(tf.shape(inputs)[:1], tf.float32)

    ds = tf.data.Dataset.from_tensor_slices(ragged).map(split)
    ds = ds.padded_batch(
        batch_size,
        padded_shapes=([None, NUM_KEYS], [None, NUM_KEYS], [None]),
    )
    return ds.prefetch(tf.data.AUTOTUNE)
