"""Moved to :mod:`keras_rnnreg.rnn.weight_noise`; this name stays importable (same module object)."""

import sys

from keras_rnnreg.rnn import weight_noise as _moved

sys.modules[__name__] = _moved
