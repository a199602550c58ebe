"""SIGTERM (what schedulers and container runtimes send before SIGKILL) stops like Ctrl-C (issue 32).

Real ``train`` and ``tune`` processes get SIGTERM at random instants (fixed
seed, ``KERAS_RNNREG_FAULT_SEED``) after they said where they work: each ends
with exit status 143, one ``terminated`` line and no traceback, its lock file
gone, ``metrics.json`` saying ``interrupted`` (when it got that far); the same
command run again goes on and completes. In-process: the SIGTERM handler of
the command line, the launcher passing SIGTERM on, a lock never left half-taken.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from keras_rnnreg.app import cli, locking, rundir, signals

SEED = int(os.environ.get("KERAS_RNNREG_FAULT_SEED", "0"))
TRAIN = ["train", "--model", "rnn", "--units", "8", "--epochs", "50", "--max_train_sequences", "4",
         "--max_valid_sequences", "2", "--max_test_sequences", "2", "--batch_size", "4", "--noexport",
         "--notensorboard", "--verbose", "1"]
SEARCH = ["tune", "--model", "rnn", "--dataset", "jsb_chorales", "--trials", "2", "--epochs", "3",
          "--patience", "0", "--seed", "0", "--final", "none", "--fixed", "units=8", "--max_train_sequences", "4",
          "--max_valid_sequences", "2", "--verbose", "1"]
TERMINATED = "terminated; run the same command again to resume"
START_TIMEOUT = 120  # seconds until a process says where it works (TensorFlow start-up on 2 busy cores)


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_RNNREG_KILL_AT", "KERASTUNER_"))}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _run_until(argv, marker, delay, tmp_path, module="keras_rnnreg"):
    """Start ``python -m MODULE argv``, SIGTERM it ``delay`` s after ``marker`` is on stderr.

    Returns ``(returncode, stderr, signalled)``; ``signalled`` is false when the
    process ended before the signal was due.
    """
    err_path = tmp_path / f"stderr-{time.monotonic_ns()}.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", module, *argv], stdout=subprocess.DEVNULL,
                                stderr=err, env=_env())
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while marker not in err_path.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, f"no {marker!r} after {START_TIMEOUT} s: {err_path.read_text()[-2000:]}"
            time.sleep(0.05)
        signalled = False
        if proc.poll() is None:
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                signalled = True
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err_path.read_text(), signalled


def _check_terminated(code, err, prefix):
    """Problems of a process that got SIGTERM ([] when it stopped as it should)."""
    problems = []
    if code != 143:
        problems.append(f"exit status {code}")
    lines = [line for line in err.splitlines() if TERMINATED in line]
    if lines != [f"{prefix}: {TERMINATED}"]:
        problems.append(f"terminated lines {lines}")
    if "Traceback" in err:
        problems.append("traceback")
    return problems


@pytest.mark.slow
def test_train_sigterm_at_random_instants_then_resume(tmp_path, capsys):
    rng = random.Random(SEED)
    delays = [round(rng.uniform(0.2, 8.0), 2) for _ in range(3)]
    run = tmp_path / "run"
    argv = [*TRAIN, "--run_dir", str(run)]
    survived, failures = 0, []
    for delay in delays:
        code, err, signalled = _run_until(argv, "run_dir", delay, tmp_path)
        if not signalled:  # the run finished first: nothing to check here
            continue
        problems = _check_terminated(code, err, "keras-rnnreg train")
        if (run / ".lock").exists():
            problems.append("lock file left")
        metrics = rundir.read_json(run / "metrics.json")
        if metrics is not None and metrics.get("status") != "interrupted":
            problems.append(f"metrics status {metrics.get('status')}")
        if list(run.glob(".tmp-*")):
            problems.append("temporary files left")  # (a rerun removes them; SIGTERM should not leave them)
        if problems:
            failures.append((delay, problems, err[-1500:]))
        else:
            survived += 1
    done = subprocess.run([sys.executable, "-m", "keras_rnnreg", *argv], capture_output=True, text=True,
                          env=_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_completed"] >= 1
    assert not (run / ".lock").exists() and not (run / "backup").exists()
    with capsys.disabled():
        print(f"\nFAULT-INJECTION train SIGTERM: {len(delays)} signals at {delays} s, {survived} stopped cleanly, "
              "resumed to completion", flush=True)
    assert not failures, failures


@pytest.mark.slow
def test_tune_sigterm_at_random_instants_then_resume(tmp_path, capsys):
    rng = random.Random(SEED + 1)
    delays = [round(rng.uniform(0.0, 3.0), 2) for _ in range(2)]
    directory = tmp_path / "search"
    argv = [*SEARCH, "--directory", str(directory)]
    lock = directory / ".rnn_jsb_chorales.tuner0.lock"
    survived, failures = 0, []
    for delay in delays:
        code, err, signalled = _run_until(argv, "started:", delay, tmp_path)
        if not signalled:
            continue
        problems = _check_terminated(code, err, "keras-rnnreg tune search")
        if lock.exists():
            problems.append("lock file left")
        if problems:
            failures.append((delay, problems, err[-1500:]))
        else:
            survived += 1
    done = subprocess.run([sys.executable, "-m", "keras_rnnreg", *argv], capture_output=True, text=True,
                          env=_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["status_counts"] == {"COMPLETED": 2}, summary["status_counts"]
    assert not lock.exists()
    with capsys.disabled():
        print(f"\nFAULT-INJECTION tune SIGTERM: {len(delays)} signals at {delays} s, {survived} stopped cleanly, "
              "resumed to completion", flush=True)
    assert not failures, failures


# --------------------------------------------------------------------------- in-process, fast


def test_sigterm_raises_terminated_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(signals.Terminated):
        with signals.terminate_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs at the next bytecode; never reached
    assert signal.getsignal(signal.SIGTERM) is before
    assert issubclass(signals.Terminated, KeyboardInterrupt)  # every Ctrl-C path handles it too


def test_second_sigterm_during_cleanup_is_ignored():
    cleaned = []
    with pytest.raises(signals.Terminated):
        with signals.terminate_as_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # a scheduler repeating itself
                time.sleep(0.05)
                cleaned.append(True)
    assert cleaned == [True]


def test_command_line_maps_sigterm_to_143_and_one_line(monkeypatch, capsys):
    from keras_rnnreg.app import _startup

    def sleeper(fv, args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        return 0

    monkeypatch.setattr(_startup, "start_command", lambda: None)
    monkeypatch.setitem(cli.COMMANDS, "data", cli.Command("data", "x", cli._define_data, sleeper, positional=True))
    assert cli.main(["prog", "data", "stats", "jsb_chorales"]) == 143
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"keras-rnnreg data: {TERMINATED}"]


def test_command_line_ctrl_c_is_still_130(monkeypatch, capsys):
    from keras_rnnreg.app import _startup

    def interrupted(fv, args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_startup, "start_command", lambda: None)
    monkeypatch.setitem(cli.COMMANDS, "data", cli.Command("data", "x", cli._define_data, interrupted, positional=True))
    assert cli.main(["prog", "data", "stats", "jsb_chorales"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["keras-rnnreg data: interrupted"]


def test_sigterm_while_taking_the_lock_leaves_no_lock(tmp_path, monkeypatch):
    """A signal arriving between the lock's creation and its ``with`` is delivered after, and released."""
    path = tmp_path / ".lock"
    real_acquire = locking.acquire

    def acquire_then_signal(p, what="this run"):
        record = real_acquire(p, what)
        os.kill(os.getpid(), signal.SIGTERM)  # held back until the lock belongs to the block
        return record

    monkeypatch.setattr(locking, "acquire", acquire_then_signal)
    with pytest.raises(signals.Terminated):
        with signals.terminate_as_interrupt():
            with locking.hold(path):
                time.sleep(1)
    assert not path.exists()


