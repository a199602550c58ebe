"""Full disks, read-only folders and missing permissions (issue 32): one ``error:`` line, exit 2.

Write failures are injected in-process through :func:`keras_rnnreg.app.cli.main`
(``OSError(ENOSPC)``, ``OSError(EROFS)``, ``PermissionError`` from the N-th
``os.replace`` or from every write under a folder), since the tests run as
root, where ``chmod`` does not stop writes; the real ``chmod 0o555`` variant
runs only as another user. Each case checks: exit status 2, exactly one line
on stderr, ``error: cannot write '<path>': <cause>`` naming the file, no
traceback, no lock left, and the run resumes (or is read) afterwards.
"""

import errno
import json
import os
import tempfile

import pytest

from keras_rnnreg.app import cli, locking, rundir

TRAIN = ["prog", "train", "--model", "rnn", "--units", "8", "--epochs", "2", "--max_train_sequences", "4",
         "--max_valid_sequences", "2", "--max_test_sequences", "2", "--batch_size", "4", "--noexport",
         "--notensorboard", "--verbose", "0", "--patience", "0"]
CAUSES = {errno.ENOSPC: "No space left on device", errno.EROFS: "Read-only file system",
          errno.EACCES: "Permission denied"}


def _error_of(code, path):
    cls = PermissionError if code == errno.EACCES else OSError
    return cls(code, os.strerror(code), os.fspath(path))


def _fail_replace(monkeypatch, code, name, nth=1):
    """``os.replace`` onto a file called ``name`` fails with ``code`` on its ``nth`` call."""
    real = os.replace
    calls = {"n": 0}

    def replace(src, dst, *args, **kwargs):
        if os.path.basename(os.fspath(dst)) == name:
            calls["n"] += 1
            if calls["n"] == nth:
                raise _error_of(code, src)  # the temporary's name, as the OS reports it
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return calls


def _read_only(monkeypatch, root, code=errno.EROFS):
    """Every creation, rename or removal under ``root`` fails with ``code`` (a read-only mount)."""
    root = os.path.abspath(root)

    def under(path):
        return path is not None and os.path.abspath(os.fspath(path)).startswith(root)

    def guard(real, *names):
        def wrapped(*args, **kwargs):
            paths = [args[0] if args else None] + [kwargs.get(n) for n in names]
            for path in paths:
                if under(path):
                    raise _error_of(code, path)
            return real(*args, **kwargs)

        return wrapped

    real_mkstemp, real_mkdtemp = tempfile.mkstemp, tempfile.mkdtemp

    def mkstemp(suffix=None, prefix=None, dir=None, text=False):
        if under(dir):
            raise _error_of(code, os.path.join(dir, (prefix or "") + "XXXX"))
        return real_mkstemp(suffix, prefix, dir, text)

    def mkdtemp(suffix=None, prefix=None, dir=None):
        if under(dir):
            raise _error_of(code, os.path.join(dir, (prefix or "") + "XXXX"))
        return real_mkdtemp(suffix, prefix, dir)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    for name in ("mkdir", "unlink", "rmdir", "link"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst, **kw: (_ for _ in ()).throw(_error_of(code, dst))
                        if under(dst) else real_replace(src, dst, **kw))


def _one_error_line(capsys, path_part, code):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("keras-rnnreg "), lines
    assert ": error: cannot write '" in lines[0] and path_part in lines[0], lines
    assert lines[0].endswith(CAUSES[code]), lines
    assert "Traceback" not in err and ".tmp-" not in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("finished") / "run"
    assert cli.main([*TRAIN, "--run_dir", str(run)]) == 0
    return run


@pytest.mark.parametrize("code,name,nth", [
    (errno.ENOSPC, "metrics.json", 2),          # the epoch's metrics
    (errno.ENOSPC, "training_metadata.json", 1),  # the checkpoint's commit
    (errno.EROFS, "history.csv", 1),
    (errno.EACCES, "model.keras", 1),            # the final model
])
def test_train_write_failure_is_one_line_and_resumes(tmp_path, monkeypatch, capsys, code, name, nth):
    run = tmp_path / "run"
    calls = _fail_replace(monkeypatch, code, name, nth)
    assert cli.main([*TRAIN, "--run_dir", str(run)]) == 2
    assert calls["n"] >= nth, f"{name} was never written"
    _one_error_line(capsys, str(run / name) if name != "training_metadata.json" else "training_metadata.json", code)
    assert not (run / ".lock").exists()
    assert not list(run.glob(".tmp-*")) and not list(run.glob("backup/.tmp-*"))
    monkeypatch.undo()
    assert cli.main([*TRAIN, "--run_dir", str(run)]) == 0, capsys.readouterr().err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == 2
    assert [int(r["epoch"]) for r in rundir.read_csv(run / "history.csv")] == [1, 2]


