"""Import TensorFlow without its C++ start-up chatter (for the command line)."""

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_stderr():
    """Point file descriptor 2 at /dev/null for the block.

    TensorFlow's C++ logging writes to fd 2 before ``TF_CPP_MIN_LOG_LEVEL`` is
    read (CUDA probing on machines without a GPU). Python exceptions raised in
    the block propagate after fd 2 is restored. ``KERAS_RNNREG_DEBUG=1`` keeps
    stderr untouched.
    """
    if os.environ.get("KERAS_RNNREG_DEBUG", "") not in ("", "0"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_stderr():
        import tensorflow  # noqa: F401
