"""Moved to :mod:`keras_rnnreg.rnn.recurrence`; this name stays importable (same module object)."""

import sys

from keras_rnnreg.rnn import recurrence as _moved

sys.modules[__name__] = _moved
