"""Moved to :mod:`keras_rnnreg.rnn.initializers`; this name stays importable (same module object)."""

import sys

from keras_rnnreg.rnn import initializers as _moved

sys.modules[__name__] = _moved
