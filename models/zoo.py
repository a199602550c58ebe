"""The named models of the paper's Table 1.

Every model maps ``(batch, time, 88)`` piano rolls to next-step note
probabilities through one recurrent hidden layer and 88 sigmoid outputs. The
hidden layer is the paper's tanh RNN (``cell="simple"``, the default), an LSTM
(``"lstm"``) or a GRU (``"gru"``), with the same regularizer. They share the
"correct regime" initialization (sparse recurrent weights rescaled to a
spectral radius, per gate block in the gated cells; small input and output
weights; output bias at the mean note density) and differ in their regularizer. What each model is and its
hyperparameters are declared in :mod:`keras_rnnreg.zoo_specs`; this module builds them.
"""

import math

import keras

from keras_rnnreg.rnn.choices import AUTHORS_COMPUTATIONS
from keras_rnnreg.rnn.fast_dropout import FastDropoutDense, FastDropoutSimpleRNN
from keras_rnnreg.rnn.fast_dropout_gated import FastDropoutGRU, FastDropoutLSTM
from keras_rnnreg.rnn.initializers import SparseGaussian, SparsifyColumns, SpectralRadius
from keras_rnnreg.rnn.noisy_dense import NoisyDense
from keras_rnnreg.rnn.noisy_gated import NoisyGRU, NoisyLSTM
from keras_rnnreg.rnn.noisy_simple_rnn import NoisySimpleRNN
from keras_rnnreg.models.zoo_model import ZooModel

# The declarations live in a Keras-free module (the command line's --help reads them).
from keras_rnnreg.zoo_specs import (  # noqa: F401  (re-exported)
    CHOICES,
    COMMON_DEFAULTS,
    SPECS,
    ModelSpec,
    default_hyperparameters,
    names,
    spec,
)

NUM_NOTES = 88

# The hidden layer of each recurrence and cell.
_NOISY_LAYERS = {"simple": NoisySimpleRNN, "lstm": NoisyLSTM, "gru": NoisyGRU}
_FAST_DROPOUT_LAYERS = {"simple": FastDropoutSimpleRNN, "lstm": FastDropoutLSTM, "gru": FastDropoutGRU}


def _validate(name, hp):
    def fail(key, what):
        raise ValueError(f"model {name!r}: {key} must be {what}; got {hp[key]!r}")

    units = hp["units"]
    if not isinstance(units, int) or isinstance(units, bool) or units < 1:
        fail("units", "an integer >= 1")
    for key in ("input_init_stddev", "output_init_stddev"):
        if not hp[key] > 0:
            fail(key, "> 0")
    if hp["sparsity_k"] is not None and (int(hp["sparsity_k"]) != hp["sparsity_k"] or hp["sparsity_k"] < 1):
        fail("sparsity_k", "an integer >= 1 or None")
    if hp["spectral_radius"] is not None and not hp["spectral_radius"] > 0:
        fail("spectral_radius", "> 0 or None")
    for key in ("sigma", "ff_sigma", "l1", "l2"):
        if key in hp and not hp[key] >= 0:
            fail(key, ">= 0")
    for key in ("dropconnect_p", "input_dropout", "hidden_dropout", "output_dropout"):
        if key in hp and not 0 <= hp[key] < 1:
            fail(key, "in [0, 1)")
    for key, choices in CHOICES.items():
        if key in hp and hp[key] not in choices:
            fail(key, " or ".join(repr(v) for v in choices))
    if hp["cell"] != "simple" and "fd_variant" in hp:
        # The authors' computation and initialization are those of their tanh RNN.
        for key, valid in (("fd_variant", ("consistent",)), ("fd_init", ("variant", "zoo"))):
            if hp[key] not in valid:
                raise ValueError(
                    f"model {name!r}: cell={hp['cell']!r} takes {key} {' or '.join(map(repr, valid))} "
                    f"(the authors' fast dropout is a tanh RNN's); got {key}={hp[key]!r}. "
                    f"Valid combinations: cell='simple' with any {key}, or cell 'lstm' / 'gru' with "
                    f"{key} {' or '.join(map(repr, valid))}"
                )


