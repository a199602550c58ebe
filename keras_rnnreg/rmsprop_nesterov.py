"""RMSprop with Nesterov momentum, as climin computes it (the optimizer of the paper's authors)."""

import keras
from keras import ops


class SlotIndex:
    """Position in an optimizer's ``var_list`` of the variable ``update_step`` receives.

    Keras's optimizers use their private ``_get_variable_index``; this does the
    same with public means. ``update_step`` receives the Keras variable (JAX,
    PyTorch), its ``tf.Variable`` (``variable.value``, TensorFlow) or, under a
    ``tf.distribute`` strategy, one replica's component of that. A plain object
    (not a list attribute of the optimizer, whose tracking would add the
    model's variables to the optimizer's own).

    Args:
        variables: the ``var_list`` given to ``build``.
    """

    def __init__(self, variables):
        self.variables = list(variables)
        self.positions = {}

    def position(self, variable):
        position = self.positions.get(id(variable))
        if position is None:
            # Indexed on first use, not in build: the strategy that splits a
            # variable into replicas is the current one only inside its update.
            for i, v in enumerate(self.variables):
                self.positions.update(dict.fromkeys(_identities(v), i))
            position = self.positions.get(id(variable))
        if position is None:
            raise KeyError(f"{variable!r} is not one of the variables the optimizer was built for")
        return position


def _identities(variable):
    """``id`` of every object ``update_step`` may receive for the Keras ``variable``."""
    keys = [id(variable)]
    if keras.backend.backend() == "tensorflow" and isinstance(variable, keras.Variable):
        import tensorflow as tf

        value = variable.value
        keys.append(id(value))
        keys.extend(id(part) for part in tf.distribute.get_strategy().experimental_local_results(value))
    return keys


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class RMSpropNesterov(keras.optimizers.Optimizer):
    """RMSprop with Nesterov momentum, following climin's ``RmsProp``.

    The authors of the paper trained with climin (Breze's optimizer library).
    Per step, with step rate ``a``, decay ``g``, momentum ``m`` and the previous
    step ``s``::

        theta_half = theta - m * s                       # look ahead along the momentum
        r = g * r + (1 - g) * grad(theta_half) ** 2      # r starts at initial_mean_square
        s = m * s + a * grad(theta_half) / sqrt(r + epsilon)
        theta = theta - s

    Where it differs from ``keras.optimizers.RMSprop(rho=g, momentum=m)``:

    - the moving average of squared gradients starts at ``initial_mean_square``
      (climin: 1), Keras's at 0. With decay 0.8 and gradients far below 1, the
      first steps here are about ``a * grad`` (small); Keras's first step is
      ``a / sqrt(1 - g)`` times the gradient's sign (2.2 a for g = 0.8);
    - Nesterov momentum (gradient at the look-ahead point) instead of heavy-ball
      momentum (gradient at the current point);
    - ``epsilon`` 1e-8 inside the square root (Keras: 1e-7).

    As Keras's ``SGD(nesterov=True)`` does, the model's variables hold the
    look-ahead point ``theta - m * s``, so every gradient Keras computes is the
    one Nesterov momentum needs; with ``s`` kept as a slot the update of the
    look-ahead point is ``phi <- phi - ((1 + m) * s_new - m * s_old)``. At the end
    of training the weights are thus ``m * s`` away from climin's ``theta``;
    with early stopping at a best epoch this difference is one step's momentum.

    Args:
        learning_rate: step rate ``a`` (climin's ``step_rate``), > 0.
        decay: ``g`` in [0, 1), decay of the moving average of squared gradients.
        momentum: ``m`` in [0, 1).
        initial_mean_square: start value of that moving average (climin: 1.0).
        epsilon: added to the average inside the square root (climin: 1e-8).
        **kwargs: the base optimizer's arguments (``clipnorm``, ``name``, ...).

    Example:

    >>> import keras, keras_rnnreg
    >>> opt = keras_rnnreg.RMSpropNesterov(learning_rate=1e-3, decay=0.8, momentum=0.99)
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=opt, loss="mse")
    """

    def __init__(self, learning_rate=1e-3, decay=0.9, momentum=0.0, initial_mean_square=1.0, epsilon=1e-8,
                 name="rmsprop_nesterov", **kwargs):
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if not initial_mean_square >= 0:
            raise ValueError(f"initial_mean_square must be >= 0, got {initial_mean_square}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.decay = float(decay)
        self.momentum = float(momentum)
        self.initial_mean_square = float(initial_mean_square)
        self.epsilon = float(epsilon)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        init = keras.initializers.Constant(self.initial_mean_square)
        self._slot_index = SlotIndex(var_list)
        self._mean_squares = [self.add_variable_from_reference(v, "mean_square", initializer=init)
                              for v in var_list]
        self._steps = [self.add_variable_from_reference(v, "step") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        i = self._slot_index.position(variable)
        mean_square, step = self._mean_squares[i], self._steps[i]
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        m = self.momentum
        new_mean_square = self.decay * mean_square + (1.0 - self.decay) * ops.square(gradient)
        new_step = m * step + lr * gradient / ops.sqrt(new_mean_square + self.epsilon)
        # The variable holds the look-ahead point theta - m * s (see the class docstring).
        self.assign_sub(variable, (1.0 + m) * new_step - m * step)
        self.assign(mean_square, new_mean_square)
        self.assign(step, new_step)

    def get_config(self):
        config = super().get_config()
        config.update(decay=self.decay, momentum=self.momentum, initial_mean_square=self.initial_mean_square,
                      epsilon=self.epsilon)
        return config
