"""Argument handling shared by the layers: units, initializers, regularizers."""

import keras


def check_units(units, what="units"):
    """``units`` as an int >= 1, else ``ValueError``."""
    if not isinstance(units, int) or isinstance(units, bool) or units < 1:
        raise ValueError(f"{what} must be an integer >= 1; got {units!r}")
    return units


def _is_initializer(name):
    return name.endswith("_initializer")


def set_weight_args(layer, **args):
    """Resolve ``*_initializer`` / ``*_regularizer`` arguments onto ``layer``.

    Each value goes through ``keras.initializers.get`` or
    ``keras.regularizers.get`` and is stored under its argument name;
    :func:`weight_args_config` serializes the same names back.
    """
    for name, value in args.items():
        getter = keras.initializers.get if _is_initializer(name) else keras.regularizers.get
        setattr(layer, name, getter(value))
    layer._weight_arg_names = tuple(args)


def weight_args_config(layer):
    """The ``get_config`` entries of the arguments stored by :func:`set_weight_args`."""
    config = {}
    for name in layer._weight_arg_names:
        serialize = keras.initializers.serialize if _is_initializer(name) else keras.regularizers.serialize
        config[name] = serialize(getattr(layer, name))
    return config