def test_launcher_passes_sigterm_on_and_waits(tmp_path):
    """The launcher's chief and workers get SIGTERM (not SIGKILL) and the time to stop."""
    from keras_rnnreg.tuning import launch

    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *a: (open(sys.argv[1], 'w').write('term'), sys.exit(143)))\n"
              "open(sys.argv[1] + '.up', 'w').close()\n"
              "time.sleep(60)\n")
    procs = []
    for name in ("chief", "tuner0"):
        procs.append((name, subprocess.Popen([sys.executable, "-c", script, str(tmp_path / name)],
                                             start_new_session=True)))
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"{n}.up").exists() for n, _ in procs):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    import threading

    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.start()
    with pytest.raises(signals.Terminated):
        with signals.terminate_as_interrupt():
            launch.wait_all(procs, timeout=30)
    assert [(tmp_path / n).read_text() for n, _ in procs] == ["term", "term"]
    assert [p.returncode for _, p in procs] == [143, 143]


def test_sigterm_swallowed_by_a_callback_is_raised_again():
    """A handler that runs inside ``__del__`` (or a GC callback) cannot raise; the signal is sent again."""

    class Dropper:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs here, inside __del__, and its exception is dropped
                pass

    with pytest.raises(signals.Terminated):
        with signals.terminate_as_interrupt():
            Dropper()  # deleted at once
            time.sleep(2)


