"""The one set of training defaults: ``train``, every tuner trial and every sweep run.

Kept free of Keras and TensorFlow imports so the command line can show them in
``--help`` without starting either. :data:`TRAINING` is picked by measurement
(see :mod:`keras_rnnreg.app.training`); ``tune`` and ``tune sweep`` use the same
``epochs``, ``batch_size``, ``patience`` and ``window``.
"""

#: The optimizers :func:`keras_rnnreg.optim.make_optimizer` builds (``train --optimizer``).
OPTIMIZERS = ("sgd", "rmsprop", "rmsprop_nesterov", "adam")

TRAINING = {
    "model": "rnn",
    "dataset": "jsb_chorales",
    "epochs": 200,
    "batch_size": 8,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "momentum": 0.9,
    "decay": 0.9,
    "clipnorm": 5.0,
    "patience": 20,
    "seed": 0,
    "window": 100,
}

#: A training loss (or validation NLL) above this many nats per frame counts as
#: divergence (predicting 0.5 for every note costs 88 ln 2 = 61 nats; an
#: untrained model ~15).
DIVERGENCE_THRESHOLD = 1000.0

#: Configurations a search tries unless told otherwise.
TRIALS = 50
