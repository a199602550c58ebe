"""The command line's process set-up (keras_rnnreg._startup)."""

import subprocess
import sys

from keras_rnnreg import _startup

CHECK = (
    "from keras_rnnreg import _startup\n"
    "_startup.prefer_bfc_cpu_allocator()\n"
    "print('BFC' if _startup.bfc_cpu_allocator_active() else 'MALLOC')\n"
)


def _allocator_in_fresh_process(env_value):
    import os

    env = {k: v for k, v in os.environ.items() if k != _startup.BFC_ENV_VAR}
    if env_value is not None:
        env[_startup.BFC_ENV_VAR] = env_value
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, check=True,
                         timeout=300)
    return out.stdout.split()[-1]


def test_prefers_bfc_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv(_startup.BFC_ENV_VAR, raising=False)
    _startup.prefer_bfc_cpu_allocator()
    import os

    assert os.environ[_startup.BFC_ENV_VAR] == "true"
    monkeypatch.setenv(_startup.BFC_ENV_VAR, "false")
    _startup.prefer_bfc_cpu_allocator()
    assert os.environ[_startup.BFC_ENV_VAR] == "false"


def test_bfc_allocator_takes_effect_in_a_fresh_process():
    # Set before TensorFlow's first op, the variable switches the CPU allocator
    # (the BFC allocator keeps statistics, malloc does not); an explicit "false" wins.
    assert _allocator_in_fresh_process(None) == "BFC"
    assert _allocator_in_fresh_process("false") == "MALLOC"
