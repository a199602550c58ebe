"""One process per run: an exclusive lock file holding its owner's pid, host and start time.

:func:`hold` creates ``path`` atomically (the complete JSON record is written
to a temporary file and hard-linked to ``path``, which fails if ``path``
exists), so a lock file is never empty. A second process finds it and fails at
once with :class:`LockedError`, whose message names the holder. A lock left by
a killed process is *stale* and taken over: its holder ran on this host and
that process is gone (no such pid, a pid now used by a later process, or the
machine has rebooted since). A lock from another host is never broken
automatically; the message says which file to delete once that host's
process is known to be gone.

A folder this process cannot write (a read-only file system, no write
permission) cannot hold a lock; :func:`hold` then goes on without one, since
this process cannot change anything there either (every later write fails
with one clear error): a finished run in a read-only folder is read, not
refused. SIGINT and SIGTERM are held back while the lock is taken and
released, so an interrupt never leaves a lock behind.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import socket
import sys
import tempfile

from keras_rnnreg.app import rundir, signals

QUOTE_LIMIT = 200


class LockedError(ValueError):
    """The lock is held by another live process (the message names it)."""


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def _start_ticks(pid):
    """The start time of process ``pid`` in clock ticks since boot (Linux), or ``None``."""
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            text = f.read()
        return int(text[text.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError, TypeError):
        return False
    return True


def _record(what):
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "boot_id": _boot_id(),
        "start_ticks": _start_ticks(os.getpid()),
        "what": what,
        "argv": " ".join(sys.argv)[:QUOTE_LIMIT],
    }


def read_holder(path):
    """The record in lock file ``path`` (``{}`` when unreadable), or ``None`` when there is none."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(4096)
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def is_stale(record):
    """True when the holder in ``record`` is certainly gone (it ran on this host)."""
    if not record:
        return True  # unreadable: not written by this module (which never leaves a partial file)
    if record.get("host") != socket.gethostname():
        return False
    pid = record.get("pid")
    if pid == os.getpid():
        return True  # a previous life of this pid (e.g. a container restarted)
    boot = _boot_id()
    if boot is not None and record.get("boot_id") not in (None, boot):
        return True
    if not _alive(pid):
        return True
    ticks = record.get("start_ticks")
    now = _start_ticks(pid)
    return ticks is not None and now is not None and ticks != now


def describe(record):
    """``pid 123 on host h since 2026-...`` for a lock record."""
    return f"pid {record.get('pid')} on host {record.get('host')} since {record.get('started')}"


def acquire(path, what="this run"):
    """Create the lock ``path``; returns its record. Raises :class:`LockedError` when it is held."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    record = _record(what)
    for _ in range(5):
        tmp = None
        try:
            with rundir.writing(path):  # a full disk or a read-only folder: one clear error
                fd, tmp = tempfile.mkstemp(prefix=".tmp-lock.", dir=folder)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(record, f)
                    f.flush()
                    os.fsync(f.fileno())
                try:
                    os.link(tmp, path)  # atomic; fails when the lock exists
                    return record
                except FileExistsError:
                    pass
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        holder = read_holder(path)
        if holder is None:
            continue  # released meanwhile
        if not is_stale(holder):
            hint = ("" if holder.get("host") == socket.gethostname()
                    else f"; if that process is gone, delete {path}")
            raise LockedError(f"{what} is in use by another process ({describe(holder)}; lock {path}){hint}")
        _break_stale(path, holder)
    raise LockedError(f"cannot take the lock {path} for {what} (it keeps changing hands)")


def _break_stale(path, holder):
    """Remove the stale lock ``path`` (whose record is ``holder``), unless it changed meanwhile.

    Two processes may find the same stale lock; under an ``flock`` on a guard
    file each re-reads it, so the second sees the first one's fresh lock and
    leaves it alone.
    """
    import fcntl

    with open(f"{path}.guard", "a") as guard:
        fcntl.flock(guard.fileno(), fcntl.LOCK_EX)
        try:
            if read_holder(path) == holder:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        finally:
            fcntl.flock(guard.fileno(), fcntl.LOCK_UN)


def release(path, record):
    """Remove the lock ``path`` if it is still the one ``record`` describes."""
    holder = read_holder(path)
    if holder and holder.get("pid") == record.get("pid") and holder.get("started") == record.get("started"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


#: Write errors after which :func:`hold` goes on without a lock (nothing can be written there).
UNWRITABLE = frozenset((errno.EROFS, errno.EACCES, errno.EPERM))


@contextlib.contextmanager
def hold(path, what="this run"):
    """Hold the lock ``path`` for the duration of the ``with`` block (see the module docstring).

    Yields the lock's record, or ``None`` when the folder cannot be written
    (read-only, no permission): then no lock is taken and the block runs
    anyway (it can only read there).
    """
    record = None
    try:
        with signals.deferred():  # never a lock created but not yet owned by this block
            try:
                record = acquire(path, what)
            except rundir.WriteError as e:
                if e.errno not in UNWRITABLE:
                    raise
        yield record
    finally:
        if record is not None:
            with signals.deferred():
                release(path, record)
