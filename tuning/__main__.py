"""``python -m keras_rnnreg.tuning ...`` is ``python -m keras_rnnreg tune ...``."""

import sys

from keras_rnnreg.tuning.cli import main

if __name__ == "__main__":
    sys.exit(main())
