"""Windowing of training/validation sequences and the whole-sequence test pipeline."""

import numpy as np
import pytest

from keras_rnnreg import data_pipelines as dp


def _random_rolls(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((n, 88)) < 0.1).astype(np.float32) for n in lengths]


def _collect(ds):
    xs, ys, ws = [], [], []
    for x, y, w in ds:
        xs.append(x.numpy())
        ys.append(y.numpy())
        ws.append(w.numpy())
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


@pytest.fixture(scope="module")
def jsb(data_dir):
    return dp.load_dataset("jsb_chorales", data_dir)


@pytest.mark.parametrize(
    "length, window, count, first_pad",
    [(1, 100, 1, 99), (99, 100, 1, 1), (100, 100, 1, 0), (101, 100, 2, 99),
     (250, 100, 3, 50), (7, 3, 3, 2), (6, 3, 2, 0), (5, 1, 5, 0)],
)
def test_window_count_and_front_padding(length, window, count, first_pad):
    seq = _random_rolls([length], seed=length)[0]
    seq[0, 5] = 1.0  # make sure the first frame is not silent
    buffers, pads = dp.window_arrays([seq], window)
    assert dp.window_count(length, window) == count
    assert buffers.shape == (count, window + 1, 88)
    assert list(pads) == [first_pad] + [0] * (count - 1)
    x, y, w = _collect(dp.make_window_dataset([seq], window, batch_size=64, shuffle=False))
    assert x.shape == y.shape == (count, window, 88) and w.shape == (count, window)
    # padding at the FRONT of the first window only: weight 0, inputs and targets 0
    assert np.all(w[0, :first_pad] == 0) and np.all(w[0, first_pad:] == 1)
    assert np.all(w[1:] == 1)
    assert not x[0, :first_pad].any() and not y[0, :first_pad].any()
    # the first real pair predicts x_1 from the all-zero start frame
    assert not x[0, first_pad].any()
    np.testing.assert_array_equal(y[0, first_pad], seq[0])
    # the last target of the last window is the last frame (windows end-aligned)
    np.testing.assert_array_equal(y[-1, -1], seq[-1])


