"""The command line's process set-up (keras_rnnreg.app._startup)."""

import os
import subprocess
import sys

from keras_rnnreg.app import _startup

# While ``python -m keras_rnnreg`` imports the package, sys.argv[0] is "-m"; the child
# imports it the same way, starts a command as the command line does once its flags
# parsed, and reports whether TensorFlow was imported before that, the allocator
# variable, and whether TensorFlow was imported after (the variable only counts if it
# is set before TensorFlow starts).
CHILD = (
    "import os, sys\n"
    "sys.argv[0] = {argv0!r}\n"
    "import keras_rnnreg\n"
    "before = 'tensorflow' in sys.modules\n"
    "if {start}:\n"
    "    from keras_rnnreg.app import _startup\n"
    "    _startup.start_command()\n"
    "print(before, os.environ.get({var!r}, 'unset'), 'tensorflow' in sys.modules)\n"
)


def _fresh_process(argv0, env_value, start=True):
    env = {k: v for k, v in os.environ.items() if k != _startup.BFC_ENV_VAR}
    if env_value is not None:
        env[_startup.BFC_ENV_VAR] = env_value
    code = CHILD.format(argv0=argv0, var=_startup.BFC_ENV_VAR, start=start)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         timeout=300)
    return out.stdout.split()[-3:]


def test_command_line_asks_for_bfc_before_tensorflow_starts():
    # TensorFlow starts only when a command runs (not for --help), and then with BFC asked for.
    assert _fresh_process("-m", None) == ["False", "true", "True"]


def test_command_line_keeps_the_users_allocator_choice():
    assert _fresh_process("-m", "false") == ["False", "false", "True"]


def test_library_import_leaves_the_environment_alone():
    # `import keras_rnnreg` in a user's script must not change how their TensorFlow starts.
    assert _fresh_process("script.py", None, start=False)[1] == "unset"


def test_requested_cpu_allocator_reads_the_variable(monkeypatch):
    for value, expected in (("true", "bfc"), ("1", "bfc"), ("TRUE", "bfc"), ("false", "malloc"), ("", "malloc")):
        monkeypatch.setenv(_startup.BFC_ENV_VAR, value)
        assert _startup.requested_cpu_allocator() == expected, value
    monkeypatch.delenv(_startup.BFC_ENV_VAR)
    assert _startup.requested_cpu_allocator() == "malloc"


def test_command_line_keeps_tensorflows_error_lines_off_its_output():
    # The child starts the way `python -m keras_rnnreg` does (and a command), then initializes the devices
    # and runs ops (where TensorFlow logs "failed call to cuInit" on machines with CUDA's
    # libraries but no GPU, and oneDNN notes on others).
    code = (
        "import sys\n"
        "sys.argv[0] = '-m'\n"
        "import keras_rnnreg\n"
        "from keras_rnnreg.app import _startup\n"
        "_startup.start_command()\n"
        "import tensorflow as tf\n"
        "tf.config.list_physical_devices()\n"
        "print(float(tf.reduce_sum(tf.random.stateless_uniform([4], [1, 2], maxval=9, dtype=tf.int32))))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_RNNREG_DEBUG")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         timeout=300)
    assert out.stdout.strip()
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert not [line for line in lines if line.startswith(("E0000", "W0000", "I0000"))], lines