def _authors_fd_initializers(hp, seed):
    """The initialization of the authors' FD-RNN (Breze ``SupervisedFastDropoutRnn``).

    Input and output weights Gaussian (``input_init_stddev``,
    ``output_init_stddev``), then ``sparsity_k`` kept per column; ``W_hh``
    Gaussian, rescaled to ``spectral_radius`` and *then* sparsified to
    ``sparsity_k`` per column; hidden bias 0, output bias ``output_bias_init``.
    Their notebook: std 1e-2 in, 1e-4 out, radius 1.2, k 15, output bias -8.
    """
    def sparse(base, offset):
        k = hp["sparsity_k"]
        return base if k is None else SparsifyColumns(base, k=k, seed=_seed(seed, offset))

    recurrent = keras.initializers.RandomNormal(stddev=1.0, seed=_seed(seed, 1))
    if hp["spectral_radius"] is not None:
        recurrent = SpectralRadius(recurrent, radius=hp["spectral_radius"])
    init = {
        "kernel_initializer": sparse(keras.initializers.RandomNormal(stddev=hp["input_init_stddev"],
                                                                     seed=_seed(seed, 2)), 6),
        "recurrent_initializer": sparse(recurrent, 7),
    }
    output_init = {
        "kernel_initializer": sparse(keras.initializers.RandomNormal(stddev=hp["output_init_stddev"],
                                                                     seed=_seed(seed, 3)), 8),
        "bias_initializer": keras.initializers.Constant(hp["output_bias_init"]),
    }
    return init, output_init


def _seed(base, offset):
    return None if base is None else base + offset


def resolve_hyperparameters(name, overrides=None):
    """The full hyperparameters of model ``name``: its defaults updated with ``overrides``.

    Raises:
        ValueError: unknown model name, or an override that is not one of the
            model's hyperparameters (the message lists the valid ones).
    """
    hp = spec(name).hyperparameters()
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(hp))
    if unknown:
        raise ValueError(
            f"model {name!r} has no hyperparameter {', '.join(unknown)}; "
            f"valid hyperparameters: {', '.join(sorted(hp))}"
        )
    hp.update(overrides)
    return hp


