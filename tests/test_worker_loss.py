"""A distributed search survives ``kill -9`` of a worker in the middle of a trial (issue 32).

``keras-rnnreg tune --distributed --workers 2`` runs; once worker ``tuner0``
has started a trial it is SIGKILLed (its pid read from its lock file). The
launcher reports the lost worker in one line, starts a new ``tuner0`` that
runs the unfinished trial again, and the search completes: exit status 0,
every trial completed, the lost one run twice.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from keras_rnnreg.tuning import summary

pytestmark = pytest.mark.slow

TIMEOUT = 400  # seconds for the whole search (3, then 4 TensorFlow start-ups on 2 cores)


def test_worker_killed_mid_trial_costs_its_trial_not_the_search(tmp_path, capsys):
    directory = tmp_path / "dist"
    argv = [sys.executable, "-m", "keras_rnnreg", "tune", "--distributed", "--workers", "2", "--model", "rnn",
            "--dataset", "jsb_chorales", "--trials", "3", "--epochs", "3", "--patience", "0", "--seed", "0",
            "--directory", str(directory), "--fixed", "units=8", "--max_train_sequences", "6",
            "--max_valid_sequences", "3", "--max_test_sequences", "2", "--verbose", "1",
            "--timeout", str(TIMEOUT)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERASTUNER_", "KERAS_RNNREG_KILL_AT"))}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    log = directory / "logs" / "tuner0.log"
    lock = directory / ".rnn_jsb_chorales.tuner0.lock"
    killed = None
    try:
        deadline = time.monotonic() + TIMEOUT
        while killed is None and proc.poll() is None and time.monotonic() < deadline:
            if log.is_file() and " started: " in log.read_text(errors="replace") and lock.is_file():
                pid = json.loads(lock.read_text())["pid"]
                os.kill(pid, signal.SIGKILL)
                killed = pid
            time.sleep(0.1)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert killed is not None, f"tuner0 never started a trial: {proc.returncode}\n{err[-3000:]}"
    assert proc.returncode == 0, f"status {proc.returncode}\n{out[-2000:]}\n{err[-3000:]}"
    lost = [line for line in err.splitlines() if "lost" in line]
    assert len(lost) == 1 and lost[0].startswith("keras-rnnreg tune: worker tuner0 lost (killed by signal 9"), err
    assert "Traceback" not in err
    assert "1 lost worker restarted" in out

    project_dir = directory / "rnn_jsb_chorales"
    records = summary.directory_records(project_dir)
    assert [r["trial_id"] for r in records] == ["0", "1", "2"]
    assert all(r["status"] == "COMPLETED" for r in records), records
    counts = summary.run_counts(project_dir)
    assert sorted(counts.values()) == [1, 1, 2], counts  # the lost trial ran again, once
    oracle = json.loads((project_dir / "oracle.json").read_text())
    assert oracle["ongoing_trials"] == {} and oracle["retry_queue"] == []
    result = json.loads((directory / "summary.json").read_text())
    assert result["best"] is not None and result["best"]["test_nll"] is not None
    assert not list(directory.glob(".*.lock"))
    with capsys.disabled():
        print(f"\nFAULT-INJECTION worker deaths: 1 worker killed mid-trial, search completed "
              f"(run counts {counts})", flush=True)