def test_full_disk_before_a_checkpoint_is_refused_cleanly(tmp_path, monkeypatch, capsys):
    """Too little room for the weights file: a clean ENOSPC before HDF5 starts writing it."""
    run = tmp_path / "run"
    real = os.statvfs

    class Full:
        def __init__(self, stats):
            self.f_frsize, self.f_bavail = stats.f_frsize, 0

    monkeypatch.setattr(os, "statvfs", lambda p: Full(real(p)) if "backup" in os.fspath(p) else real(p))
    assert cli.main([*TRAIN, "--run_dir", str(run)]) == 2
    _one_error_line(capsys, str(run / "backup"), errno.ENOSPC)
    assert not (run / ".lock").exists()


def test_finished_run_in_a_read_only_folder_returns_its_result(finished_run, monkeypatch, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in finished_run.iterdir()}
    _read_only(monkeypatch, finished_run)
    assert cli.main([*TRAIN, "--run_dir", str(finished_run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("test NLL: ")
    assert {p.name: p.stat().st_mtime_ns for p in finished_run.iterdir()} == before


def test_unfinished_run_in_a_read_only_folder_is_one_line(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    run.mkdir()
    _read_only(monkeypatch, run)
    assert cli.main([*TRAIN, "--run_dir", str(run)]) == 2
    _one_error_line(capsys, str(run), errno.EROFS)
    assert list(run.iterdir()) == []


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_sample_into_a_read_only_run_dir(finished_run, monkeypatch, capsys, code):
    _read_only(monkeypatch, finished_run, code)
    assert cli.main(["prog", "sample", "--run_dir", str(finished_run), "--steps", "4"]) == 2
    _one_error_line(capsys, str(finished_run / "samples"), code)


def test_export_into_a_full_disk(finished_run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "export"
    _read_only(monkeypatch, tmp_path, errno.ENOSPC)
    assert cli.main(["prog", "export", "--run_dir", str(finished_run), "--out", str(out)]) == 2
    _one_error_line(capsys, str(out), errno.ENOSPC)


def test_tune_state_on_a_full_disk(tmp_path, monkeypatch, capsys):
    directory = tmp_path / "search"
    _fail_replace(monkeypatch, errno.ENOSPC, "oracle.json", 1)
    argv = ["prog", "tune", "--model", "rnn", "--trials", "1", "--epochs", "1", "--final", "none", "--fixed",
            "units=8", "--max_train_sequences", "4", "--max_valid_sequences", "2", "--verbose", "0",
            "--directory", str(directory)]
    assert cli.main(argv) == 2
    _one_error_line(capsys, "oracle.json", errno.ENOSPC)
    assert not list(directory.glob(".*.lock"))
    monkeypatch.undo()
    assert cli.main(argv) == 0, capsys.readouterr().err


def test_lock_in_a_read_only_folder_is_skipped_and_on_a_full_disk_refused(tmp_path, monkeypatch):
    _read_only(monkeypatch, tmp_path, errno.EROFS)
    with locking.hold(tmp_path / ".lock") as record:
        assert record is None  # nothing can be written there: no lock, reading goes on
    monkeypatch.undo()
    _read_only(monkeypatch, tmp_path, errno.ENOSPC)
    with pytest.raises(rundir.WriteError, match=r"cannot write '.*\.lock': No space left on device"):
        with locking.hold(tmp_path / ".lock"):
            pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a chmod 0o555 folder; the injected EROFS/EACCES "
                    "cases above cover it")
def test_real_read_only_folder(finished_run, capsys):
    os.chmod(finished_run, 0o555)
    try:
        assert cli.main([*TRAIN, "--run_dir", str(finished_run)]) == 0
        assert cli.main(["prog", "sample", "--run_dir", str(finished_run), "--steps", "4"]) == 2
        _one_error_line(capsys, str(finished_run), errno.EACCES)
    finally:
        os.chmod(finished_run, 0o755)


def test_metrics_and_history_never_ahead_of_the_checkpoint(tmp_path, monkeypatch, capsys):
    from keras_rnnreg.app import callbacks

    run = tmp_path / "run"
    _fail_replace(monkeypatch, errno.ENOSPC, "training_metadata.json", 2)  # epoch 2's commit
    assert cli.main([*TRAIN, "--run_dir", str(run)]) == 2
    _one_error_line(capsys, "training_metadata.json", errno.ENOSPC)
    committed = callbacks.AtomicBackupAndRestore.read_state(run / "backup")["epoch"]
    assert committed == 1
    assert json.loads((run / "metrics.json").read_text())["epochs_completed"] <= committed
    assert len(rundir.read_csv(run / "history.csv")) <= committed
