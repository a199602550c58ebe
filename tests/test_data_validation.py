"""Bad inputs give a clear DataError naming file, split, sequence index and value."""

import json
import struct
import zlib

import numpy as np
import pytest
import scipy.io

from keras_rnnreg import data_pipelines as dp


def _good(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((10 + i, 88)) < 0.1).astype(np.uint8) for i in range(n)]


def _write_mat(path, train=None, valid=None, test=None, drop=(), **extra):
    variables = {}
    for key, seqs in (("traindata", train), ("validdata", valid), ("testdata", test)):
        if key in drop:
            continue
        seqs = _good() if seqs is None else seqs
        cell = np.empty((1, len(seqs)), dtype=object)
        for i, s in enumerate(seqs):
            cell[0, i] = s
        variables[key] = cell
    variables.update(extra)
    scipy.io.savemat(str(path), variables, do_compression=True)
    return path


def test_good_handmade_mat_loads(tmp_path):
    out = dp.load_mat(_write_mat(tmp_path / "ok.mat"))
    assert [len(out[s]) for s in dp.SPLITS] == [3, 3, 3]


def test_wrong_width(tmp_path):
    bad = _good()
    bad[2] = np.zeros((12, 87), np.uint8)
    path = _write_mat(tmp_path / "w.mat", valid=bad)
    with pytest.raises(dp.DataError) as info:
        dp.load_mat(path)
    err = info.value
    assert (err.file, err.split, err.index, err.value) == (str(path), "valid", 2, 87)
    msg = str(err)
    assert "w.mat" in msg and "'valid'" in msg and "sequence 2" in msg and "87" in msg and "88" in msg


def test_values_other_than_0_1(tmp_path):
    bad = _good()
    bad[1] = bad[1].copy()
    bad[1][4, 30] = 2
    path = _write_mat(tmp_path / "v.mat", train=bad)
    with pytest.raises(dp.DataError) as info:
        dp.load_mat(path)
    err = info.value
    assert (err.split, err.index, err.value) == ("train", 1, 2)
    assert "time step 4" in str(err) and "key 30" in str(err)
    # also for rolls given to the pipelines directly (floats)
    roll = np.zeros((3, 88))
    roll[0, 0] = 0.5
    with pytest.raises(dp.DataError, match="0.5"):
        dp.validate_piano_roll(roll, split="test", index=7)


def test_not_2d_or_not_numeric():
    with pytest.raises(dp.DataError, match="2-D"):
        dp.validate_piano_roll(np.zeros((3, 88, 1)))
    with pytest.raises(dp.DataError, match="non-numeric"):
        dp.validate_piano_roll(np.array([["a"] * 88]))


def test_missing_key(tmp_path):
    path = _write_mat(tmp_path / "k.mat", drop=("testdata",), other=np.zeros(3))
    with pytest.raises(dp.DataError) as info:
        dp.load_mat(path)
    assert info.value.split == "test" and info.value.value == "testdata"
    assert "testdata" in str(info.value) and "other" in str(info.value)


def test_not_a_cell(tmp_path):
    path = tmp_path / "n.mat"
    scipy.io.savemat(str(path), {"traindata": np.zeros((4, 88)), "validdata": np.zeros(1), "testdata": np.zeros(1)})
    with pytest.raises(dp.DataError, match="cell array"):
        dp.load_mat(path)


def test_empty_split_mat_and_json(tmp_path):
    path = _write_mat(tmp_path / "e.mat", test=[])
    with pytest.raises(dp.DataError) as info:
        dp.load_mat(path)
    assert info.value.split == "test" and "empty" in str(info.value)
    jpath = tmp_path / "e.json"
    jpath.write_text(json.dumps({"train": [[[60]]], "valid": [], "test": [[[60]]]}))
    with pytest.raises(dp.DataError) as info:
        dp.load_notes_json(jpath)
    assert info.value.split == "valid" and "empty" in str(info.value)
    jpath.write_text(json.dumps({"train": [[[60]]], "valid": [[[60]]]}))
    with pytest.raises(dp.DataError, match="missing split 'test'"):
        dp.load_notes_json(jpath)
    jpath.write_text(json.dumps({"train": [[[60]], []], "valid": [[[60]]], "test": [[[60]]]}))
    with pytest.raises(dp.DataError, match="no time steps") as info:
        dp.load_notes_json(jpath)
    assert (info.value.split, info.value.index) == ("train", 1)


