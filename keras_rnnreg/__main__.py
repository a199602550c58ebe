"""Entry point: ``python -m keras_rnnreg COMMAND [flags]`` and the ``keras-rnnreg`` script.

See :mod:`keras_rnnreg.app.cli` for the commands (train, evaluate, export, sample,
data, tune).
"""

import os
import sys


def run(argv=None):
    """Run the command line on ``argv`` (default ``sys.argv``) and exit with its status."""
    from keras_rnnreg.app import signals

    signals.install()  # SIGTERM from here on stops as Ctrl-C does (one line, exit 143)
    from keras_rnnreg.app._startup import COMMAND_LINE_TF_LOG_LEVEL

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", COMMAND_LINE_TF_LOG_LEVEL)
    from keras_rnnreg.app import cli

    try:
        status = cli.main(sys.argv if argv is None else argv)
        sys.stdout.flush()
    except KeyboardInterrupt as e:  # between the command's end and the exit
        status = signals.exit_status(e)
    except BrokenPipeError:
        # The reader went away (``keras-rnnreg train --help | head``): no traceback, and none
        # when Python flushes stdout at exit either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 141  # 128 + SIGPIPE, as a shell reports a command its pipe closed on
    signals.exit_process(status)


if __name__ == "__main__":
    run()
