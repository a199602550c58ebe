"""benchmarks.profile_recurrence as a user runs it: a subprocess on a tiny shape (no timing assertions)."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from benchmarks import profile_recurrence

REPO = pathlib.Path(__file__).resolve().parent.parent
TINY = ["--length", "6", "--batch", "4", "--units", "8", "--passes", "1", "--repeats", "1"]


def run(*args, backend="tensorflow"):
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.run([sys.executable, "-m", "benchmarks.profile_recurrence", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_times_every_recurrence_on_one_thread():
    done = run(*TINY, "--intra_op_threads", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "intra-op threads 1" in done.stdout
    rows = {m.group(1): [float(v) for v in m.groups()[1:]]
            for m in re.finditer(r"^(\w+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", done.stdout, re.M)}
    assert sorted(rows) == sorted(profile_recurrence.RECURRENCES)
    assert all(cpu > 0 and wall > 0 for cpu, wall, _ in rows.values())


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_gradients_are_those_of_the_recurrence(backend):
    """The timed pass computes real gradients: finite, non-zero for the kernel, for each recurrence."""
    code = (
        "import numpy as np\n"
        "from benchmarks import profile_recurrence as p\n"
        "data = p.inputs(5, 3, 6)\n"
        "for name in p.RECURRENCES:\n"
        "    g_pre, g_kernel = [np.asarray(g) for g in p.gradient_step(name, data)()]\n"
        "    assert g_pre.shape == (5, 3, 6) and g_kernel.shape == (6, 6), name\n"
        "    assert np.isfinite(g_kernel).all() and np.abs(g_kernel).max() > 0, name\n"
        "print('ok')\n"
    )
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_bad_flags_are_one_error_line():
    done = run("--recurrences", "plain,lstm")
    assert done.returncode == 2
    assert "--recurrences: unknown 'lstm'" in done.stderr and "fast_dropout" in done.stderr
    done = run(*TINY, "--intra_op_threads", "1", backend="jax")
    assert done.returncode == 2 and "TensorFlow backend only" in done.stderr
