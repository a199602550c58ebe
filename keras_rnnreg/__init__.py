"""keras_rnnreg: regularized simple recurrent networks for polyphonic music.

Reusable Keras 3 layers implementing the regularizers of Ognawala & Bayer (2014),
"Regularizing Recurrent Networks - On Injected Noise and Norm-based Methods":

- :class:`NoisySimpleRNN` (a ``keras.layers.RNN``) and its cell
  :class:`NoisySimpleRNNCell`: tanh RNN with additive / multiplicative Gaussian
  noise or DropConnect on ``W_hh`` and ``W_ih`` (per time step or per sequence).
- :class:`WeightNoise`: the weight-noise mechanism all of them use.
- :class:`NoisyDense`: output map with per-time-step weight noise (RNN-FF).
- :class:`FastDropoutSimpleRNN`, :class:`FastDropoutSimpleRNNCell`,
  :class:`FastDropoutDense`: fast dropout.
- :class:`SparseGaussian`, :class:`SpectralRadius`, :class:`SparsifyColumns`: initializers.
- :class:`NoteNLL`, :class:`FrameNLL`: the paper's loss and metric.
- :class:`RMSpropNesterov`: RMSprop with Nesterov momentum as the authors' climin computes it.

The zoo of named models is :mod:`keras_rnnreg.models`, the data pipelines
:mod:`keras_rnnreg.data_pipelines`, the hyperparameter search
:mod:`keras_rnnreg.tuning`.
"""

import os
import sys


def _launched_from_command_line():
    # While ``python -m keras_rnnreg`` imports this package, sys.argv[0] is "-m".
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 == "-m" or os.path.basename(argv0) == "keras-rnnreg"


if _launched_from_command_line() and "tensorflow" not in sys.modules:
    # Keep TensorFlow's C++ start-up chatter off the command line's output.
    from keras_rnnreg._startup import import_tensorflow_quietly

    import_tensorflow_quietly()

# Importing the layer modules registers them with Keras, so saved models load
# with ``keras.saving.load_model(..., safe_mode=True)`` after ``import keras_rnnreg``.
from keras_rnnreg.rnn.cells import FastDropoutSimpleRNNCell, NoisySimpleRNNCell  # noqa: E402
from keras_rnnreg.rnn.fast_dropout import FastDropoutDense, FastDropoutSimpleRNN  # noqa: E402
from keras_rnnreg.rnn.initializers import SparseGaussian, SparsifyColumns, SpectralRadius, spectral_radius  # noqa: E402
from keras_rnnreg.losses import FrameNLL, NoteNLL, frame_nll  # noqa: E402
from keras_rnnreg.rnn.noisy_dense import NoisyDense  # noqa: E402
from keras_rnnreg.rnn.noisy_simple_rnn import NoisySimpleRNN  # noqa: E402
from keras_rnnreg.rnn.weight_noise import WeightNoise  # noqa: E402
from keras_rnnreg.rmsprop_nesterov import RMSpropNesterov  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "FastDropoutDense",
    "FastDropoutSimpleRNN",
    "FastDropoutSimpleRNNCell",
    "FrameNLL",
    "NoisyDense",
    "NoisySimpleRNN",
    "NoisySimpleRNNCell",
    "NoteNLL",
    "RMSpropNesterov",
    "SparseGaussian",
    "SparsifyColumns",
    "SpectralRadius",
    "WeightNoise",
    "frame_nll",
    "spectral_radius",
]
