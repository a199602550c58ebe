"""``NoisyDense``: a dense layer over time with per-time-step weight noise (RNN-FF)."""

import keras
from keras import ops

from keras_rnnreg.rnn import weight_noise as noise_lib
from keras_rnnreg.layer_args import check_units, set_weight_args, weight_args_config


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class NoisyDense(keras.layers.Layer):
    """``y = activation(x W* + b)`` with weight noise on ``W`` while training.

    Applied to ``(batch, time, features)`` it is the hidden-to-output map of the
    RNN; by default noise is drawn per time step (the paper's RNN-FF on ``W_ho``).
    The noise is a :class:`~keras_rnnreg.WeightNoise`, as in the recurrent layers.

    Args:
        units: output size, >= 1.
        activation: e.g. ``"sigmoid"`` for note probabilities.
        weight_noise: ``None``, ``"additive"``, ``"multiplicative"``,
            ``"dropconnect"`` or a :class:`~keras_rnnreg.WeightNoise`.
        noise_scope: ``"step"`` (fresh noise per time step, default) or
            ``"sequence"`` (one matrix per forward pass).
        sigma: standard deviation of Gaussian weight noise (> 0, required for
            the Gaussian kinds).
        dropconnect_p: drop probability of DropConnect (in (0, 1)).
        noise_implementation: ``"local_reparameterization"`` (independent
            per example and frame) or ``"exact"`` (one matrix per time step,
            shared by the batch; needs 3-D inputs; DropConnect per step is
            always exact).
        use_bias, kernel_initializer, bias_initializer: as in ``keras.layers.Dense``.
        kernel_regularizer, bias_regularizer: as in ``keras.layers.Dense``.
        seed: int or None; seeds the noise.
    """

    def __init__(
        self,
        units,
        activation=None,
        weight_noise=None,
        noise_scope="step",
        sigma=None,
        dropconnect_p=None,
        noise_implementation="local_reparameterization",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        seed=None,
        **kwargs,
    ):
        if "stddev" in kwargs:  # the name before the knobs got one name everywhere
            sigma = kwargs.pop("stddev")
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.activation = keras.activations.get(activation)
        self.noise_implementation = noise_lib.check_choice(
            "noise_implementation", noise_implementation, noise_lib.IMPLEMENTATIONS
        )
        self.noise = noise_lib.make_weight_noise(
            "weight_noise", weight_noise, noise_scope, sigma, dropconnect_p, noise_implementation,
            "sigma", "dropconnect_p",
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
        own_seed = None if self.noise is None else self.noise.seed
        self.noise_seed_generator = None if own_seed is None else keras.random.SeedGenerator(own_seed)

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

    @property
    def weight_noise(self):
        return None if self.noise is None else self.noise.kind

    @property
    def noise_scope(self):
        return "step" if self.noise is None else self.noise.scope

    @property
    def sigma(self):
        return self.noise.level if self.noise is not None and self.noise.kind != "dropconnect" else None

    @property
    def dropconnect_p(self):
        return self.noise.level if self.noise is not None and self.noise.kind == "dropconnect" else None

    def call(self, inputs, training=None):
        inputs = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        noise = self.noise if training else None
        if noise is None:
            outputs = ops.matmul(inputs, self.kernel)
        else:
            per_step_matrices = not noise.per_sequence and not noise.local_reparameterization
            if per_step_matrices and len(inputs.shape) != 3:
                raise ValueError(
                    "NoisyDense: exact per-step noise needs (batch, time, features) inputs; "
                    f"got shape {inputs.shape}"
                )
            kernel = ops.convert_to_tensor(self.kernel)
            generator = self.noise_seed_generator or self.seed_generator
            shape = ops.shape(inputs)
            draw = noise.draw(kernel, generator, steps=shape[1] if per_step_matrices else None,
                              leading_shape=tuple(shape[:-1]))
            outputs = noise.matmul(inputs, kernel, draw, time_axis=1)
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
                "noise_scope": self.noise_scope,
                "sigma": self.sigma,
                "dropconnect_p": self.dropconnect_p,
                "noise_implementation": self.noise_implementation,
                "use_bias": self.use_bias,
                **weight_args_config(self),
                "seed": self.seed,
            }
        )
        noise = self.noise
        if noise is not None and (noise.seed is not None or noise.implementation != self.noise_implementation):
            config.update(weight_noise=keras.saving.serialize_keras_object(noise), sigma=None, dropconnect_p=None)
        return config
