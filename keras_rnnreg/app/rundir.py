"""Run directories and atomic file writing.

Everything a training run leaves on disk is written *atomically*: the content
goes to a temporary file (or folder) in the same directory, is flushed to disk,
and is then moved over the final name with :func:`os.replace`. A process
killed at any moment therefore leaves either the previous version of a file or
the new one, never a half-written model or metrics file. Leftover temporaries
(names starting with ``.tmp-``) are removed by :meth:`RunDir.clean_temporaries`.

A run directory holds::

    config.json              the training settings (dataset, model, hyperparameters, seed, ...)
    metrics.json             status and results (rewritten every epoch while running)
    history.csv              one row per epoch: loss, nll, val_loss, val_nll, spectral_radius
    spectral_radius.csv      spectral radius of W_hh per epoch (epoch 0 = initialization)
    learning_curves.png      train/valid NLL and spectral radius per epoch (written when the run ends)
    model.keras              the trained model (best weights on val_nll)
    saved_model/             SavedModel export with a serving signature
    backup/                  resumable state while training (removed when it ends)
    tensorboard/             TensorBoard logs
    .lock                    held by the process training in it (see keras_rnnreg.app.locking)
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import math
import os
import pathlib
import shutil
import tempfile

from keras_rnnreg.app import faults

TMP_PREFIX = ".tmp-"

#: Files and folders a run writes (``--overwrite`` removes only these).
RUN_FILES = (
    "config.json",
    "metrics.json",
    "history.csv",
    "spectral_radius.csv",
    "learning_curves.png",
    "model.keras",
    "saved_model",
    "backup",
    "tensorboard",
)


class RunDirError(ValueError):
    """A run directory that cannot be used (a file, a different run, ...)."""


#: Errors that mean "this location cannot be written": a full disk or quota, a
#: read-only file system, missing permissions, a file too large.
WRITE_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, getattr(errno, "EDQUOT", None),
                      errno.EFBIG)
    if code is not None
)

# How C libraries (HDF5, TensorFlow) word those errors in messages without an errno.
_STRERRORS = {os.strerror(code): code for code in WRITE_ERRNOS}


class WriteError(OSError):
    """A file or folder of the program could not be written (disk full, read-only, permissions).

    ``filename`` is the path the program meant to write (never a temporary
    name); ``str()`` is one line: ``cannot write '<path>': <cause>``.
    """

    def __str__(self):
        return f"cannot write {str(self.filename)!r}: {self.strerror}"


def write_error_code(exc):
    """The errno of ``exc`` (or of an exception it was raised from) if it is a write error, else ``None``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        code = getattr(exc, "errno", None)
        if isinstance(exc, OSError) and code in WRITE_ERRNOS:
            return code
        text = str(exc)
        for message, code in _STRERRORS.items():
            if message in text:
                return code
        exc = exc.__cause__ or exc.__context__
    return None


def as_write_error(exc, path):
    """``exc`` as a :class:`WriteError` naming ``path`` when it is a write error, else ``None``."""
    if isinstance(exc, WriteError):
        return exc
    code = write_error_code(exc)
    if code is None:
        return None
    return WriteError(code, os.strerror(code), os.fspath(path))


@contextlib.contextmanager
def writing(path):
    """Turn a disk-full, read-only or permission error in the block into a :class:`WriteError` for ``path``."""
    try:
        yield
    except Exception as e:
        error = as_write_error(e, path)
        if error is None:
            raise
        raise error from e


def check_free_space(folder, size, path=None):
    """Raise a :class:`WriteError` (``ENOSPC``) when ``folder``'s file system has less than ``size`` bytes free.

    Some writers (HDF5 under ``save_weights``) can crash the process instead
    of raising when the disk fills in the middle of a file; checking first
    turns the common case into a clean error.
    """
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):
        return
    if stats.f_bavail * stats.f_frsize < size:
        raise WriteError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path or folder))


def _fsync_dir(directory):
    """Flush a directory entry to disk (best effort; not supported everywhere)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path next to ``path``; move it over ``path`` on success.

    The caller writes a complete file at the yielded path (for instance with a
    library function that only accepts a file name). On normal exit the file is
    fsynced and renamed over ``path``; on an exception it is deleted and
    ``path`` is untouched.

    Args:
        path: final file name.
        suffix: suffix of the temporary name (some writers require one, e.g.
            ``".keras"`` or ``".weights.h5"``).
    """
    path = pathlib.Path(path)
    tmp = None
    try:
        with writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", suffix=suffix, dir=path.parent)
            os.close(fd)
            os.unlink(tmp)  # writers that refuse to overwrite get a free name
        with writing(path):
            yield pathlib.Path(tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            faults.point(f"replace:{path.name}")
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):  # a read-only folder: nothing was left there either
                os.unlink(tmp)


def atomic_write_bytes(path, data: bytes):
    """Write ``data`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path, text: str):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_safe(value):
    """Make ``value`` JSON-serializable: NumPy scalars to Python, NaN/inf to strings."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf": strict JSON has no NaN
    return value


def atomic_write_json(path, obj):
    """Write ``obj`` as indented JSON atomically (non-finite floats become strings)."""
    atomic_write_text(path, json.dumps(_json_safe(obj), indent=2, sort_keys=True) + "\n")


