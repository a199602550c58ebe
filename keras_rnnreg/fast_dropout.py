"""Moved to :mod:`keras_rnnreg.rnn.fast_dropout`; this name stays importable (same module object)."""

import sys

from keras_rnnreg.rnn import fast_dropout as _moved

sys.modules[__name__] = _moved
