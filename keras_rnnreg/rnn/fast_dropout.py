"""Fast dropout for the RNN (Wang & Manning 2013; Bayer et al. 2013).

Instead of sampling dropout masks, every unit carries a mean and a variance.
:class:`FastDropoutSimpleRNN` propagates them through the input and recurrent
maps and the tanh; :class:`FastDropoutDense` takes them through the
hidden-to-output map and the sigmoid. Formulas: NOTES.md and
:mod:`keras_rnnreg.recurrence`. The computation is deterministic, so training
and inference run the same moment propagation (the model *is* the Gaussian
approximation of the dropout ensemble).
"""

import keras
from keras import ops

from keras_rnnreg.rnn import weight_noise as noise_lib
from keras_rnnreg.layer_args import check_units, set_weight_args, weight_args_config
from keras_rnnreg.rnn import recurrence


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class FastDropoutSimpleRNN(keras.layers.Layer):
    """tanh RNN with fast dropout on its inputs and on its recurrent inputs.

    Returns ``[means, variances]`` of the hidden states, each
    ``(batch, time, units)``, for :class:`FastDropoutDense`.

    Args:
        units: hidden units, >= 1.
        input_rate: dropout rate on the inputs ``x_t`` (into ``W_ih``), in [0, 1).
        hidden_rate: dropout rate on ``h_{t-1}`` (into ``W_hh``), in [0, 1).
        variance_approximation: ``"zero_corrected"`` (default; exact when the
            pre-activation is deterministic) or ``"wang_manning"`` (the published
            formula), see :func:`keras_rnnreg.recurrence.tanh_moments`.
        kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer: as in
            :class:`keras_rnnreg.NoisySimpleRNN`.
    """

    def __init__(
        self,
        units,
        input_rate=0.1,
        hidden_rate=0.2,
        variance_approximation="zero_corrected",
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.input_rate = noise_lib.check_rate("input_rate", input_rate)
        self.hidden_rate = noise_lib.check_rate("hidden_rate", hidden_rate)
        self.variance_approximation = noise_lib.check_choice(
            "variance_approximation", variance_approximation, recurrence.VARIANCE_APPROXIMATIONS
        )
        set_weight_args(
            self,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
        )

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.units, self.units),
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.units,),
            initializer=self.bias_initializer, regularizer=self.bias_regularizer,
        )

    def call(self, inputs):
        inputs = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        x = ops.transpose(inputs, (1, 0, 2))
        keep = 1.0 - self.input_rate
        # Inputs are data (variance 0): only the dropout itself adds variance.
        mu_in = keep * ops.matmul(x, self.kernel) + self.bias
        var_in = keep * (1.0 - keep) * ops.matmul(ops.square(x), ops.square(self.kernel))
        zeros = ops.zeros((ops.shape(inputs)[0], self.units), dtype=mu_in.dtype)
        means, variances = recurrence.fast_dropout_recurrence(
            mu_in, var_in, self.recurrent_kernel, zeros, zeros, 1.0 - self.hidden_rate,
            variance=self.variance_approximation,
        )
        return [ops.transpose(means, (1, 0, 2)), ops.transpose(variances, (1, 0, 2))]

    def compute_output_shape(self, input_shape):
        shape = (input_shape[0], input_shape[1], self.units)
        return [shape, shape]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "input_rate": self.input_rate,
                "hidden_rate": self.hidden_rate,
                "variance_approximation": self.variance_approximation,
                **weight_args_config(self),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class FastDropoutDense(keras.layers.Layer):
    """Sigmoid output layer with fast dropout on its inputs.

    Takes ``[means, variances]`` of its inputs and returns the approximate
    expected sigmoid ``E[sigmoid(a)] ~ sigmoid(mu / sqrt(1 + pi var / 8))`` of
    ``a = W^T (d * h) + b``, ``d ~ Bernoulli(1 - rate)``.

    Args:
        units: output size (88 notes), >= 1.
        rate: dropout rate on the inputs, in [0, 1).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer:
            as in ``keras.layers.Dense``.
    """

    def __init__(
        self,
        units,
        rate=0.5,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.rate = noise_lib.check_rate("rate", rate)
        set_weight_args(
            self,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
        )

    def build(self, input_shape):
        mean_shape = input_shape[0]
        self.kernel = self.add_weight(
            name="kernel", shape=(mean_shape[-1], self.units),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.units,),
            initializer=self.bias_initializer, regularizer=self.bias_regularizer,
        )

    def moments(self, inputs):
        """Mean and variance of the pre-activation ``a``."""
        mean, var = inputs
        keep = 1.0 - self.rate
        mu = keep * ops.matmul(mean, self.kernel) + self.bias
        s2 = ops.matmul(keep * var + keep * (1.0 - keep) * ops.square(mean), ops.square(self.kernel))
        return mu, s2

    def call(self, inputs):
        mu, s2 = self.moments(inputs)
        return recurrence.sigmoid_mean(mu, s2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "rate": self.rate,
                **weight_args_config(self),
            }
        )
        return config
