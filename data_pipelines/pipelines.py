"""One-call pipelines (``tf.data``, or NumPy ``PyDataset`` without TensorFlow) for a benchmark."""

from __future__ import annotations

import os

from .loaders import load_dataset
from .windows import make_sequence_dataset, make_window_dataset


def make_datasets(
    name: str,
    data_dir: str | os.PathLike | None = None,
    window: int = 100,
    batch_size: int = 32,
    seed: int = 0,
    *,
    source: str = "mat",
    pipeline: str = "auto",
):
    """Train, validation and test pipelines of a benchmark.

    Args:
        name: dataset name (see ``DATASETS``).
        data_dir: data folder (see :func:`load_dataset`).
        window: training/validation window length.
        batch_size: windows per batch (train and valid).
        seed: shuffle seed of the training windows.
        source: ``"mat"`` or ``"notes"``.
        pipeline: ``"tf.data"``, ``"pydataset"`` or ``"auto"`` (``tf.data``
            if TensorFlow is installed), see :func:`make_window_dataset`.

    Returns:
        ``(train_ds, valid_ds, test_ds)``: shuffled training windows,
        unshuffled validation windows, and whole unpadded test sequences
        (batch size 1), each yielding ``(inputs, targets, weights)``.
    """
    splits = load_dataset(name, data_dir, source=source)
    train = make_window_dataset(splits["train"], window, batch_size, shuffle=True, seed=seed, pipeline=pipeline)
    valid = make_window_dataset(splits["valid"], window, batch_size, shuffle=False, pipeline=pipeline)
    test = make_sequence_dataset(splits["test"], batch_size=1, pipeline=pipeline)
    return train, valid, test
