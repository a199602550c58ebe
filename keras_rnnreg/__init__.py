"""keras_rnnreg: regularized simple recurrent networks for polyphonic music.

Reusable Keras 3 layers implementing the regularizers of Ognawala & Bayer (2014),
"Regularizing Recurrent Networks - On Injected Noise and Norm-based Methods":

- :class:`NoisySimpleRNN` (a ``keras.layers.RNN``) and its cell
  :class:`NoisySimpleRNNCell`: tanh RNN with additive / multiplicative Gaussian
  noise or DropConnect on ``W_hh`` and ``W_ih`` (per time step or per sequence).
- :class:`NoisyLSTMCell`, :class:`NoisyGRUCell`: Keras's ``LSTMCell`` / ``GRUCell``
  (same weights, same dropout masks) with the same weight noise on ``W_hh`` and
  ``W_ih``, one draw covering all gate blocks; :class:`NoisyLSTM`, :class:`NoisyGRU`
  are their layers (fused path and cell-loop fallback).
- :class:`WeightNoise`: the weight-noise mechanism all of them use.
- :class:`NoisyDense`: output map with per-time-step weight noise (RNN-FF).
- :class:`FastDropoutSimpleRNN`, :class:`FastDropoutSimpleRNNCell`,
  :class:`FastDropoutDense`: fast dropout; :class:`FastDropoutLSTM`, :class:`FastDropoutGRU`
  and their cells :class:`FastDropoutLSTMCell`, :class:`FastDropoutGRUCell`: fast
  dropout through the gates.
- :class:`SparseGaussian`, :class:`SpectralRadius`, :class:`SparsifyColumns`: initializers.
- :class:`NoteNLL`, :class:`FrameNLL`: the paper's loss and metric.
- :class:`RMSpropNesterov`: RMSprop with Nesterov momentum as the authors' climin computes it.

The zoo of named models is :mod:`keras_rnnreg.models`, the data pipelines
:mod:`keras_rnnreg.data_pipelines`, the hyperparameter search
:mod:`keras_rnnreg.tuning`.
"""

import importlib as _importlib
import os as _os
import sys as _sys

__version__ = "0.1.0"


def _launched_from_command_line():
    # While ``python -m keras_rnnreg`` imports this package, sys.argv[0] is "-m".
    argv0 = _sys.argv[0] if _sys.argv else ""
    return argv0 == "-m" or _os.path.basename(argv0) == "keras-rnnreg"


#: The public names and the layer modules defining them.
_PUBLIC = {
    "FastDropoutSimpleRNNCell": "keras_rnnreg.rnn.cells",
    "NoisySimpleRNNCell": "keras_rnnreg.rnn.cells",
    "NoisyGRUCell": "keras_rnnreg.rnn.gated",
    "NoisyLSTMCell": "keras_rnnreg.rnn.gated",
    "NoisyGRU": "keras_rnnreg.rnn.noisy_gated",
    "NoisyLSTM": "keras_rnnreg.rnn.noisy_gated",
    "FastDropoutDense": "keras_rnnreg.rnn.fast_dropout",
    "FastDropoutSimpleRNN": "keras_rnnreg.rnn.fast_dropout",
    "FastDropoutGRU": "keras_rnnreg.rnn.fast_dropout_gated",
    "FastDropoutGRUCell": "keras_rnnreg.rnn.fast_dropout_gated",
    "FastDropoutLSTM": "keras_rnnreg.rnn.fast_dropout_gated",
    "FastDropoutLSTMCell": "keras_rnnreg.rnn.fast_dropout_gated",
    "SparseGaussian": "keras_rnnreg.rnn.initializers",
    "SparsifyColumns": "keras_rnnreg.rnn.initializers",
    "SpectralRadius": "keras_rnnreg.rnn.initializers",
    "spectral_radius": "keras_rnnreg.rnn.initializers",
    "FrameNLL": "keras_rnnreg.losses",
    "NoteNLL": "keras_rnnreg.losses",
    "frame_nll": "keras_rnnreg.losses",
    "NoisyDense": "keras_rnnreg.rnn.noisy_dense",
    "NoisySimpleRNN": "keras_rnnreg.rnn.noisy_simple_rnn",
    "WeightNoise": "keras_rnnreg.rnn.weight_noise",
    "RMSpropNesterov": "keras_rnnreg.rmsprop_nesterov",
}

#: The subpackages and modules a user imports (``from keras_rnnreg import models``).
_SUBPACKAGES = ("data_pipelines", "losses", "models", "optim", "rnn", "tuning")


def _register_layers():
    """Import the layer modules and bind the public names here.

    Importing them registers every serializable class with Keras (the layers,
    cells, initializers, losses and the zoo's ``ZooModel``), so a saved model
    loads with ``keras.saving.load_model(..., safe_mode=True)`` after nothing
    but ``import keras_rnnreg``. A plain import does this at once; the command
    line does it when a command runs, so ``--help`` and usage errors answer
    without starting Keras.
    """
    for name, module in _PUBLIC.items():
        globals()[name] = getattr(_importlib.import_module(module), name)
    # Every zoo model is a ZooModel: a .keras file of one names this class.
    _importlib.import_module("keras_rnnreg.models.zoo_model")


def __getattr__(name):
    # The command line's lazy import (PEP 562): the first public name asked for imports them all.
    if name in _PUBLIC:
        _register_layers()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    # The public API only: not the helpers above nor the internal modules that
    # importing the layers binds here as attributes.
    return sorted([*_PUBLIC, *_SUBPACKAGES, "__version__"])


if not _launched_from_command_line():
    _register_layers()

__all__ = sorted(_PUBLIC)