def test_table1_protocol_driver_stops_on_sigterm_with_one_line(monkeypatch, capsys):
    from benchmarks import table1_protocol as protocol

    def long_run(argv=None):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)

    previous = signal.getsignal(signal.SIGTERM), sys.unraisablehook
    monkeypatch.setattr(protocol, "main", long_run)
    try:
        assert protocol.run_from_command_line([]) == 143
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        sys.unraisablehook = previous[1]
    assert capsys.readouterr().err.splitlines() == [f"{protocol.PROG}: {TERMINATED}"]


def test_train_exits_promptly_after_sigterm(tmp_path):
    """The process ends within seconds of its ``terminated`` line.

    Interrupted frames keep TensorFlow's dataset iterators alive; destroyed at
    interpreter shutdown, each waits for its autotuning thread (3-60 s here,
    longer the longer the run trained), so a scheduler's grace period could run
    out and SIGKILL a process whose work was already saved.
    """
    err_path = tmp_path / "stderr.txt"
    argv = ["train", "--model", "rnn", "--units", "32", "--epochs", "50", "--batch_size", "16",
            "--max_train_sequences", "40", "--noexport", "--verbose", "1", "--run_dir", str(tmp_path / "run")]
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "keras_rnnreg", *argv], stdout=err, stderr=err, env=_env())
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "Epoch 4/" not in err_path.read_text():
            assert proc.poll() is None, err_path.read_text()[-2000:]
            assert time.monotonic() < deadline, err_path.read_text()[-2000:]
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        while TERMINATED not in err_path.read_text():
            assert time.monotonic() < deadline + 60, err_path.read_text()[-2000:]
            time.sleep(0.02)
        said = time.monotonic()
        proc.wait(timeout=120)
        waited = time.monotonic() - said
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err_path.read_text()[-2000:]
    assert waited < 1.5, f"exited {waited:.1f} s after its 'terminated' line"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    # The epochs finished before the signal are in TensorBoard's event files, although os._exit skips
    # the flush at shutdown (Keras's callback writes them at each epoch's end).
    import tensorflow as tf

    logged = [value.tag for path in (tmp_path / "run" / "tensorboard").rglob("*tfevents*")
              for event in tf.compat.v1.train.summary_iterator(str(path)) for value in event.summary.value]
    assert logged.count("epoch_loss") >= 3 * 2, logged  # train and validation, epochs 1-3


def test_launcher_workers_stop_cleanly_on_sigterm(tmp_path):
    """The launcher starts its chief and workers as ``python -m keras_rnnreg.tuning``: SIGTERM passed on
    stops them as it stops ``keras-rnnreg tune`` (not Python's default: dead at once, lock left)."""
    directory = tmp_path / "search"
    code, err, signalled = _run_until([*SEARCH[1:], "--directory", str(directory)], "started:", 0.5, tmp_path,
                                      module="keras_rnnreg.tuning")
    assert signalled, err[-2000:]
    assert _check_terminated(code, err, "keras-rnnreg tune search") == [], err[-2000:]
    assert not (directory / ".rnn_jsb_chorales.tuner0.lock").exists()