@pytest.mark.parametrize("note", [20, 109, 0, -3, 128])
def test_notes_outside_piano_range(tmp_path, note):
    path = tmp_path / "notes.json"
    data = {"train": [[[60]], [[60, 64], [62, note]]], "valid": [[[60]]], "test": [[[60]]]}
    path.write_text(json.dumps(data))
    with pytest.raises(dp.DataError) as info:
        dp.load_notes_json(path)
    err = info.value
    assert (err.file, err.split, err.index, err.value) == (str(path), "train", 1, note)
    assert "21..108" in str(err) and "time step 1" in str(err)


@pytest.mark.parametrize("note", [60.0, "60", True, None, float("nan")])
def test_non_integer_notes(tmp_path, note):
    with pytest.raises(dp.DataError, match="integer"):
        dp.notes_to_piano_roll([[note]], split="test", index=0)


def test_note_range_edges_map_to_columns():
    roll = dp.notes_to_piano_roll([[21, 108], [], [60]])
    assert roll.shape == (3, 88)
    assert roll[0, 0] == 1 and roll[0, 87] == 1 and roll[2, 39] == 1 and roll.sum() == 3


def test_truncated_mat(tmp_path, data_dir):
    raw = (data_dir / "JSB_Chorales.mat").read_bytes()
    for cut in (0, 50, 127, 128, 135, 1000, len(raw) // 2, len(raw) - 1):
        path = tmp_path / f"t{cut}.mat"
        path.write_bytes(raw[:cut])
        with pytest.raises(dp.DataError) as info:
            dp.load_mat(path)
        assert info.value.file == str(path)


def test_non_mat_files(tmp_path, data_dir, notes_dir):
    cases = {
        "json.mat": (notes_dir / "JSB_Chorales.notes.json").read_bytes()[:4000],
        "text.mat": b"hello world\n" * 50,
        "zeros.mat": bytes(4096),
        "random.mat": np.random.default_rng(0).integers(0, 256, 5000).astype(np.uint8).tobytes(),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(dp.DataError, match="mat"):
            dp.load_mat(path)
    with pytest.raises(dp.DataError, match="not found"):
        dp.load_mat(tmp_path / "absent.mat")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    with pytest.raises(dp.DataError, match="JSON"):
        dp.load_notes_json(bad_json)


def test_mat_v73_is_refused(tmp_path):
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00".ljust(116)
    header += bytes(8) + struct.pack("<H", 0x0200) + b"IM"
    path = tmp_path / "v73.mat"
    path.write_bytes(header + b"\x89HDF\r\n\x1a\n" + bytes(512))
    with pytest.raises(dp.DataError, match="v7.3"):
        dp.load_mat(path)


def test_corrupt_inner_structure_is_caught_before_scipy(tmp_path):
    """A dimension tag lying about its size, in a file with valid zlib checksums."""
    path = _write_mat(tmp_path / "s.mat", train=_good(2))
    raw = bytearray(path.read_bytes())
    # decompress the first variable, damage a dims tag, recompress
    size = struct.unpack_from("<I", raw, 132)[0]
    inner = bytearray(zlib.decompress(bytes(raw[136 : 136 + size])))
    dims_tag = inner.find(struct.pack("<II", 5, 8))
    inner[dims_tag + 4] = 0x38
    comp = zlib.compress(bytes(inner))
    out = raw[:132] + struct.pack("<I", len(comp)) + comp + raw[136 + size :]
    path.write_bytes(bytes(out))
    with pytest.raises(dp.DataError, match="corrupt"):
        dp.load_mat(path)


def _mutations(base, count, seed):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        b = bytearray(base)
        mode = rng.integers(4)
        if mode == 0:  # random byte flips anywhere
            for _ in range(rng.integers(1, 8)):
                b[rng.integers(len(b))] = rng.integers(256)
        elif mode == 1:  # truncation
            b = b[: rng.integers(len(b))]
        elif mode == 2:  # header and first tags
            for _ in range(rng.integers(1, 4)):
                b[rng.integers(min(len(b), 400))] = rng.integers(256)
        else:  # insertion
            p = rng.integers(len(b))
            b[p:p] = rng.integers(0, 256, rng.integers(1, 16)).astype(np.uint8).tobytes()
        yield bytes(b)


def _load_fuzzed(path, data, outcomes):
    """Write ``data`` to ``path`` and load it; tally and check the outcome.

    Every mutation must either load valid piano rolls or raise a DataError that
    names ``path`` and gives a reason; any other exception is recorded (and
    fails the test), and a crash of SciPy's reader would end the run.
    """
    path.write_bytes(data)
    try:
        out = dp.load_mat(path)
    except dp.DataError as e:
        outcomes["error"] += 1
        if e.file != str(path) or not e.reason or not str(e).startswith(f"file {str(path)!r}"):
            outcomes["unclear"].append(str(e)[:200])
    except Exception as e:  # noqa: BLE001 - what the test is about
        outcomes["other"].append(f"{type(e).__name__}: {str(e)[:200]}")
    else:
        outcomes["ok"] += 1
        for seqs in out.values():
            for s in seqs:
                assert s.ndim == 2 and s.shape[1] == 88 and set(np.unique(s)) <= {0.0, 1.0}


def _fuzz_outcomes():
    return {"ok": 0, "error": 0, "unclear": [], "other": []}


def test_fuzzed_mat_files_only_raise_data_error(tmp_path, data_dir):
    """Byte-level corruptions of the compressed original and of an uncompressed
    rewrite (whose matrix tags are exposed) either load valid rolls or raise a
    DataError naming the file; no other exception escapes and the interpreter
    does not crash."""
    compressed = (data_dir / "JSB_Chorales.mat").read_bytes()
    small = {k: v[:4] for k, v in dp.load_mat(data_dir / "JSB_Chorales.mat").items()}
    plain = dp.save_mat(small, tmp_path / "plain.mat", compress=False).read_bytes()
    path = tmp_path / "fuzz.mat"
    outcomes = _fuzz_outcomes()
    for base, seed in ((compressed, 0), (plain, 1)):
        for data in _mutations(base, 250, seed):
            _load_fuzzed(path, data, outcomes)
    assert outcomes["other"] == [] and outcomes["unclear"] == []
    assert outcomes["error"] > 400  # the corruptions were real


@pytest.mark.slow
@pytest.mark.parametrize("name", ["JSB_Chorales", "Nottingham", "Piano_midi", "MuseData"])
def test_fuzzed_mat_files_extended(tmp_path, data_dir, name):
    """Longer fuzzing run over every benchmark file (run with -m slow): each
    mutation loads valid rolls or raises a DataError naming the file, never
    another exception. These seeds include 7 mutations on which a bare
    ``scipy.io.loadmat`` (SciPy 1.17.1) segfaults."""
    base = (data_dir / f"{name}.mat").read_bytes()
    path = tmp_path / "fuzz.mat"
    outcomes = _fuzz_outcomes()
    for data in _mutations(base, 1500, seed=sum(map(ord, name))):
        _load_fuzzed(path, data, outcomes)
    assert outcomes["other"] == [] and outcomes["unclear"] == []
    assert outcomes["error"] > 1000  # the corruptions were real


def test_byte_flip_that_crashes_scipy_is_a_data_error(tmp_path, data_dir):
    """One changed byte of Nottingham.mat (found by the fuzzer) on which a bare
    ``scipy.io.loadmat`` segfaults (SciPy 1.17.1): the structural check must
    stop it, since its sha256 is no longer a benchmark's."""
    raw = bytearray((data_dir / "Nottingham.mat").read_bytes())
    raw[231] = 5
    path = tmp_path / "Nottingham.mat"
    path.write_bytes(bytes(raw))
    with pytest.raises(dp.DataError, match="corrupt .mat file") as info:
        dp.load_mat(path)
    assert info.value.file == str(path)


def test_structural_check_runs_only_for_unknown_files(tmp_path, data_dir, monkeypatch):
    """A benchmark file (known sha256) goes straight to SciPy; any other file is walked first."""
    from keras_rnnreg.data_pipelines import mat_io

    walked = []
    real = mat_io.check_mat_v5
    monkeypatch.setattr(mat_io, "check_mat_v5", lambda buf, **kw: walked.append(kw["file"]) or real(buf, **kw))
    for name in ("JSB_Chorales", "Nottingham", "Piano_midi", "MuseData"):
        dp.load_mat(data_dir / f"{name}.mat")
    assert walked == []
    own = _write_mat(tmp_path / "mine.mat")
    dp.load_mat(own)
    assert walked == [own]