def test_hand_made_sequence_values():
    """Frames numbered 1..7 (one key each), window 3 -> [pad,pad,0|1],[1,2,3|2,3,4]..."""
    seq = np.zeros((7, 88), np.float32)
    seq[np.arange(7), np.arange(7) + 10] = 1  # frame t has key 10+t on
    x, y, w = _collect(dp.make_window_dataset([seq], window=3, batch_size=8, shuffle=False))
    key = lambda a: [int(np.argmax(f)) - 10 if f.any() else None for f in a]  # noqa: E731
    assert [key(a) for a in x] == [[None, None, None], [0, 1, 2], [3, 4, 5]]
    assert [key(a) for a in y] == [[None, None, 0], [1, 2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(w, [[0, 0, 1], [1, 1, 1], [1, 1, 1]])


def test_every_training_frame_is_an_unmasked_target_exactly_once(jsb):
    train = jsb["train"]
    x, y, w = _collect(dp.make_window_dataset(train, 100, batch_size=50, shuffle=False))
    counts = [dp.window_count(len(s), 100) for s in train]
    assert len(w) == sum(counts)
    assert w.sum() == sum(len(s) for s in train) == 13807
    start = 0
    for seq, n in zip(train, counts):
        wy, ww, wx = y[start : start + n], w[start : start + n], x[start : start + n]
        targets = wy[ww == 1]  # in time order
        np.testing.assert_array_equal(targets, seq)
        inputs = wx[ww == 1]
        np.testing.assert_array_equal(inputs[0], 0)  # start frame
        np.testing.assert_array_equal(inputs[1:], seq[:-1])
        # padded frames: weight 0 and no content
        assert not wy[ww == 0].any() and not wx[ww == 0].any()
        start += n


def test_shuffled_windows_are_a_seeded_permutation(jsb):
    train = jsb["train"]
    ref = _collect(dp.make_window_dataset(train, 100, batch_size=32, shuffle=False))
    ds = dp.make_window_dataset(train, 100, batch_size=32, shuffle=True, seed=3)
    a = _collect(ds)
    b = _collect(dp.make_window_dataset(train, 100, batch_size=32, shuffle=True, seed=3))
    c = _collect(dp.make_window_dataset(train, 100, batch_size=32, shuffle=True, seed=4))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)  # same seed, same order
    assert not np.array_equal(a[1], c[1])  # another seed, another order
    assert not np.array_equal(a[1], ref[1])  # actually shuffled
    # same multiset of windows
    sig = lambda t: sorted(  # noqa: E731
        (wy.tobytes() + ww.tobytes()) for wy, ww in zip(t[1], t[2])
    )
    assert sig(a) == sig(ref)
    second_epoch = _collect(ds)  # reshuffled every epoch
    assert not np.array_equal(second_epoch[1], a[1])
    assert sig(second_epoch) == sig(ref)


def test_batching_shapes_and_drop_remainder():
    seqs = _random_rolls([30, 45, 10])  # windows of 20: 2 + 3 + 1 = 6
    ds = dp.make_window_dataset(seqs, window=20, batch_size=4, shuffle=False)
    spec = ds.element_spec
    assert spec[0].shape.as_list() == [None, 20, 88]
    assert spec[2].shape.as_list() == [None, 20]
    assert [b[0].shape[0] for b in ds] == [4, 2]
    ds = dp.make_window_dataset(seqs, window=20, batch_size=4, drop_remainder=True)
    assert [b[0].shape[0] for b in ds] == [4]
    assert ds.element_spec[0].shape.as_list() == [4, 20, 88]


def test_keras_fit_and_padding_is_ignored():
    """The dataset plugs into fit/evaluate, and padded frames do not count."""
    import keras

    seqs = _random_rolls([13, 25, 4], seed=1)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None, 88)), keras.layers.Dense(88, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", weighted_metrics=[])
    ds = dp.make_window_dataset(seqs, window=10, batch_size=8, shuffle=False)
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    x, y, w = _collect(ds)
    p = np.clip(model.predict(x, verbose=0), 1e-7, 1 - 1e-7)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(-1)  # per frame (B, T)
    # Keras: sum of weighted per-frame losses / number of frames (weights 0 included)
    expected = (bce * w).sum() / w.size
    got = model.evaluate(ds, verbose=0)
    assert got == pytest.approx(expected, rel=1e-4)
    # a loss that ignored the weights would differ
    assert bce.mean() != pytest.approx(expected, rel=1e-3)


def test_sequence_dataset_whole_unpadded(jsb):
    test = jsb["test"]
    ds = dp.make_sequence_dataset(test)
    n = 0
    for (x, y, w), seq in zip(ds, test):
        t = len(seq)
        assert x.shape == (1, t - 1, 88) and y.shape == (1, t - 1, 88) and w.shape == (1, t - 1)
        np.testing.assert_array_equal(x[0], seq[:-1])
        np.testing.assert_array_equal(y[0], seq[1:])
        assert np.all(w.numpy() == 1)
        n += 1
    assert n == 77


def test_sequence_dataset_padded_batch():
    seqs = _random_rolls([5, 9, 3])
    batches = list(dp.make_sequence_dataset(seqs, batch_size=2))
    x, y, w = (t.numpy() for t in batches[0])
    assert x.shape == (2, 8, 88)
    np.testing.assert_array_equal(w, [[1] * 4 + [0] * 4, [1] * 8])
    np.testing.assert_array_equal(y[0, :4], seqs[0][1:])
    assert not y[0, 4:].any()  # padded at the end
    assert batches[1][0].shape == (1, 2, 88)
    assert sum(float(b[2].numpy().sum()) for b in batches) == 4 + 8 + 2


def test_make_datasets(data_dir):
    train, valid, test = dp.make_datasets("jsb_chorales", data_dir, window=50, batch_size=16, seed=1)
    x, y, w = next(iter(train))
    assert x.shape == (16, 50, 88) and w.shape == (16, 50)
    vw = sum(float(b[2].numpy().sum()) for b in valid)
    assert vw == 4602  # every validation frame counted once
    assert sum(1 for _ in test) == 77


def test_bad_pipeline_inputs():
    with pytest.raises(dp.DataError, match="empty"):
        dp.make_window_dataset([])
    bad = [np.zeros((5, 88)), np.zeros((5, 87))]
    with pytest.raises(dp.DataError) as info:
        dp.make_window_dataset(bad)
    assert info.value.index == 1 and info.value.value == 87
    with pytest.raises(dp.DataError, match="no time steps"):
        dp.make_sequence_dataset([np.zeros((0, 88))])
    with pytest.raises(ValueError, match="window"):
        dp.window_arrays([np.zeros((5, 88))], window=0)


@pytest.mark.parametrize("pipeline", ["tf.data", "pydataset"])
def test_epoch_indexed_order_depends_on_the_epoch_alone(pipeline):
    """``epochs_from=k`` starts at epoch k's order: what a run from epoch 0 sees there (resumes are exact)."""
    rng = np.random.default_rng(3)
    rolls = [rng.binomial(1, 0.1, size=(n, 88)).astype(np.uint8) for n in (7, 12, 5, 9, 16)]
    window, batch_size = 4, 3
    total = sum(dp.window_count(len(r), window) for r in rolls)
    steps = dp.batches_per_epoch(total, batch_size)

    def batches(first_epoch, count):
        ds = dp.make_window_dataset(rolls, window, batch_size, seed=7, pipeline=pipeline, epochs_from=first_epoch)
        if pipeline == "pydataset":
            assert ds.num_batches is None and len(ds) == steps
            return [tuple(np.asarray(a) for a in ds[i]) for i in range(count)]
        return [tuple(np.asarray(a) for a in b) for b in ds.take(count)]

    from_start = batches(0, 4 * steps)
    resumed = batches(2, 2 * steps)
    for got, want in zip(resumed, from_start[2 * steps:]):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    # Each epoch holds every window once, and two epochs differ in order.
    epochs = [np.concatenate([b[0] for b in from_start[e * steps:(e + 1) * steps]]) for e in range(4)]
    keys = [sorted(map(bytes, x.reshape(total, -1))) for x in epochs]
    assert all(k == keys[0] for k in keys) and len(epochs[0]) == total
    assert not np.array_equal(epochs[0], epochs[1])
    with pytest.raises(ValueError, match="epochs_from"):
        dp.make_window_dataset(rolls, window, batch_size, shuffle=False, pipeline=pipeline, epochs_from=0)