def atomic_write_csv(path, rows, fieldnames):
    """Write ``rows`` (dicts) as CSV with the header ``fieldnames``, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _json_safe(row.get(k, "")) for k in fieldnames})
    atomic_write_text(path, buf.getvalue())


def read_json(path):
    """Read a JSON file; ``None`` when it does not exist."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def read_csv(path):
    """Read a CSV file as a list of dicts of strings; ``[]`` when it does not exist."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def differences(saved, current, keys, labels=None):
    """The settings among ``keys`` that differ, as ``"key: <saved> there, <current> now"`` lines.

    The one resume check of ``train`` (its ``config.json``) and ``tune`` (its
    ``search_config.json``): a dict-valued setting is compared entry by entry,
    its lines named ``"<label> <entry>"`` (``labels`` maps a key to its label,
    e.g. ``{"hyperparameters": "hyperparameter"}``).
    """
    labels = labels or {}
    found = []
    for key in keys:
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            label = labels.get(key, key)
            found.extend(f"{label} {k}: {a.get(k)!r} there, {b.get(k)!r} now"
                         for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
        elif a != b:
            found.append(f"{key}: {a!r} there, {b!r} now")
    return found


def _variables_size(variables):
    total = 0
    for v in variables:
        with contextlib.suppress(Exception):
            total += int(math.prod(v.shape)) * getattr(getattr(v, "dtype", None), "itemsize", 4)
    return total


#: Room asked for beyond the tensors' bytes (file headers, the zip's config entries).
SAVE_OVERHEAD_BYTES = 256 * 1024


def atomic_save_model(model, path):
    """``model.save(path)`` (a ``.keras`` file), atomically."""
    path = pathlib.Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    optimizer = getattr(model, "optimizer", None)
    size = _variables_size(model.weights) + _variables_size(getattr(optimizer, "variables", []) or [])
    check_free_space(path.parent, size + SAVE_OVERHEAD_BYTES, path)
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(str(tmp))


def atomic_save_weights(model, path):
    """``model.save_weights(path)`` (a ``.weights.h5`` file), atomically."""
    path = pathlib.Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    check_free_space(path.parent, _variables_size(model.weights) + SAVE_OVERHEAD_BYTES, path)
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(str(tmp))


def atomic_replace_dir(build, path):
    """Create the folder ``path`` atomically.

    ``build(tmp_dir)`` must create the complete folder at ``tmp_dir`` (a path
    that does not exist yet, next to ``path``). The new folder is then renamed
    into place; an existing ``path`` is first renamed aside and removed after,
    so ``path`` is at every moment either absent, the old folder or the new
    one, never a partial one.
    """
    path = pathlib.Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{path.name}.", dir=path.parent))
        tmp.rmdir()
    old = None
    try:
        with writing(path):
            build(tmp)
            if path.exists():
                old = pathlib.Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{path.name}.old.", dir=path.parent))
                old.rmdir()
                os.replace(path, old)
                faults.point(f"replace_dir:{path.name}")
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        for leftover in (tmp, old):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


class RunDir:
    """The paths of one run directory, with helpers to check and clean it.

    Args:
        path: the folder (created by :meth:`prepare`).
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __fspath__(self):
        return str(self.path)

    def __repr__(self):
        return f"RunDir({str(self.path)!r})"

    config = property(lambda self: self.path / "config.json", doc="training settings (JSON)")
    metrics = property(lambda self: self.path / "metrics.json", doc="status and results (JSON)")
    history = property(lambda self: self.path / "history.csv", doc="per-epoch logs (CSV)")
    spectral_radius = property(lambda self: self.path / "spectral_radius.csv", doc="radius of W_hh per epoch")
    model = property(lambda self: self.path / "model.keras", doc="trained Keras model")
    saved_model = property(lambda self: self.path / "saved_model", doc="SavedModel export")
    backup = property(lambda self: self.path / "backup", doc="BackupAndRestore state")
    tensorboard = property(lambda self: self.path / "tensorboard", doc="TensorBoard logs")
    lock = property(lambda self: self.path / ".lock", doc="lock file of the process training in it")

    def check_usable(self):
        """Raise :class:`RunDirError` when the path exists but is not a folder."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"run_dir {str(self.path)!r} exists and is not a directory")

    def prepare(self):
        """Create the folder (and parents) and remove leftover temporaries."""
        self.check_usable()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunDirError(f"cannot create run_dir {str(self.path)!r}: {e.strerror or e}") from None
        self.clean_temporaries()

    def clean_temporaries(self):
        """Delete ``.tmp-*`` files and folders left by a killed process."""
        for folder in (self.path, self.backup):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if entry.name.startswith(TMP_PREFIX):
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        # Best effort: in a read-only folder a leftover is harmless (never read).
                        with contextlib.suppress(OSError):
                            entry.unlink()

    def clear(self):
        """Remove the files of a previous run (only the names in :data:`RUN_FILES`)."""
        for name in RUN_FILES:
            target = self.path / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        self.clean_temporaries()

    def read_config(self):
        """The saved training settings, or ``None``."""
        return read_json(self.config)

    def read_metrics(self):
        """The saved metrics, or ``None``."""
        return read_json(self.metrics)

    def require_model(self):
        """Path of ``model.keras``; :class:`RunDirError` when the run has none."""
        if not self.path.is_dir():
            raise RunDirError(f"run_dir {str(self.path)!r} does not exist or is not a directory")
        if not self.model.is_file():
            status = (self.read_metrics() or {}).get("status")
            extra = f" (run status: {status})" if status else ""
            raise RunDirError(f"run_dir {str(self.path)!r} holds no trained model.keras{extra}")
        return self.model
