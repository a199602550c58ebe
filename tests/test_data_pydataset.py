"""The NumPy ``PyDataset`` pipelines give the same batches as the ``tf.data`` ones."""

import numpy as np
import pytest

from keras_rnnreg import data_pipelines as dp
from keras_rnnreg.data_pipelines.pydataset import SequencePyDataset, WindowPyDataset


def _rolls(seed=0, lengths=(7, 23, 5, 40, 12)):
    rng = np.random.default_rng(seed)
    return [(rng.random((n, 88)) < 0.1).astype(np.float32) for n in lengths]


def _batches(ds):
    if isinstance(ds, (WindowPyDataset, SequencePyDataset)):
        return [ds[i] for i in range(len(ds))]
    return [tuple(np.asarray(t) for t in b) for b in ds]


@pytest.mark.parametrize("drop_remainder", [False, True])
def test_windows_equal_tf_data_batch_for_batch(drop_remainder):
    rolls = _rolls()
    kwargs = dict(window=10, batch_size=3, shuffle=False, drop_remainder=drop_remainder)
    ours = dp.make_window_dataset(rolls, pipeline="pydataset", **kwargs)
    assert isinstance(ours, WindowPyDataset)
    theirs = _batches(dp.make_window_dataset(rolls, pipeline="tf.data", **kwargs))
    ours = _batches(ours)
    assert len(ours) == len(theirs) == (3 if drop_remainder else 4)  # 1+3+1+4+2 = 11 windows
    for a, b in zip(ours, theirs):
        for x, y in zip(a, b):
            assert x.dtype == y.dtype == np.float32
            np.testing.assert_array_equal(x, y)


def test_shuffled_windows_cover_every_window_once_reproducibly():
    rolls = _rolls(1)
    buffers, _ = dp.window_arrays(rolls, 10)

    def epochs(seed, n=3):
        ds = dp.make_window_dataset(rolls, window=10, batch_size=4, seed=seed, pipeline="pydataset")
        out = []
        for _ in range(n):
            out.append(np.concatenate([ds[i][1] for i in range(len(ds))]))
            ds.on_epoch_end()
        return out

    first = epochs(0)
    unshuffled_targets = buffers[:, 1:].astype(np.float32)
    for targets in first:
        assert sorted(map(bytes, targets)) == sorted(map(bytes, unshuffled_targets))
    assert not np.array_equal(first[0], first[1])  # a new order every epoch
    for a, b in zip(first, epochs(0)):
        np.testing.assert_array_equal(a, b)  # same seed, same orders


@pytest.mark.parametrize("batch_size", [1, 2])
def test_sequences_equal_tf_data(batch_size):
    rolls = _rolls(2)
    ours = _batches(dp.make_sequence_dataset(rolls, batch_size, pipeline="pydataset"))
    theirs = _batches(dp.make_sequence_dataset(rolls, batch_size, pipeline="tf.data"))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_bad_pipeline_and_index_are_clear_errors():
    with pytest.raises(ValueError, match="pipeline must be one of auto, tf.data, pydataset, got 'torch'"):
        dp.make_window_dataset(_rolls(), pipeline="torch")
    ds = dp.make_window_dataset(_rolls(), window=10, batch_size=4, pipeline="pydataset")
    with pytest.raises(IndexError, match=r"batch 3 out of range \(0\.\.2\)"):
        ds[3]
