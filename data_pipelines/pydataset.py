"""The windows and test sequences as ``keras.utils.PyDataset``: NumPy, no TensorFlow.

Same batches as the ``tf.data`` pipelines of :mod:`.windows` (same windows,
padding, weights, batch boundaries and dtypes), for machines with a Keras
backend but no TensorFlow (e.g. JAX only). :func:`.windows.make_window_dataset`
and :func:`.windows.make_sequence_dataset` return these when TensorFlow is not
installed, or when asked with ``pipeline="pydataset"``.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from .registry import NUM_KEYS


class WindowPyDataset(keras.utils.PyDataset):
    """Batches of training windows ``(inputs, targets, weights)``, float32.

    Args:
        buffers: ``uint8`` ``(N, window + 1, 88)`` from :func:`.windows.window_arrays`.
        pads: ``int32`` ``(N,)``, padded positions at the front of each window.
        batch_size: windows per batch.
        shuffle: shuffle the windows, again after every epoch.
        seed: seed of the shuffles (a fixed seed gives the same order every run).
        drop_remainder: drop a last incomplete batch.
        epochs_from: ``None``: one epoch per iteration. An epoch number ``k``:
            endless, batch ``i`` from epoch ``k + i // steps``, whose order depends on
            ``seed`` and the epoch alone (see :func:`.windows.make_window_dataset`).
    """

    def __init__(self, buffers, pads, batch_size=32, shuffle=True, seed=0, drop_remainder=False,
                 epochs_from=None):
        super().__init__()
        self.epochs_from = epochs_from
        self._seed = 0 if seed is None else int(seed)
        self._epoch_orders = {}
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.buffers, self.pads = buffers, pads
        self.batch_size, self.shuffle, self.drop_remainder = int(batch_size), shuffle, drop_remainder
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(pads)) if shuffle else np.arange(len(pads))

    def __len__(self):
        return self.steps_per_epoch

    @property
    def steps_per_epoch(self):
        rounding = math.floor if self.drop_remainder else math.ceil
        return rounding(len(self.pads) / self.batch_size)

    @property
    def num_batches(self):
        return None if self.epochs_from is not None else self.steps_per_epoch  # None: endless

    def _rows(self, index):
        if self.epochs_from is None:
            if not 0 <= index < len(self):
                raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
            return self._order[index * self.batch_size:(index + 1) * self.batch_size]
        epoch, index = self.epochs_from + index // self.steps_per_epoch, index % self.steps_per_epoch
        if epoch not in self._epoch_orders:
            self._epoch_orders = {epoch: np.random.default_rng([self._seed, epoch]).permutation(len(self.pads))}
        return self._epoch_orders[epoch][index * self.batch_size:(index + 1) * self.batch_size]

    def __getitem__(self, index):
        rows = self._rows(index)
        frames = self.buffers[rows].astype(np.float32)
        window = frames.shape[1] - 1
        weights = (np.arange(window)[np.newaxis, :] >= self.pads[rows, np.newaxis]).astype(np.float32)
        return frames[:, :-1], frames[:, 1:], weights

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.pads))


class SequencePyDataset(keras.utils.PyDataset):
    """Whole sequences ``(inputs, targets, weights)``, float32, in the given order.

    A batch of several sequences is zero-padded at the end to its longest one,
    with weight 0 there, as ``tf.data``'s ``padded_batch`` does.

    Args:
        rolls: validated piano rolls ``(T, 88)``.
        batch_size: sequences per batch.
    """

    def __init__(self, rolls, batch_size=1):
        super().__init__()
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.rolls, self.batch_size = list(rolls), int(batch_size)

    def __len__(self):
        return math.ceil(len(self.rolls) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
        batch = self.rolls[index * self.batch_size:(index + 1) * self.batch_size]
        steps = max(len(r) for r in batch) - 1
        inputs = np.zeros((len(batch), steps, NUM_KEYS), np.float32)
        targets = np.zeros_like(inputs)
        weights = np.zeros((len(batch), steps), np.float32)
        for i, roll in enumerate(batch):
            n = len(roll) - 1
            inputs[i, :n], targets[i, :n], weights[i, :n] = roll[:-1], roll[1:], 1.0
        return inputs, targets, weights
