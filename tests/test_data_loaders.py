"""Loading the four benchmarks: split sizes, encodings, data-dir resolution, stats."""

import pathlib
import shutil

import numpy as np
import pytest

from keras_rnnreg import data_pipelines as dp
from keras_rnnreg.data_pipelines import registry, sources

# Split sizes (sequences, time steps) from ../shared/data/README.md.
EXPECTED = {
    "jsb_chorales": {"train": (229, 13807), "valid": (76, 4602), "test": (77, 4725)},
    "nottingham": {"train": (694, 176561), "valid": (173, 45513), "test": (170, 44463)},
    "piano_midi": {"train": (87, 75911), "valid": (12, 8540), "test": (25, 19036)},
    "musedata": {"train": (524, 245202), "valid": (135, 82755), "test": (124, 64339)},
}


@pytest.fixture(scope="module")
def all_datasets(data_dir):
    return {name: dp.load_dataset(name, data_dir) for name in dp.DATASETS}


def test_dataset_names():
    assert dp.DATASETS == ("jsb_chorales", "nottingham", "piano_midi", "musedata")
    assert issubclass(dp.DataError, ValueError)


@pytest.mark.parametrize("name", ["jsb_chorales", "nottingham", "piano_midi", "musedata"])
def test_split_sizes_match_readme(all_datasets, name):
    splits = all_datasets[name]
    assert set(splits) == {"train", "valid", "test"}
    for split, (n_seq, n_frames) in EXPECTED[name].items():
        seqs = splits[split]
        assert len(seqs) == n_seq
        assert sum(len(s) for s in seqs) == n_frames
    # the registry carries the same table
    assert dict(registry.get_info(name).split_sizes) == EXPECTED[name]


@pytest.mark.parametrize("name", ["jsb_chorales", "nottingham", "piano_midi", "musedata"])
def test_piano_rolls_are_binary_float32_88_wide(all_datasets, name):
    for seqs in all_datasets[name].values():
        for s in seqs:
            assert isinstance(s, np.ndarray)
            assert s.dtype == np.float32
            assert s.ndim == 2 and s.shape[1] == 88 and s.shape[0] > 0
        stacked = np.concatenate(seqs)
        assert set(np.unique(stacked)) <= {0.0, 1.0}
        # note density as in docs/references.md (0.035-0.045 on every dataset)
        assert 0.03 < stacked.mean() < 0.05


def test_jsb_mat_and_json_encodings_are_identical(all_datasets, notes_dir):
    from_mat = all_datasets["jsb_chorales"]
    from_json = dp.load_dataset("jsb_chorales", notes_dir, source="notes")
    for split in dp.SPLITS:
        assert len(from_mat[split]) == len(from_json[split])
        for a, b in zip(from_mat[split], from_json[split]):
            assert a.dtype == b.dtype == np.float32
            np.testing.assert_array_equal(a, b)


def test_unknown_dataset_lists_valid_names(data_dir):
    with pytest.raises(ValueError) as info:
        dp.load_dataset("bach_fugues", data_dir)
    for name in dp.DATASETS:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="source"):
        dp.load_dataset("jsb_chorales", data_dir, source="midi")


def test_resolve_data_dir_order(tmp_path, monkeypatch, notes_dir, data_dir):
    monkeypatch.setenv("KERAS_RNNREG_DATA_DIR", str(notes_dir))
    assert dp.resolve_data_dir(tmp_path) == tmp_path  # argument first
    assert dp.resolve_data_dir() == pathlib.Path(notes_dir)  # then the environment
    assert dp.resolve_data_dir(name="jsb_chorales") == pathlib.Path(notes_dir)
    monkeypatch.delenv("KERAS_RNNREG_DATA_DIR")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.setenv("KERAS_RNNREG_DATA_ORIGIN", "http://127.0.0.1:9/unreachable")
    # then the packaged files, for a dataset's .mat file
    assert dp.resolve_data_dir(name="jsb_chorales") == data_dir
    # without a dataset name: the Keras cache, where downloads go
    assert dp.resolve_data_dir() == tmp_path / "kh" / "datasets" / "keras_rnnreg"
    with pytest.raises(dp.DataError, match="does not exist"):
        dp.resolve_data_dir(tmp_path / "nope")


def test_cache_is_used_without_download(tmp_path, monkeypatch, data_dir):
    """A verified file already in the cache is used; nothing is fetched."""
    monkeypatch.delenv("KERAS_RNNREG_DATA_DIR", raising=False)
    monkeypatch.setattr(sources, "packaged_data_dir", lambda: None)  # as from a zip import
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_RNNREG_DATA_ORIGIN", "http://127.0.0.1:9/unreachable")
    cache = tmp_path / "datasets" / "keras_rnnreg"
    cache.mkdir(parents=True)
    shutil.copy(data_dir / "JSB_Chorales.mat", cache)
    splits = dp.load_dataset("jsb_chorales")
    assert len(splits["train"]) == 229
    assert dp.resolve_data_dir(name="jsb_chorales") == cache


