"""Start a distributed search on one machine: a chief and N workers (KerasTuner's mode).

::

    python -m keras_rnnreg.tuning.launch --workers 4 --model rnn_mns --dataset jsb_chorales \\
        --trials 50 --epochs 200 --seed 0 --directory runs/rnn_mns
    # same as: python -m keras_rnnreg tune --distributed --workers 4 ...

Every process runs ``python -m keras_rnnreg.tuning`` with the same search flags
and KerasTuner's variables: ``KERASTUNER_TUNER_ID`` (``chief``, ``tuner0``,
``tuner1``, ...), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` (a
free ephemeral port unless ``--oracle_port`` is given). The chief only serves
the oracle; workers ask it for trials, run them and report back; when every
trial is done the chief evaluates the best one on the test split and writes
``DIR/summary.json`` and ``DIR/summary.md``. Logs go to ``DIR/logs/*.log``.

To spread workers over several machines, start the same command by hand on
each one with those three variables (the chief's address in
``KERASTUNER_ORACLE_IP``) and a ``--directory`` on a shared file system.

A worker that dies (``kill -9``, the out-of-memory killer, a crash) costs its
trial, not the search: the launcher says so in one line and starts a new
worker with the same tuner id, which KerasTuner's oracle hands the trial the
lost one left unfinished (it runs again from its start); the chief and the
other workers go on. A tuner id is restarted at most
:data:`MAX_WORKER_RESTARTS` times; after that, if the chief cannot finish,
it is stopped and the launcher returns 1 (rerunning the same command resumes
the search, the interrupted trial runs again).

SIGTERM or Ctrl-C to the launcher is passed on to the chief and the workers
(each stops as ``train`` does: its lock released, its trial left to run again)
and the launcher exits with 143 (SIGTERM) or 130 (SIGINT).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

PROG = "keras-rnnreg tune"
CHIEF_GRACE_SECONDS = 60
#: How many times one tuner id is restarted after its worker died.
MAX_WORKER_RESTARTS = 3
#: Seconds the chief and workers get to stop after SIGTERM before they are killed.
STOP_GRACE_SECONDS = 30


def free_port(ip="127.0.0.1"):
    """A currently free TCP port on ``ip`` (chosen by the OS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def process_env(tuner_id, ip, port, base=None):
    """Environment of one process of a distributed search."""
    env = dict(os.environ if base is None else base)
    env.update(KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP=str(ip), KERASTUNER_ORACLE_PORT=str(port))
    return env


def start_processes(tune_argv, workers, ip="127.0.0.1", port=0, log_dir=None, python=None, env=None):
    """Start the chief and ``workers`` workers; return ``(port, [(tuner_id, Popen), ...])``.

    Each process gets its own process group (so it and its children can be
    killed together) and, with ``log_dir``, writes its output to
    ``log_dir/<tuner_id>.log``.
    """
    port = port or free_port(ip)
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
    procs = []
    try:
        for tuner_id in ["chief", *(f"tuner{i}" for i in range(workers))]:
            procs.append((tuner_id, start_process(tune_argv, tuner_id, ip, port, log_dir, python, env)))
    except BaseException:
        kill_all(procs)
        raise
    return port, procs


def start_process(tune_argv, tuner_id, ip, port, log_dir=None, python=None, env=None):
    """Start one process (``chief`` or a worker) of a distributed search; its ``Popen``.

    Its output is appended to ``log_dir/<tuner_id>.log`` (a restarted worker
    writes after the lost one's lines).
    """
    cmd = [python or sys.executable, "-m", "keras_rnnreg.tuning", *tune_argv]
    out = open(os.path.join(log_dir, f"{tuner_id}.log"), "ab") if log_dir else None
    try:
        return subprocess.Popen(cmd, env=process_env(tuner_id, ip, port, env), stdout=out,
                                stderr=subprocess.STDOUT if out else None, start_new_session=True)
    finally:
        if out:
            out.close()


def describe_exit(code):
    """``killed by signal 9 (SIGKILL)`` or ``exited with status 1`` for a return code."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "?"
        return f"killed by signal {-code} ({name})"
    return f"exited with status {code}"


def stop_all(procs, sig=signal.SIGTERM, grace=STOP_GRACE_SECONDS):
    """Send ``sig`` to every running process group of ``procs``; SIGKILL those still running after ``grace`` s."""
    for _, proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
    deadline = time.monotonic() + grace
    for _, proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    kill_all(procs)


def kill_all(procs):
    """SIGKILL every process group of ``procs`` that is still running, and reap them."""
    for _, proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
    for _, proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def wait_all(procs, timeout=None, chief_grace=CHIEF_GRACE_SECONDS, poll=0.5, restart=None,
             max_restarts=MAX_WORKER_RESTARTS, on_lost=None):
    """Wait for the processes; return ``{tuner_id: returncode}``.

    Stops everything after ``timeout`` seconds (``TimeoutError``). With
    ``restart`` (``restart(tuner_id) -> Popen``), a worker that exits with a
    non-zero status while the chief still serves is replaced in ``procs``
    (at most ``max_restarts`` times per tuner id; ``on_lost(tuner_id, code,
    restarted)`` is told each time). When all workers have exited but the
    chief has not finished ``chief_grace`` seconds later (a worker died in
    the middle of a trial and was not restarted), the chief is killed and its
    return code is reported as -9. An interrupt (SIGINT, SIGTERM) is passed
    on to every process, which gets :data:`STOP_GRACE_SECONDS` to stop.
    """
    start = time.time()
    workers_done_at = None
    restarts = {}
    try:
        while True:
            codes = {name: proc.poll() for name, proc in procs}
            if all(code is not None for code in codes.values()):
                return codes
            if timeout is not None and time.time() - start > timeout:
                raise TimeoutError(f"distributed search still running after {timeout} s; stopped")
            for i, (name, proc) in enumerate(procs):
                code = codes[name]
                if name == "chief" or code in (None, 0) or codes.get("chief") is not None:
                    continue
                again = restart is not None and restarts.get(name, 0) < max_restarts
                if on_lost is not None and (again or not getattr(proc, "_reported_lost", False)):
                    on_lost(name, code, again)
                proc._reported_lost = True
                if again:
                    restarts[name] = restarts.get(name, 0) + 1
                    procs[i] = (name, restart(name))
                    codes[name] = None
            workers = [code for name, code in codes.items() if name != "chief"]
            if codes.get("chief") is None and all(code is not None for code in workers):
                workers_done_at = workers_done_at or time.time()
                if time.time() - workers_done_at > chief_grace:
                    kill_all([(n, p) for n, p in procs if n == "chief"])
                    return {name: proc.poll() for name, proc in procs}
            time.sleep(poll)
    except KeyboardInterrupt as e:
        from keras_rnnreg.app import signals

        stop_all(procs, signal.SIGTERM if isinstance(e, signals.Terminated) else signal.SIGINT)
        raise
    finally:
        kill_all(procs)


def run_distributed(tune_argv, workers=2, ip="127.0.0.1", port=0, timeout=None, settings=None):
    """Run a whole distributed search; return the exit status (0: success).

    ``tune_argv`` are the search flags passed to every process. With
    ``settings`` (a :class:`~.search.SearchSettings`), ``--overwrite`` is
    done here, before any process starts, and logs go to ``DIR/logs``.
    """
    log_dir = None
    if settings is not None:
        if settings.overwrite:
            from . import state as state_lib

            state_lib.clear_search(settings.directory, settings.project_name, extra_files=(state_lib.CONFIG_FILE,))
        log_dir = os.path.join(str(settings.directory), "logs")
    port, procs = start_processes(tune_argv, workers, ip, port, log_dir=log_dir)
    print(f"chief and {workers} workers on {ip}:{port}" + (f"; logs in {log_dir}" if log_dir else ""),
          flush=True)
    lost = []

    def on_lost(tuner_id, code, restarted):
        lost.append(tuner_id)
        where = f"; see {os.path.join(log_dir, tuner_id + '.log')}" if log_dir else ""
        then = ("restarted it (its unfinished trial runs again)" if restarted
                else f"not restarted (lost {MAX_WORKER_RESTARTS + 1} times)")
        print(f"{PROG}: worker {tuner_id} lost ({describe_exit(code)}); {then}{where}", file=sys.stderr, flush=True)

    try:
        codes = wait_all(procs, timeout=timeout, on_lost=on_lost,
                         restart=lambda tuner_id: start_process(tune_argv, tuner_id, ip, port, log_dir))
    except TimeoutError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    bad = {name: code for name, code in codes.items() if code != 0}
    if bad:
        print(f"error: processes failed: {bad}" + (f" (see {log_dir})" if log_dir else ""), file=sys.stderr)
        return 1
    if settings is not None:
        summary = os.path.join(str(settings.directory), "summary.json")
        extra = f" ({len(lost)} lost worker{'s' if len(lost) != 1 else ''} restarted)" if lost else ""
        print(f"done; summary in {summary}{extra}")
    return 0


def main(argv=None):
    """``python -m keras_rnnreg.tuning.launch --workers N <tune flags>``."""
    from keras_rnnreg.tuning import cli

    argv = list(sys.argv[1:] if argv is None else argv)
    return cli.main(["search", "--distributed", *argv])


if __name__ == "__main__":
    sys.exit(main())
