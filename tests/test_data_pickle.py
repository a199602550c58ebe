"""The original note-list pickles, read only through the restricted unpickler."""

import inspect
import os
import pickle
import subprocess

import numpy as np
import pytest

from keras_rnnreg import data_pipelines as dp
from keras_rnnreg.data_pipelines import notes_io


def _notes():
    """A small note-list dataset mixing ints, numpy integers, tuples and lists."""
    return {
        "train": [
            [(60, 64, 67), (np.int64(62),), (), [np.uint8(21), np.int32(108)]],
            [[np.int16(70)], (np.uint16(71), 72)],
        ],
        "valid": [[(np.dtype(">i4").type(65),)]],  # big-endian numpy scalar
        "test": [[(40,), [41, np.int8(42)]]],
    }


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_generated_pickles_load(tmp_path, protocol):
    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps(_notes(), protocol=protocol))
    out = dp.load_notes_pickle(path)
    train0 = out["train"][0]
    assert train0.shape == (4, 88) and train0.dtype == np.float32
    assert [list(np.flatnonzero(f) + 21) for f in train0] == [[60, 64, 67], [62], [], [21, 108]]
    assert list(np.flatnonzero(out["valid"][0][0]) + 21) == [65]
    assert list(np.flatnonzero(out["test"][0][1]) + 21) == [41, 42]


def test_numpy_scalars_keep_their_values():
    for value in (np.int64(-5), np.uint64(2**63 + 1), np.dtype(">i2").type(300), np.uint8(255)):
        for protocol in (0, 2, 5):
            got = dp.restricted_loads(pickle.dumps(value, protocol=protocol))
            assert got == value and isinstance(got, np.integer)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvilEval:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


class _EvilPopen:
    def __reduce__(self):
        return (subprocess.Popen, (["true"],))


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_malicious_pickle_is_refused_without_running(tmp_path, protocol):
    marker = tmp_path / "pwned"
    payload = {"train": [[(60,)]], "valid": [_Evil(marker)], "test": [[(60,)]]}
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(dp.DataError) as info:
        dp.load_notes_pickle(path)
    assert "system" in str(info.value) and info.value.file == str(path)
    assert not marker.exists()
    for obj in (_EvilEval(), _EvilPopen()):
        with pytest.raises(dp.DataError, match="disallowed global"):
            dp.restricted_loads(pickle.dumps(obj, protocol=protocol))


@pytest.mark.parametrize(
    "obj",
    [np.float64(60.0), np.array([60, 61]), np.str_("x"), {1.5}, np.dtype("O")],
    ids=["float-scalar", "ndarray", "str-scalar", "float-set", "object-dtype"],
)
def test_other_numpy_objects_are_refused(obj):
    data = pickle.dumps(obj, protocol=2)
    if isinstance(obj, set):  # sets of floats unpickle, but are then not valid notes
        got = dp.restricted_loads(data)
        with pytest.raises(dp.DataError, match="integer"):
            dp.notes_to_piano_roll([got])
        return
    with pytest.raises(dp.DataError):
        dp.restricted_loads(data)


def test_crafted_scalar_with_object_dtype_is_refused():
    # GLOBAL numpy._core.multiarray scalar, with a dtype built from 'O'
    crafted = (
        b"\x80\x02cnumpy._core.multiarray\nscalar\ncnumpy\ndtype\nX\x01\x00\x00\x00O"
        b"\x89\x88\x87R}bX\x00\x00\x00\x00\x86R."
    )
    with pytest.raises(dp.DataError, match="dtype"):
        dp.restricted_loads(crafted)


def test_truncated_and_garbage_pickles(tmp_path):
    good = pickle.dumps(_notes(), protocol=2)
    for data in (good[:-1], good[: len(good) // 2], b"\x80\x02garbage", b"not a pickle"):
        with pytest.raises(dp.DataError):
            dp.restricted_loads(data)
    empty = tmp_path / "empty.pickle"
    empty.write_bytes(b"")
    with pytest.raises(dp.DataError, match="empty"):
        dp.load_notes_pickle(empty)


def test_bad_notes_in_pickle_name_split_and_index(tmp_path):
    data = _notes()
    data["test"].append([(60,), (np.int64(200),)])
    path = tmp_path / "bad.pickle"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(dp.DataError) as info:
        dp.load_notes_pickle(path)
    err = info.value
    assert (err.file, err.split, err.index, err.value) == (str(path), "test", 1, 200)
    path.write_bytes(pickle.dumps({"train": [], "valid": [[(60,)]], "test": [[(60,)]]}))
    with pytest.raises(dp.DataError, match="empty"):
        dp.load_notes_pickle(path)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(dp.DataError, match="mapping"):
        dp.load_notes_pickle(path)


def test_module_never_calls_plain_pickle_load():
    source = inspect.getsource(notes_io)
    assert "pickle.load(" not in source and "pickle.loads(" not in source
    assert issubclass(dp.RestrictedUnpickler, pickle.Unpickler)
