"""The TFDS builder: four configs, built from a manual dir or a verified download."""

import functools
import http.server
import shutil
import threading

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from keras_rnnreg import data_pipelines as dp  # noqa: E402
from keras_rnnreg.data_pipelines import sources, tfds_builder  # noqa: E402  (registers the builder)


def test_builder_is_registered_with_four_configs():
    assert "polyphonic_music" in tfds.list_builders(with_community_datasets=False)
    names = [c.name for c in tfds_builder.PolyphonicMusic.BUILDER_CONFIGS]
    assert names == list(dp.DATASETS)


def test_build_jsb_from_manual_dir(tmp_path, data_dir):
    splits = tfds.load(
        "polyphonic_music/jsb_chorales",
        data_dir=str(tmp_path),
        download_and_prepare_kwargs={
            "download_config": tfds.download.DownloadConfig(manual_dir=str(data_dir))
        },
    )
    builder = tfds.builder("polyphonic_music/jsb_chorales", data_dir=str(tmp_path))
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {
        "train": 229, "validation": 76, "test": 77,
    }
    reference = dp.load_dataset("jsb_chorales", data_dir)
    for tfds_split, split, frames in (("train", "train", 13807), ("validation", "valid", 4602), ("test", "test", 4725)):
        total = 0
        seen = set()
        for ex in tfds.as_numpy(splits[tfds_split]):
            roll = ex["piano_roll"]
            assert roll.dtype == np.uint8 and roll.shape == (ex["num_steps"], 88)
            np.testing.assert_array_equal(roll, reference[split][ex["index"]])
            seen.add(int(ex["index"]))
            total += int(ex["num_steps"])
        assert total == frames and seen == set(range(len(reference[split])))


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def origin(tmp_path, data_dir):
    root = tmp_path / "www"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir()
    shutil.copy(data_dir / "Piano_midi.mat", root / "good")
    bad = bytearray((data_dir / "Piano_midi.mat").read_bytes())
    bad[-10] ^= 0x55
    (root / "bad" / "Piano_midi.mat").write_bytes(bytes(bad))
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_build_by_download_checks_sha256(tmp_path, origin, monkeypatch):
    monkeypatch.setattr(sources, "packaged_data_dir", lambda: None)  # force the download
    monkeypatch.setenv("KERAS_RNNREG_DATA_ORIGIN", origin + "/bad")
    with pytest.raises(dp.DataError, match="checksum"):
        tfds_builder.load_tfds("piano_midi", data_dir=tmp_path / "bad_build")
    monkeypatch.setenv("KERAS_RNNREG_DATA_ORIGIN", origin + "/good")
    test = tfds_builder.load_tfds("piano_midi", split="test", data_dir=tmp_path / "build")
    assert sum(int(ex["num_steps"]) for ex in tfds.as_numpy(test)) == 19036


def test_build_from_the_packaged_file_without_network(tmp_path, monkeypatch):
    """No manual directory and no reachable origin: the copy shipped in the package is used."""
    monkeypatch.setenv("KERAS_RNNREG_DATA_ORIGIN", "http://127.0.0.1:9/unreachable")
    test = tfds_builder.load_tfds("jsb_chorales", split="test", data_dir=tmp_path / "build")
    assert sum(int(ex["num_steps"]) for ex in tfds.as_numpy(test)) == 4725
