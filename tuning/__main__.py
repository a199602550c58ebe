"""``python -m keras_rnnreg.tuning ...`` is ``python -m keras_rnnreg tune ...``.

The launcher starts its chief and workers this way; going through the same
entry point gives them its SIGTERM handling (stop as Ctrl-C does, exit 143).
"""

import sys

from keras_rnnreg.__main__ import run

if __name__ == "__main__":
    run(["keras-rnnreg", "tune", *sys.argv[1:]])
