"""``NoisyDense``: a dense layer over time with per-time-step weight noise (RNN-FF)."""

import keras
from keras import ops

from keras_rnnreg.rnn import weight_noise as noise_lib
from keras_rnnreg.layer_args import check_units, set_weight_args, weight_args_config


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class NoisyDense(keras.layers.Layer):
    """``y = activation(x W + b)`` with Gaussian noise on ``W`` while training.

    Applied to ``(batch, time, features)`` it is the hidden-to-output map of the
    RNN; noise is drawn per time step (the paper's RNN-FF on ``W_ho``).

    Args:
        units: output size, >= 1.
        activation: e.g. ``"sigmoid"`` for note probabilities.
        weight_noise: ``None``, ``"additive"`` or ``"multiplicative"``.
        stddev: standard deviation of the weight noise, >= 0.
        noise_implementation: ``"local_reparameterization"`` (independent
            per example and frame) or ``"exact"`` (one matrix per time step,
            shared by the batch; needs 3-D inputs).
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer: as in ``keras.layers.Dense``.
        seed: int or None; seeds the noise.
    """

    def __init__(
        self,
        units,
        activation=None,
        weight_noise=None,
        stddev=0.0,
        noise_implementation="local_reparameterization",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.activation = keras.activations.get(activation)
        self.weight_noise = noise_lib.check_choice(
            "weight_noise", weight_noise, (None,) + noise_lib.GAUSSIAN_KINDS
        )
        self.stddev = noise_lib.check_stddev("stddev", stddev)
        self.noise_implementation = noise_lib.check_choice(
            "noise_implementation", noise_implementation, noise_lib.IMPLEMENTATIONS
        )
        self.use_bias = use_bias
        set_weight_args(
            self,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )

    def call(self, inputs, training=None):
        inputs = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        noisy = training and self.weight_noise is not None and self.stddev > 0
        if noisy and self.noise_implementation == "exact":
            if len(inputs.shape) != 3:
                raise ValueError(
                    "NoisyDense: exact per-step noise needs (batch, time, features) inputs; "
                    f"got shape {inputs.shape}"
                )
            steps = ops.shape(inputs)[1]
            kernels = noise_lib.perturb(
                self.kernel, self.weight_noise, self.stddev, self.seed_generator,
                shape=(steps,) + tuple(self.kernel.shape),
            )
            outputs = ops.einsum("btd,tdu->btu", inputs, kernels)
        else:
            outputs = ops.matmul(inputs, self.kernel)
            if noisy:
                outputs = outputs + noise_lib.lrt_preactivation_noise(
                    inputs, self.kernel, self.weight_noise, self.stddev, self.seed_generator
                )
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "weight_noise": self.weight_noise,
                "stddev": self.stddev,
                "noise_implementation": self.noise_implementation,
                "use_bias": self.use_bias,
                **weight_args_config(self),
                "seed": self.seed,
            }
        )
        return config
