"""SIGTERM handled like SIGINT: the commands stop cleanly and say how to resume.

A cluster scheduler or a container runtime sends SIGTERM before it kills a
process. Python's default for SIGTERM is to die at once (no ``finally``
block runs: the lock file stays, ``metrics.json`` keeps saying ``running``).
:func:`terminate_as_interrupt` installs a handler that raises
:class:`Terminated`, a :class:`KeyboardInterrupt` subclass, so every path that
already handles Ctrl-C (``train`` marks its run ``interrupted``, locks are
released, atomic writes leave the previous file) handles SIGTERM too; the
command line then prints one line and exits with status 143 (128 + SIGTERM).

Only the first SIGTERM raises: later ones, while the process is cleaning up,
are ignored (raising again in the middle of a ``finally`` block would leave
the lock behind). A handler may run inside a garbage-collection callback or a
``__del__`` method, where Python prints the exception and drops it ("Exception
ignored in ..."); :func:`sys.unraisablehook` catches that case and sends the
signal again, so it is raised where the program runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

#: Exit status of a process stopped by SIGTERM (128 + 15, as a shell reports it).
EXIT_TERMINATED = 128 + signal.SIGTERM
#: Exit status of a process stopped by SIGINT (128 + 2).
EXIT_INTERRUPTED = 128 + signal.SIGINT
#: Delay before a SIGTERM dropped by a callback is sent again.
RESEND_SECONDS = 0.05


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


def _handler(state):
    def handle(signum, frame):
        if state["raised"]:
            return  # already stopping: let the cleanup finish
        state["raised"] = True
        raise Terminated(f"signal {signum}")

    return handle


def _unraisable_hook(state, previous):
    def hook(unraisable):
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, Terminated):
            # Raised inside a callback that drops exceptions: raise it again, where the program
            # runs (sent from a thread a moment later: sent from here, it would run in this hook).
            state["raised"] = False
            timer = threading.Timer(RESEND_SECONDS, os.kill, (os.getpid(), signal.SIGTERM))
            timer.daemon = True
            timer.start()
            return
        previous(unraisable)

    return hook


def _install():
    """Install the handler and the hook; returns what to restore."""
    state = {"raised": False}
    previous = (signal.getsignal(signal.SIGTERM), sys.unraisablehook)
    signal.signal(signal.SIGTERM, _handler(state))
    sys.unraisablehook = _unraisable_hook(state, previous[1])
    return previous


@contextlib.contextmanager
def terminate_as_interrupt():
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread.

    The previous handler is restored on exit. Outside the main thread (where
    Python cannot install handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous_handler, previous_hook = _install()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_handler if previous_handler is not None else signal.SIG_DFL)
        sys.unraisablehook = previous_hook


def install():
    """Make SIGTERM raise :class:`Terminated` for the rest of the process (the entry points)."""
    if threading.current_thread() is threading.main_thread():
        _install()


_deferring = {"depth": 0, "pending": None}


@contextlib.contextmanager
def deferred():
    """Hold SIGINT and SIGTERM back within the block; an interrupt that came is raised when it ends.

    For short sections that must not be cut in two by an interrupt, such as
    taking a lock (created but not yet returned to its ``with``) or releasing it.
    (Blocking the signals with ``pthread_sigmask`` is not enough: in a process
    with other threads, TensorFlow's, the kernel hands the signal to one of
    them and Python still runs the handler in the main thread.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _deferring["depth"]:
        _deferring["depth"] += 1
        try:
            yield
        finally:
            _deferring["depth"] -= 1
        return

    def hold_back(signum, frame):
        _deferring["pending"] = _deferring["pending"] or (signum, previous[signum])

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):  # Python-level handlers only (a default or ignored signal stays so)
            previous[signum] = handler
    _deferring["depth"] = 1
    try:
        for signum in previous:
            signal.signal(signum, hold_back)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _deferring["depth"] = 0
        pending, _deferring["pending"] = _deferring["pending"], None
        if pending is not None:
            signum, handler = pending
            handler(signum, None)  # raises KeyboardInterrupt / Terminated here, after the section


def exit_status(exc):
    """The exit status for the interrupt ``exc``: 143 for SIGTERM, 130 for SIGINT."""
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def exit_process(status):
    """End the process with ``status`` (:func:`sys.exit`), at once when it is an interrupt's.

    By the time a command returns 143 or 130 its work is saved (the run marked
    ``interrupted``, locks released, finished runs recorded). Python's normal
    shutdown would then destroy the TensorFlow dataset iterators that the
    interrupted frames still hold, and each destructor waits for its autotuning
    thread: from seconds up to a minute after a long run, during which a
    scheduler's grace period may run out. So an interrupted command flushes its
    output and leaves with :func:`os._exit`. Only the command-line entry points
    call this (in-process callers get the status back).
    """
    if status in (EXIT_TERMINATED, EXIT_INTERRUPTED):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)
    sys.exit(status)


#: The latest interrupt of run_resumable (one; see there).
_LAST_INTERRUPT = []


def run_resumable(main, prog, argv=None):
    """``main(argv)`` as a resumable command; its exit status.

    A scheduler's SIGTERM stops the work in progress as Ctrl-C does (the run
    in progress marked ``interrupted``, its lock released; finished runs are
    recorded), then one line says how to resume: status 143 for SIGTERM, 130
    for Ctrl-C, 0 when ``main`` returns.
    """
    install()
    try:
        main(argv)
    except KeyboardInterrupt as e:
        word = "terminated" if isinstance(e, Terminated) else "interrupted"
        print(f"{prog}: {word}; run the same command again to resume", file=sys.stderr)
        # Keep the interrupted frames alive: leaving this block would free them,
        # and with them TensorFlow's dataset iterators, whose destructors waited
        # ~60 s after a long run (seen for gated_protocol), before exit_process.
        _LAST_INTERRUPT[:] = [e]
        return exit_status(e)
    return 0
