"""Argument handling shared by the layers: units, initializers, regularizers, constraints."""

import keras

# Argument-name suffix -> (resolver, serializer): how ``*_initializer``,
# ``*_regularizer`` and ``*_constraint`` arguments are read and written back.
_KINDS = {
    "_initializer": (keras.initializers.get, keras.initializers.serialize),
    "_regularizer": (keras.regularizers.get, keras.regularizers.serialize),
    "_constraint": (keras.constraints.get, keras.constraints.serialize),
}


def check_units(units, what="units"):
    """``units`` as an int >= 1, else ``ValueError``."""
    if not isinstance(units, int) or isinstance(units, bool) or units < 1:
        raise ValueError(f"{what} must be an integer >= 1; got {units!r}")
    return units


def _kind(name):
    for suffix, functions in _KINDS.items():
        if name.endswith(suffix):
            return functions
    raise ValueError(f"{name!r} is not a weight argument (names end in {', '.join(_KINDS)})")


def set_weight_args(layer, **args):
    """Resolve ``*_initializer`` / ``*_regularizer`` / ``*_constraint`` arguments onto ``layer``.

    Each value goes through ``keras.initializers.get``, ``keras.regularizers.get``
    or ``keras.constraints.get`` and is stored under its argument name;
    :func:`weight_args_config` serializes the same names back.
    """
    for name, value in args.items():
        setattr(layer, name, _kind(name)[0](value))
    layer._weight_arg_names = tuple(args)


def weight_args_config(layer):
    """The ``get_config`` entries of the arguments stored by :func:`set_weight_args`."""
    return {name: _kind(name)[1](getattr(layer, name)) for name in layer._weight_arg_names}
