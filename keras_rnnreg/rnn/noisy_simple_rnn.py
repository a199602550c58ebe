"""``NoisySimpleRNN``: a tanh RNN with weight noise on its recurrent or input weights."""

import keras
from keras import ops

from keras_rnnreg.rnn import weight_noise as noise_lib
from keras_rnnreg.layer_args import check_units, set_weight_args, weight_args_config
from keras_rnnreg import rng
from keras_rnnreg.rnn import recurrence


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class NoisySimpleRNN(keras.layers.Layer):
    """Fully-connected tanh RNN, ``h_t = tanh(x_t W_ih + h_{t-1} W_hh + b)``,
    with optional weight noise applied only while training.

    With every noise option off it computes exactly what
    ``keras.layers.SimpleRNN(units, return_sequences=True)`` computes, and its
    weights (``kernel``, ``recurrent_kernel``, ``bias``) have the same shapes and
    order, so ``set_weights`` works across the two.

    The input projection is one matmul over all time steps, outside the loop;
    the loop itself is :mod:`keras_rnnreg.recurrence`, whose hand-written
    backward pass compiles under XLA.

    Args:
        units: number of hidden units, >= 1.
        recurrent_noise: noise on ``W_hh``: ``None``, ``"additive"``,
            ``"multiplicative"`` or ``"dropconnect"``.
        recurrent_noise_scope: ``"step"`` (fresh noise at every time step) or
            ``"sequence"`` (one draw per forward pass, reused at every step).
        recurrent_stddev: standard deviation of Gaussian ``W_hh`` noise.
        dropconnect_rate: probability of dropping a ``W_hh`` weight.
        input_noise: Gaussian noise on ``W_ih``, per time step: ``None``,
            ``"additive"`` or ``"multiplicative"`` (RNN-FF).
        input_stddev: its standard deviation.
        noise_implementation: for per-step Gaussian noise,
            ``"local_reparameterization"`` (per-example pre-activation noise, the
            default) or ``"exact"`` (a weight matrix per step, shared by the
            batch). DropConnect and per-sequence noise always sample matrices.
        use_bias: whether to add ``b``.
        kernel_initializer, recurrent_initializer, bias_initializer: for
            ``W_ih``, ``W_hh`` and ``b``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: e.g.
            ``keras.regularizers.L1L2`` (RNN-NBR).
        return_sequences: return all hidden states ``(B, T, units)`` (default)
            or only the last ``(B, units)``.
        seed: int or None; seeds the noise.

    Call arguments:
        inputs: ``(batch, time, features)``.
        training: noise is applied only when true.
    """

    def __init__(
        self,
        units,
        recurrent_noise=None,
        recurrent_noise_scope="step",
        recurrent_stddev=0.0,
        dropconnect_rate=0.0,
        input_noise=None,
        input_stddev=0.0,
        noise_implementation="local_reparameterization",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        return_sequences=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.recurrent_noise = noise_lib.check_choice(
            "recurrent_noise", recurrent_noise, (None,) + noise_lib.NOISE_KINDS
        )
        self.recurrent_noise_scope = noise_lib.check_choice(
            "recurrent_noise_scope", recurrent_noise_scope, noise_lib.SCOPES
        )
        self.recurrent_stddev = noise_lib.check_stddev("recurrent_stddev", recurrent_stddev)
        self.dropconnect_rate = noise_lib.check_rate("dropconnect_rate", dropconnect_rate)
        self.input_noise = noise_lib.check_choice(
            "input_noise", input_noise, (None,) + noise_lib.GAUSSIAN_KINDS
        )
        self.input_stddev = noise_lib.check_stddev("input_stddev", input_stddev)
        self.noise_implementation = noise_lib.check_choice(
            "noise_implementation", noise_implementation, noise_lib.IMPLEMENTATIONS
        )
        self.use_bias = use_bias
        set_weight_args(
            self,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
        )
        self.return_sequences = return_sequences
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    # -- weights -----------------------------------------------------------

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(self.units, self.units),
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
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
    def _recurrent_level(self):
        if self.recurrent_noise == "dropconnect":
            return self.dropconnect_rate
        return self.recurrent_stddev

    @property
    def recurrent_noise_active(self):
        """Whether ``W_hh`` noise is configured with a nonzero level."""
        return self.recurrent_noise is not None and self._recurrent_level > 0

    @property
    def input_noise_active(self):
        return self.input_noise is not None and self.input_stddev > 0

    # -- forward -----------------------------------------------------------

    def _input_preactivations(self, inputs, training):
        """Time-major ``x_t W_ih (+ noise) + b``: ``(T, B, units)``."""
        x = ops.transpose(inputs, (1, 0, 2))
        pre = ops.matmul(x, self.kernel)
        if training and self.input_noise_active:
            if self.noise_implementation == "exact":
                steps = ops.shape(x)[0]
                noisy = noise_lib.perturb(
                    self.kernel, self.input_noise, self.input_stddev, self.seed_generator,
                    shape=(steps,) + tuple(self.kernel.shape),
                )
                pre = ops.einsum("tbd,tdh->tbh", x, noisy)
            else:
                pre = pre + noise_lib.lrt_preactivation_noise(
                    x, self.kernel, self.input_noise, self.input_stddev, self.seed_generator
                )
        if self.bias is not None:
            pre = pre + self.bias
        return pre

    def call(self, inputs, training=None):
        inputs = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        pre = self._input_preactivations(inputs, training)
        h0 = ops.zeros((ops.shape(inputs)[0], self.units), dtype=pre.dtype)
        kernel = self.recurrent_kernel
        if training and self.recurrent_noise_active:
            kind, level = self.recurrent_noise, self._recurrent_level
            if self.recurrent_noise_scope == "sequence":
                kernel = noise_lib.perturb(kernel, kind, level, self.seed_generator)
            elif kind == "dropconnect":
                # Per-step masks, applied to W_hh inside the loop (no (T, H, H) matrices).
                steps = ops.shape(pre)[0]
                keep = noise_lib.dropconnect_keep_mask(
                    (steps,) + tuple(kernel.shape), level, self.seed_generator
                )
                hs = recurrence.dropconnect_recurrence(pre, kernel, h0, keep, level)
                return self._format(hs)
            elif self.noise_implementation == "exact":
                steps = ops.shape(pre)[0]
                kernel = noise_lib.perturb(
                    kernel, kind, level, self.seed_generator, shape=(steps,) + tuple(kernel.shape)
                )
            else:
                eps = rng.normal(ops.shape(pre), self.seed_generator, dtype=pre.dtype)
                hs = recurrence.noisy_recurrence(pre, kernel, h0, eps, level, kind)
                return self._format(hs)
        return self._format(recurrence.simple_recurrence(pre, kernel, h0))

    def _format(self, hs):
        if not self.return_sequences:
            return hs[-1]
        return ops.transpose(hs, (1, 0, 2))

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "recurrent_noise": self.recurrent_noise,
                "recurrent_noise_scope": self.recurrent_noise_scope,
                "recurrent_stddev": self.recurrent_stddev,
                "dropconnect_rate": self.dropconnect_rate,
                "input_noise": self.input_noise,
                "input_stddev": self.input_stddev,
                "noise_implementation": self.noise_implementation,
                "use_bias": self.use_bias,
                **weight_args_config(self),
                "return_sequences": self.return_sequences,
                "seed": self.seed,
            }
        )
        return config
