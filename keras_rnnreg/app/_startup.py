"""Process set-up for the command line: TensorFlow's allocator, quiet start-up."""

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


# TensorFlow reads this when it creates its CPU allocator (first use), not later.
BFC_ENV_VAR = "TF_CPU_ALLOCATOR_USE_BFC"


def prefer_bfc_cpu_allocator():
    """Ask TensorFlow for its BFC allocator on the CPU, unless the variable is already set.

    TensorFlow's default CPU allocator is ``malloc``. Every execution of an
    XLA-compiled step (the recurrence loops, whole train/predict steps) takes
    its buffers, a few MiB to tens of MiB, from it and frees them at the end;
    glibc returns blocks above its mmap threshold (at most 32 MiB) and trimmed
    heap tops to the kernel, so the next step page-faults them in again. At
    hidden size 400 that was ~1.1 s of system CPU time in a 4.7 s training pass
    of ``rnn_n`` (315,000 page faults); the BFC allocator keeps its pool mapped
    (5 page faults, 0.1 s). It also counts its peak use, which
    ``benchmarks.throughput --memory`` reports. Must run before TensorFlow
    creates its CPU allocator: ``python -m keras_rnnreg`` calls it before
    importing TensorFlow; a script can set ``TF_CPU_ALLOCATOR_USE_BFC=true`` in
    its environment. Setting the variable to ``false`` keeps ``malloc``.
    """
    os.environ.setdefault(BFC_ENV_VAR, "true")


def requested_cpu_allocator():
    """The CPU allocator this process asked TensorFlow for: ``"bfc"`` or ``"malloc"``.

    What was asked, not a detection of what TensorFlow built: whether TensorFlow
    honours a request depends on its build and the CPU. oneDNN builds on CPUs with
    AVX-512 serve the ``malloc`` request from oneDNN's own pooling allocator (a BFC
    allocator named ``mklcpu``), and both allocators keep the statistics that
    ``tf.config.experimental.get_memory_info`` reports, so no public API tells them
    apart at run time.
    """
    value = os.environ.get(BFC_ENV_VAR, "").strip().lower()
    return "bfc" if value in ("1", "true") else "malloc"


# TensorFlow's C++ log level for the command line: 3 keeps only fatal messages. At
# level 2 its ERROR lines still reach every command's output, and on CPU-only
# machines they are noise: "failed call to cuInit" when CUDA's libraries are
# installed without a GPU, oneDNN's "supports DT_INT32 only on platforms with
# AVX-512". Python exceptions are unaffected; set the variable (or
# KERAS_RNNREG_DEBUG=1) to see them.
COMMAND_LINE_TF_LOG_LEVEL = "3"


def import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up chatter kept off stderr (see :func:`quiet_stderr`)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", COMMAND_LINE_TF_LOG_LEVEL)
    prefer_bfc_cpu_allocator()
    with quiet_stderr():
        import tensorflow  # noqa: F401


def start_command():
    """Ready the process for a command whose flags parsed: TensorFlow started quietly, layers registered.

    ``python -m keras_rnnreg`` defers both to here, so ``--help`` and usage
    errors answer without importing TensorFlow or Keras (seconds each). A
    process that already imported TensorFlow (a script, a test) keeps its own.
    """
    if "tensorflow" not in sys.modules:
        try:
            import_tensorflow_quietly()
        except ImportError:
            # A JAX machine without TensorFlow (the GPU check's): the commands run
            # on the NumPy pipeline there.
            import keras

            if keras.backend.backend() == "tensorflow":
                raise
    import keras_rnnreg

    keras_rnnreg._register_layers()
