"""The zoo's declarations: every model's name, hyperparameters and defaults.

Free of Keras and TensorFlow imports, so the command line can offer the model
names and their hyperparameters in ``--help`` without starting either.
:mod:`keras_rnnreg.models` builds the models from these (:func:`keras_rnnreg.models.get`)
and re-exports every name defined here.
"""

import dataclasses
import math

from keras_rnnreg.rnn.choices import CELLS, FAST_DROPOUT_INITS, FAST_DROPOUT_VARIANTS, IMPLEMENTATIONS

# Hyperparameters every model has.
COMMON_DEFAULTS = {
    "cell": "simple",  # the recurrence: "simple" (the paper's tanh RNN), "lstm" or "gru"
    "units": 200,
    "input_init_stddev": 0.01,  # std of the dense Gaussian W_ih
    "output_init_stddev": 0.01,  # std of the dense Gaussian W_ho
    "sparsity_k": 15,  # nonzero incoming recurrent weights per unit (None: dense Gaussian)
    "spectral_radius": 1.1,  # of W_hh at init (None: no rescaling)
    "output_bias_init": math.log(0.04 / 0.96),  # logit of the mean note density
    "seed": None,
}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One row of Table 1, declared: what :func:`get` builds for it.

    Attributes:
        name, description: the zoo name and one line about it.
        defaults: the model's own hyperparameters and their defaults (beside
            :data:`COMMON_DEFAULTS`).
        fixed: settings of the recurrent layer that are not hyperparameters
            (the noise kind and scope).
        recurrence: ``"noisy"`` (:class:`~keras_rnnreg.NoisySimpleRNN`,
            ``NoisyLSTM`` or ``NoisyGRU`` by ``cell``, with
            :class:`~keras_rnnreg.NoisyDense`) or ``"fast_dropout"``
            (:class:`~keras_rnnreg.FastDropoutSimpleRNN`, ``FastDropoutLSTM``
            or ``FastDropoutGRU``, with :class:`~keras_rnnreg.FastDropoutDense`).
        norm_penalty: ``l1`` / ``l2`` penalize ``W_ih``, ``W_hh`` and ``W_ho``.
        feedforward_noise: ``ff_sigma`` is additive noise on ``W_ih`` and ``W_ho``.
    """

    name: str
    description: str
    defaults: dict
    fixed: dict = dataclasses.field(default_factory=dict)
    recurrence: str = "noisy"
    norm_penalty: bool = False
    feedforward_noise: bool = False

    def hyperparameters(self):
        return {**COMMON_DEFAULTS, **self.defaults}


_GAUSSIAN = {"noise_implementation": "local_reparameterization"}

#: The values of the string hyperparameters.
CHOICES = {
    "cell": CELLS,
    "noise_implementation": IMPLEMENTATIONS,
    "fd_variant": FAST_DROPOUT_VARIANTS,
    "fd_init": FAST_DROPOUT_INITS,
}

SPECS = {
    spec.name: spec
    for spec in [
        ModelSpec("rnn", "Plain RNN with good initialization", {}),
        ModelSpec(
            "rnn_fd", "RNN with fast dropout",
            # fd_variant "authors" (or "authors_keep_mean"): the authors' computation and
            # initialization (see get());
            # fd_init takes the initialization apart from the computation.
            {"input_dropout": 0.1, "hidden_dropout": 0.2, "output_dropout": 0.5, "fd_variant": "consistent",
             "fd_init": "variant"},
            recurrence="fast_dropout",
        ),
        ModelSpec("rnn_nbr", "RNN with L1/L2 penalties on W_ih, W_hh, W_ho", {"l1": 0.0, "l2": 1e-4},
                  norm_penalty=True),
        ModelSpec(
            "rnn_n", "Additive Gaussian noise on W_hh, per time step",
            {"sigma": 0.01, **_GAUSSIAN}, {"recurrent_noise": "additive", "recurrent_noise_scope": "step"},
        ),
        ModelSpec(
            "rnn_ns", "Additive Gaussian noise on W_hh, per sequence",
            {"sigma": 0.01}, {"recurrent_noise": "additive", "recurrent_noise_scope": "sequence"},
        ),
        ModelSpec(
            "rnn_mn", "Multiplicative Gaussian noise on W_hh, per time step",
            {"sigma": 0.1, **_GAUSSIAN},
            {"recurrent_noise": "multiplicative", "recurrent_noise_scope": "step"},
        ),
        ModelSpec(
            "rnn_mns", "Multiplicative Gaussian noise on W_hh, per sequence",
            {"sigma": 0.1}, {"recurrent_noise": "multiplicative", "recurrent_noise_scope": "sequence"},
        ),
        ModelSpec(
            "rnn_do", "DropConnect on W_hh, per time step",
            {"dropconnect_p": 0.2}, {"recurrent_noise": "dropconnect", "recurrent_noise_scope": "step"},
        ),
        ModelSpec(
            "rnn_dos", "DropConnect on W_hh, per sequence",
            {"dropconnect_p": 0.2}, {"recurrent_noise": "dropconnect", "recurrent_noise_scope": "sequence"},
        ),
        ModelSpec(
            "rnn_ff", "Additive Gaussian noise on W_ih and W_ho, per time step",
            {"ff_sigma": 0.01, **_GAUSSIAN}, feedforward_noise=True,
        ),
    ]
}


def names():
    """The model names, in the order of the paper's Table 1."""
    return list(SPECS)


def spec(name):
    """The :class:`ModelSpec` of ``name``; ``ValueError`` naming the valid names."""
    if name not in SPECS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(SPECS)}")
    return SPECS[name]


def default_hyperparameters(name):
    """All hyperparameters of model ``name`` with their defaults."""
    return spec(name).hyperparameters()
