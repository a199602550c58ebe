"""Moved to :mod:`keras_rnnreg.rnn.noisy_simple_rnn`; this name stays importable (same module object)."""

import sys

from keras_rnnreg.rnn import noisy_simple_rnn as _moved

sys.modules[__name__] = _moved
