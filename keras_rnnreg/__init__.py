"""keras_rnnreg: regularized simple recurrent networks for polyphonic music.

Reusable Keras 3 layers implementing the regularizers of Ognawala & Bayer (2014),
"Regularizing Recurrent Networks - On Injected Noise and Norm-based Methods":

- :class:`NoisySimpleRNN`: tanh RNN with additive / multiplicative Gaussian noise
  or DropConnect on ``W_hh`` (per time step or per sequence) and Gaussian noise on
  ``W_ih``.
- :class:`NoisyDense`: output map with per-time-step weight noise (RNN-FF).
- :class:`FastDropoutSimpleRNN`, :class:`FastDropoutDense`: fast dropout.
- :class:`SparseGaussian`, :class:`SpectralRadius`: initializers.
- :class:`NoteNLL`, :class:`FrameNLL`: the paper's loss and metric.

The zoo of named models is :mod:`keras_rnnreg.models`, the data pipelines
:mod:`keras_rnnreg.data_pipelines`, the hyperparameter search
:mod:`keras_rnnreg.tuning`.
"""

from keras_rnnreg.fast_dropout import FastDropoutDense, FastDropoutSimpleRNN
from keras_rnnreg.initializers import SparseGaussian, SpectralRadius, spectral_radius
from keras_rnnreg.losses import FrameNLL, NoteNLL, frame_nll
from keras_rnnreg.noisy_dense import NoisyDense
from keras_rnnreg.noisy_rnn import NoisySimpleRNN

__version__ = "0.1.0"

__all__ = [
    "FastDropoutDense",
    "FastDropoutSimpleRNN",
    "FrameNLL",
    "NoisyDense",
    "NoisySimpleRNN",
    "NoteNLL",
    "SparseGaussian",
    "SpectralRadius",
    "frame_nll",
    "spectral_radius",
]
