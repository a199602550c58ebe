"""Moved to :mod:`keras_rnnreg.rnn.noisy_dense`; this name stays importable (same module object)."""

import sys

from keras_rnnreg.rnn import noisy_dense as _moved

sys.modules[__name__] = _moved