@pytest.mark.parametrize("via_env", [False, True])
def test_local_copy_is_checked_against_the_pinned_sha256(tmp_path, monkeypatch, data_dir, via_env):
    """A benchmark file in a local folder must be the benchmark file: one changed
    byte is a DataError naming the file and both checksums; a good copy loads."""
    original = (data_dir / "Piano_midi.mat").read_bytes()
    (tmp_path / "Piano_midi.mat").write_bytes(original)
    load = (lambda: dp.load_dataset("piano_midi")) if via_env else (
        lambda: dp.load_dataset("piano_midi", tmp_path))
    if via_env:
        monkeypatch.setenv("KERAS_RNNREG_DATA_DIR", str(tmp_path))
    assert [len(load()[s]) for s in dp.SPLITS] == [87, 12, 25]
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0x01
    (tmp_path / "Piano_midi.mat").write_bytes(bytes(damaged))
    with pytest.raises(dp.DataError) as info:
        load()
    message = str(info.value)
    assert info.value.file == str(tmp_path / "Piano_midi.mat")
    assert registry.get_info("piano_midi").mat.sha256 in message
    assert sources.sha256_of(tmp_path / "Piano_midi.mat") in message
    assert "KERAS_RNNREG_DATA_DIR" in message and "data_dir=" in message
    assert len(message) < dp.errors.MESSAGE_LIMIT  # nothing cut off


def test_pinned_note_list_is_checked_too(tmp_path, notes_dir):
    """JSB Chorales' JSON has a pinned sha256: a different JSON under its name is refused."""
    shutil.copy(notes_dir / "JSB_Chorales.notes.json", tmp_path)
    assert len(dp.load_dataset("jsb_chorales", tmp_path, source="notes")["test"]) == 77
    (tmp_path / "JSB_Chorales.notes.json").write_text('{"train": [[[60]]], "valid": [[[60]]], "test": [[[60], [61]]]}')
    with pytest.raises(dp.DataError, match="sha256 checksum .* does not match"):
        dp.load_dataset("jsb_chorales", tmp_path, source="notes")


def test_missing_file_in_explicit_dir(tmp_path):
    with pytest.raises(dp.DataError) as info:
        dp.load_dataset("nottingham", tmp_path)
    assert "Nottingham.mat" in str(info.value)
    assert info.value.file == str(tmp_path)
    # notes for Nottingham: neither JSON nor pickle present
    with pytest.raises(dp.DataError, match="Nottingham.pickle"):
        dp.load_dataset("nottingham", tmp_path, source="notes")


def test_notes_prefers_json_then_pickle(tmp_path, all_datasets):
    """source='notes' reads <Name>.notes.json, else the original pickle name."""
    import pickle

    rolls = all_datasets["piano_midi"]
    small = {k: v[:2] for k, v in rolls.items()}
    notes = {
        k: [[tuple(np.flatnonzero(f) + 21) for f in r] for r in v] for k, v in small.items()
    }
    (tmp_path / "Piano-midi.de.pickle").write_bytes(pickle.dumps(notes, protocol=2))
    got = dp.load_dataset("piano_midi", tmp_path, source="notes")
    for split in dp.SPLITS:
        for a, b in zip(got[split], small[split]):
            np.testing.assert_array_equal(a, b)
    # a JSON next to it takes precedence
    one = {k: v[:1] for k, v in small.items()}
    dp.save_notes_json(one, tmp_path / "Piano_midi.notes.json")
    assert len(dp.load_dataset("piano_midi", tmp_path, source="notes")["train"]) == 1


def test_save_mat_round_trip(tmp_path, all_datasets):
    small = {k: v[:3] for k, v in all_datasets["musedata"].items()}
    for compress in (True, False):
        path = dp.save_mat(small, tmp_path / f"m{compress}.mat", compress=compress)
        back = dp.load_mat(path)
        for split in dp.SPLITS:
            for a, b in zip(back[split], small[split]):
                np.testing.assert_array_equal(a, b)


def test_dataset_stats_and_format(data_dir, all_datasets):
    stats = dp.dataset_stats("jsb_chorales", data_dir)
    assert stats["dataset"] == "jsb_chorales"
    for split, (n_seq, n_frames) in EXPECTED["jsb_chorales"].items():
        row = stats["splits"][split]
        assert row["sequences"] == n_seq
        assert row["frames"] == n_frames
        stacked = np.concatenate(all_datasets["jsb_chorales"][split])
        assert row["mean_note_density"] == pytest.approx(stacked.mean(), rel=1e-9)
        assert row["mean_notes_per_frame"] == pytest.approx(stacked.sum(1).mean(), rel=1e-9)
    assert stats["total"]["sequences"] == 229 + 76 + 77
    text = dp.format_stats(stats)
    assert "JSB Chorales" in text
    for token in ("train", "valid", "test", "13,807", "4,602", "4,725", "229", "0.044"):
        assert token in text
