"""Issue 13, items 3-5: SIGKILL a real subprocess at the dangerous moment, then rerun.

The moment is chosen deterministically with ``KERAS_RNNREG_KILL_AT``
(:mod:`keras_rnnreg.app.faults`): the process kills itself right there.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from keras_rnnreg.app import cli, locking, rundir
from keras_rnnreg import models, optim
from keras_rnnreg.tuning import cli as tune_cli
from keras_rnnreg.tuning import state

TRAIN = ["--model", "rnn", "--units", "16", "--epochs", "4", "--patience", "0", "--max_train_sequences", "24",
         "--max_valid_sequences", "8", "--max_test_sequences", "4", "--verbose", "2", "--notensorboard",
         "--noexport", "--seed", "0"]


def _env(kill_at=None):
    env = dict(os.environ)
    env.pop(locking.__name__, None)
    env.pop("KERAS_RNNREG_KILL_AT", None)
    if kill_at:
        env["KERAS_RNNREG_KILL_AT"] = kill_at
    return env


def _run(module, argv, kill_at=None, timeout=300):
    return subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True,
                          timeout=timeout, env=_env(kill_at))


def _numbers(path):
    metrics = json.loads(path.read_text())
    return {k: metrics[k] for k in ("train_nll", "valid_nll", "test_nll", "epochs_completed", "best_epoch",
                                    "spectral_radius_final")}


def _history_rows(run):
    return [dict(row) for row in rundir.read_csv(run / "history.csv")]


def test_kill_between_weights_and_metadata_resumes_from_the_committed_epoch(tmp_path, data_dir):
    """Item 5: weights of epoch 2 written, its metadata not. The committed checkpoint is still epoch 1's
    (metadata and the weights it names, equal to the weights an uninterrupted run has after epoch 1), and
    the rerun resumes after epoch 1 - it never reruns epoch 2 from epoch 2's own weights."""
    import numpy as np

    from keras_rnnreg.app import export

    # Reference: the same settings stopped after epoch 1 (patience 0: the final model is epoch 1's).
    ref = tmp_path / "ref"
    flags = [*TRAIN, "--data_dir", str(data_dir)]
    assert cli.main(["keras-rnnreg", "train", *flags, "--epochs", "1", "--run_dir", str(ref)]) == 0
    run = tmp_path / "run"
    argv = ["train", *flags, "--run_dir", str(run)]
    killed = _run("keras_rnnreg", argv, kill_at="backup:weights_written:2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    metadata = json.loads((run / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 1 and metadata["weights_file"] == "weights-00001.weights.h5"
    assert (run / "backup" / "weights-00002.weights.h5").is_file()  # written, never committed
    # The weights the committed metadata names are epoch 1's (loaded as a resume loads them).
    reference_weights = export.load_keras_model(ref / "model.keras").get_weights()
    net = models.get("rnn", units=16, seed=0)
    optim.compile_model(net, "adam", 1e-3, 0.9, 5.0)
    net.optimizer.build(net.trainable_variables)
    net.load_weights(str(run / "backup" / metadata["weights_file"]))
    assert len(net.get_weights()) == len(reference_weights)
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), reference_weights))
    torn = net.get_weights()
    net.load_weights(str(run / "backup" / "weights-00002.weights.h5"))
    assert not all(np.array_equal(a, b) for a, b in zip(net.get_weights(), torn))
    assert metadata["history"] == [{k: float(v) for k, v in r.items()} for r in _history_rows(ref)]

    assert cli.main(["keras-rnnreg", *argv]) == 0  # rerun, in this process
    rows = _history_rows(run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert rows[0] == _history_rows(ref)[0]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["resumed_from_epochs"] == [1]
    assert [int(r["epoch"]) for r in rundir.read_csv(run / "spectral_radius.csv")] == [0, 1, 2, 3, 4]
    assert rundir.read_csv(run / "spectral_radius.csv")[:2] == rundir.read_csv(ref / "spectral_radius.csv")
    assert not (run / ".lock").exists() and not (run / "backup").exists()


def test_second_process_on_a_run_dir_fails_at_once_naming_the_holder(tmp_path, data_dir):
    """Item 4: the lock is held (by this test process); a second ``train`` fails before touching anything."""
    run = tmp_path / "run"
    run.mkdir()
    with locking.hold(run / ".lock", "test") as record:
        proc = _run("keras_rnnreg", ["train", *TRAIN, "--run_dir", str(run), "--data_dir", str(data_dir)],
                    timeout=120)
    assert proc.returncode == cli.EXIT_USAGE
    lines = [line for line in proc.stderr.splitlines() if line.startswith("keras-rnnreg")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "is in use by another process" in lines[0]
    assert f"pid {record['pid']} on host {socket.gethostname()} since {record['started']}" in lines[0]
    assert sorted(p.name for p in run.iterdir()) == []  # nothing written, the lock released


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    path = tmp_path / ".lock"
    stale = dict(locking._record("old run"), pid=_dead_pid())
    path.write_text(json.dumps(stale))
    with locking.hold(path, "new run") as record:
        assert locking.read_holder(path) == record
    assert not path.exists()
    # A live holder on this host is respected; one on another host too (never broken automatically).
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path.write_text(json.dumps(dict(locking._record("other"), pid=holder.pid, start_ticks=None)))
        with pytest.raises(locking.LockedError, match=f"pid {holder.pid} on host"):
            locking.acquire(path, "run")
    finally:
        holder.kill()
        holder.wait()
    path.write_text(json.dumps(dict(stale, host="elsewhere.example")))
    with pytest.raises(locking.LockedError, match="if that process is gone, delete"):
        locking.acquire(path, "run")


def test_second_search_process_fails_at_once(tmp_path):
    from keras_rnnreg.tuning.search import SearchSettings, lock_path

    directory = tmp_path / "d"
    directory.mkdir()
    settings = SearchSettings(model="rnn", directory=str(directory), trials=1, epochs=1)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = dict(locking._record("search"), pid=holder.pid, start_ticks=None)
        with open(lock_path(settings), "w") as f:
            json.dump(record, f)
        argv = ["--model", "rnn", "--trials", "1", "--epochs", "1", "--directory", str(directory),
                "--final", "none", "--verbose", "0"]
        assert tune_cli.main(argv) == 2
        assert tune_cli.main([*argv, "--overwrite"]) == 2
    finally:
        holder.kill()
        holder.wait()
    assert sorted(os.listdir(directory)) == [os.path.basename(lock_path(settings))]


# --------------------------------------------------------------------------- search state (item 3)

SEARCH = ["--model", "rnn", "--dataset", "jsb_chorales", "--trials", "2", "--epochs", "1", "--patience", "0",
          "--seed", "0", "--final", "none", "--fixed", "units=8", "--max_train_sequences", "8",
          "--max_valid_sequences", "4", "--verbose", "0"]


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory, data_dir):
    directory = tmp_path_factory.mktemp("search") / "s"
    assert tune_cli.main([*SEARCH, "--directory", str(directory)]) == 0
    return directory


def _trials(directory):
    summary = json.loads((directory / "summary.json").read_text())
    return [(t["trial_id"], t["status"], t["hyperparameters"]) for t in summary["trials"]]


@pytest.mark.parametrize("kill_at", ["replace:trial.json:2"])  # more in test_fault_injection.py (slow)
def test_kill_while_writing_search_state_then_rerun(tmp_path, finished_search, kill_at):
    """A kill at the instant a state file is replaced leaves the old version; the rerun finishes the search."""
    directory = tmp_path / "s"
    argv = [*SEARCH, "--directory", str(directory)]
    killed = _run("keras_rnnreg.tuning", argv, kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert state.unreadable_files(directory, "rnn_jsb_chorales") == []
    assert tune_cli.main(argv) == 0
    assert _trials(directory) == _trials(finished_search)


@pytest.mark.parametrize("victim", ["search_config.json", "rnn_jsb_chorales/oracle.json",
                                    "rnn_jsb_chorales/tuner0.json", "rnn_jsb_chorales/trial_1/trial.json"])
@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_unreadable_state_file_is_named_and_repairable(tmp_path, finished_search, capsys, victim, damage):
    directory = tmp_path / "s"
    shutil.copytree(finished_search, directory)
    target = directory / victim
    text = target.read_text()
    target.write_text("" if damage == "empty" else text[: len(text) // 2])
    argv = [*SEARCH, "--directory", str(directory)]
    assert tune_cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(target) in lines[0] and "--repair" in lines[0], err
    finished = {p: (directory / p).read_text() for p in ("rnn_jsb_chorales/trial_0/trial.json",
                                                          "rnn_jsb_chorales/trial_1/trial.json") if p != victim}
    assert tune_cli.main([*argv, "--repair"]) == 0
    for path, content in finished.items():  # finished trials kept as they were
        assert json.loads((directory / path).read_text()) == json.loads(content)
    assert state.unreadable_files(directory, "rnn_jsb_chorales") == []
    records = _trials(directory)
    if victim.endswith("trial.json"):
        assert records[0] == _trials(finished_search)[0] and records[1][1] == "FAILED"
    else:
        assert records == _trials(finished_search)
    assert rundir.read_json(directory / "search_config.json")["model"] == "rnn"