def get(name, **overrides):
    """Build the zoo model ``name`` (an uncompiled :class:`ZooModel`, a functional ``keras.Model``).

    Args:
        name: one of :func:`names`.
        **overrides: hyperparameters to change, see
            :func:`default_hyperparameters` (``cell``, ``units``, ``sigma``,
            ``dropconnect_p``, ``l1``/``l2``, ``sparsity_k``,
            ``spectral_radius``, ``seed``, ...).

    ``cell`` picks the hidden layer: ``"simple"`` (default, the paper's tanh
    RNN: :class:`~keras_rnnreg.NoisySimpleRNN`), ``"lstm"``
    (:class:`~keras_rnnreg.NoisyLSTM`) or ``"gru"``
    (:class:`~keras_rnnreg.NoisyGRU`) with the model's regularizer, e.g.
    ``get("rnn_dos", cell="lstm")`` is an LSTM with per-sequence DropConnect
    on ``W_hh``; ``rnn_fd`` takes the fast-dropout layer of the cell
    (``FastDropoutLSTM`` / ``FastDropoutGRU``). The recurrent initialization
    (sparse, spectral radius) applies to each gate block of a gated ``W_hh``.

    Raises:
        ValueError: unknown name, unknown hyperparameter, a bad value, or a
            combination that cannot work (the authors' fast dropout,
            ``fd_variant`` / ``fd_init`` ``"authors"``, with a gated cell).
    """
    model_spec = spec(name)
    hp = resolve_hyperparameters(name, overrides)
    _validate(name, hp)
    seed = hp["seed"]

    if hp["sparsity_k"] is not None:
        recurrent_base = SparseGaussian(k=hp["sparsity_k"], seed=_seed(seed, 1))
    elif hp["cell"] == "simple":
        recurrent_base = keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(hp["units"]), seed=_seed(seed, 1))
    else:
        # Dense Gaussian as SparseGaussian with every weight kept: its seed
        # generator gives each gate block its own draw (a seeded RandomNormal
        # would draw the same block four times, see per_gate_block).
        recurrent_base = SparseGaussian(k=hp["units"], stddev=1.0 / math.sqrt(hp["units"]), seed=_seed(seed, 1))
    recurrent_init = (
        SpectralRadius(recurrent_base, radius=hp["spectral_radius"])
        if hp["spectral_radius"] is not None
        else recurrent_base
    )
    init = {
        "kernel_initializer": keras.initializers.RandomNormal(stddev=hp["input_init_stddev"], seed=_seed(seed, 2)),
        "recurrent_initializer": recurrent_init,
    }
    output_init = {
        "kernel_initializer": keras.initializers.RandomNormal(stddev=hp["output_init_stddev"], seed=_seed(seed, 3)),
        "bias_initializer": keras.initializers.Constant(hp["output_bias_init"]),
    }
    penalty = {}
    if model_spec.norm_penalty and (hp["l1"] > 0 or hp["l2"] > 0):
        penalty = {"l1": hp["l1"], "l2": hp["l2"]}

    def regularizer():
        return keras.regularizers.L1L2(**penalty) if penalty else None

    inputs = keras.Input(shape=(None, NUM_NOTES), name="piano_roll")
    if model_spec.recurrence == "fast_dropout":
        variant = hp["fd_variant"]
        default_init = "authors" if variant in AUTHORS_COMPUTATIONS else "zoo"
        initialization = default_init if hp["fd_init"] == "variant" else hp["fd_init"]
        if initialization == "authors":
            init, output_init = _authors_fd_initializers(hp, seed)
        fd_kwargs = {"variant": variant} if hp["cell"] == "simple" else {}
        moments = _FAST_DROPOUT_LAYERS[hp["cell"]](
            hp["units"], input_rate=hp["input_dropout"], hidden_rate=hp["hidden_dropout"],
            name="hidden", **fd_kwargs, **init,
        )(inputs)
        outputs = FastDropoutDense(
            NUM_NOTES, rate=hp["output_dropout"], variant=variant, name="notes", **output_init
        )(moments)
        return ZooModel(inputs, outputs, name=name)

    rnn_kwargs = dict(model_spec.fixed)
    dense_kwargs = {}
    # A zero level (a sweep's first point, e.g. dropconnect_p=0) is the model
    # without that noise: the layers reject a noise kind with level 0.
    if "sigma" in hp:
        rnn_kwargs["sigma"] = hp["sigma"]
    if "dropconnect_p" in hp:
        rnn_kwargs["dropconnect_p"] = hp["dropconnect_p"]
    if "noise_implementation" in hp:
        rnn_kwargs["noise_implementation"] = hp["noise_implementation"]
    if not (rnn_kwargs.get("sigma") or rnn_kwargs.get("dropconnect_p")):
        for key in ("recurrent_noise", "recurrent_noise_scope", "sigma", "dropconnect_p"):
            rnn_kwargs.pop(key, None)
    if model_spec.feedforward_noise and hp["ff_sigma"] > 0:
        rnn_kwargs.update(input_noise="additive", input_sigma=hp["ff_sigma"])
        dense_kwargs.update(
            weight_noise="additive", sigma=hp["ff_sigma"], noise_implementation=hp["noise_implementation"]
        )
    hidden = _NOISY_LAYERS[hp["cell"]](
        hp["units"], kernel_regularizer=regularizer(), recurrent_regularizer=regularizer(),
        seed=_seed(seed, 4), name="hidden", **init, **rnn_kwargs,
    )(inputs)
    outputs = NoisyDense(
        NUM_NOTES, activation="sigmoid", kernel_regularizer=regularizer(), seed=_seed(seed, 5),
        name="notes", **output_init, **dense_kwargs,
    )(hidden)
    return ZooModel(inputs, outputs, name=name)
