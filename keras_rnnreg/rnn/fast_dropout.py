"""Fast dropout for the RNN (Wang & Manning 2013; Bayer et al. 2013).

Instead of sampling dropout masks, every unit carries a mean and a variance.
:class:`FastDropoutSimpleRNN` propagates them through the input and recurrent
maps and the tanh; :class:`FastDropoutDense` takes them through the
hidden-to-output map and the sigmoid. Formulas: docs/references.md and
:mod:`keras_rnnreg.rnn.recurrence`. The computation is deterministic, so training
and inference run the same moment propagation (the model *is* the Gaussian
approximation of the dropout ensemble).
"""

import keras
from keras import ops

from keras_rnnreg.layer_args import check_units, set_weight_args, weight_args_config
from keras_rnnreg.rnn import recurrence
from keras_rnnreg.rnn import weight_noise as noise_lib
from keras_rnnreg.rnn.choices import AUTHORS_COMPUTATIONS
from keras_rnnreg.rnn.cells import FastDropoutSimpleRNNCell
from keras_rnnreg.rnn.noisy_simple_rnn import FusedLoopRNN, forward_to_cell


_CELL_ARGS = (
    "input_rate", "hidden_rate", "variance_approximation",
    "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "variant",
)


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class FastDropoutSimpleRNN(FusedLoopRNN):
    """tanh RNN with fast dropout on its inputs and on its recurrent inputs.

    The layer of :class:`~keras_rnnreg.FastDropoutSimpleRNNCell` (a
    ``keras.layers.RNN``: masking, ``initial_state``, ``return_state``,
    ``go_backwards``, ``stateful``, ``Bidirectional``, stacking). Its state is
    the mean and the variance of the hidden units. It returns
    ``[means, variances]``, each ``(batch, time, units)`` (or ``(batch, units)``
    without ``return_sequences``), for :class:`FastDropoutDense`; with
    ``split_moments=False`` one tensor ``[means | variances]`` of ``2 * units``
    features instead (what ``keras.layers.Bidirectional`` and ``Sequential``
    models need; :class:`FastDropoutDense` takes it too). The state is
    ``[mean | variance]`` (one tensor, as in the cell); with ``return_state``
    the last mean and variance follow the output, as two tensors when
    ``split_moments`` else as that one.

    The inner loop is the fused moment recurrence of
    :mod:`keras_rnnreg.rnn.recurrence` (hand-written backward pass, XLA on
    TensorFlow) whenever it can be, with or without a mask, else the cell loop.

    Args:
        units: hidden units, >= 1.
        input_rate: dropout rate on the inputs ``x_t`` (into ``W_ih``), in [0, 1).
        hidden_rate: dropout rate on ``h_{t-1}`` (into ``W_hh``), in [0, 1).
        variance_approximation: ``"zero_corrected"`` (default; exact when the
            pre-activation is deterministic) or ``"wang_manning"`` (the published
            formula), see :func:`keras_rnnreg.rnn.recurrence.tanh_moments`.
        kernel_initializer, recurrent_initializer, bias_initializer: as in
            :class:`keras_rnnreg.NoisySimpleRNN`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: likewise.
        variant: ``"consistent"`` (default), ``"authors"``: the paper's
            authors' computation (recurrent mean scaled by the rate, moments of
            ``tanh(a / 2)``, trained initial state), or ``"authors_keep_mean"``:
            theirs with the recurrent mean scaled by the keep probability, see
            :class:`~keras_rnnreg.FastDropoutSimpleRNNCell`. Both of theirs
            always run the cell loop.
        split_moments: ``True`` (default): ``[means, variances]``; ``False``:
            one concatenated tensor.
        return_sequences: as in ``keras.layers.RNN``, but ``True`` by default.
        return_state, go_backwards, stateful, unroll, zero_output_for_mask: as
            in ``keras.layers.RNN``.
        fast_path: ``"auto"`` (default) or ``False`` (always the cell loop).

    Call arguments:
        sequences: ``(batch, time, features)``.
        initial_state: ``[mean, variance]``, each ``(batch, units)``, or
            ``[[mean | variance]]``.
        mask: ``(batch, time)`` booleans; a masked step keeps both moments.

    Example:

    ```python
    means, variances = FastDropoutSimpleRNN(200, input_rate=0.1, hidden_rate=0.2)(x)
    probs = FastDropoutDense(88, rate=0.5)([means, variances])
    ```
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
        variant="consistent",
        split_moments=True,
        return_sequences=True,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        fast_path="auto",
        **kwargs,
    ):
        cell = FastDropoutSimpleRNNCell(
            units,
            input_rate=input_rate,
            hidden_rate=hidden_rate,
            variance_approximation=variance_approximation,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            variant=variant,
            dtype=kwargs.get("dtype", None),
            trainable=kwargs.get("trainable", True),
            name="fast_dropout_simple_rnn_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            **kwargs,
        )
        self.input_spec = [keras.layers.InputSpec(ndim=3)]
        self.split_moments = bool(split_moments)
        self._fused_moments = None
        self._init_fast_path(fast_path)

    def uses_fast_path(self):
        # The fused loop implements the consistent moments only.
        return self.cell.variant == "consistent" and super().uses_fast_path()

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if isinstance(initial_state, (list, tuple)) and len(initial_state) == 2:
            initial_state = [ops.concatenate(list(initial_state), axis=-1)]
        self._fused_moments = None
        result = super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        if not self.split_moments:
            return result
        output, states = (result[0], list(result[1:])) if self.return_state else (result, [])
        units = self.cell.units
        states = [states[0][..., :units], states[0][..., units:]] if states else []
        if self._fused_moments is not None:
            # The fused loop had the moments apart: use them as they are (the
            # concatenated output it also returned is then left unused).
            moments, self._fused_moments = list(self._fused_moments), None
        else:
            moments = [output[..., :units], output[..., units:]]
        return moments + states if self.return_state else moments

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        shape = super().compute_output_shape(sequences_shape, initial_state_shape)
        if not self.split_moments:
            return shape
        output = shape[0] if self.return_state else shape
        half = tuple(output[:-1]) + (self.cell.units,)
        state = (output[0], self.cell.units)
        return [half, half, state, state] if self.return_state else [half, half]

    def compute_mask(self, sequences, mask=None):
        out = super().compute_mask(sequences, mask)
        if not self.split_moments:
            return out
        if self.return_state:
            return [out[0], out[0], None, None]
        return [out, out]

    def fused_loop(self, sequences, initial_state, mask, training, draws):
        cell = self.cell
        x, mask_tm = self._time_major(sequences, mask)
        mu_in, var_in = cell.input_moments(x)
        units = cell.units
        m0, v0 = initial_state[0][..., :units], initial_state[0][..., units:]
        means, variances = recurrence.fast_dropout_recurrence(
            mu_in, var_in, cell.recurrent_kernel, m0, v0, 1.0 - cell.hidden_rate,
            variance=cell.variance_approximation, mask=mask_tm,
        )
        last_m, out_m = self._outputs(means, mask_tm)
        last_v, out_v = self._outputs(variances, mask_tm)
        if self.split_moments and keras.backend.standardize_dtype(means.dtype) == self.compute_dtype:
            self._fused_moments = (out_m, out_v) if self.return_sequences else (last_m, last_v)
        last = ops.concatenate([last_m, last_v], axis=-1)
        outputs = ops.concatenate([out_m, out_v], axis=-1) if self.return_sequences else ops.expand_dims(last, 1)
        return last, outputs, [last]

    def cell_loop(self, sequences, initial_state, mask, training, draws):
        def step(inputs, states):
            return self.cell(inputs, states)

        return self._run_cell_loop(step, sequences, initial_state, mask, sequences.shape[1])

    def get_config(self):
        cell_config = self.cell.get_config()
        config = {
            "units": self.cell.units,
            **{k: cell_config[k] for k in _CELL_ARGS},
            "split_moments": self.split_moments,
            "fast_path": self.fast_path,
        }
        base_config = super().get_config()
        del base_config["cell"]
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


forward_to_cell(FastDropoutSimpleRNN, _CELL_ARGS + ("units", "kernel", "recurrent_kernel", "bias"))


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class FastDropoutDense(keras.layers.Layer):
    """Sigmoid output layer with fast dropout on its inputs.

    Takes ``[means, variances]`` of its inputs (or one tensor ``[means | variances]``,
    as ``keras.layers.RNN(FastDropoutSimpleRNNCell(...))`` returns) and returns the approximate
    expected sigmoid ``E[sigmoid(a)] ~ sigmoid(mu / sqrt(1 + pi var / 8))`` of
    ``a = W^T (d * h) + b``, ``d ~ Bernoulli(1 - rate)``.

    Args:
        units: output size (88 notes), >= 1.
        rate: dropout rate on the inputs, in [0, 1).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer:
            as in ``keras.layers.Dense``.
        variant: ``"consistent"`` (default), or ``"authors"`` /
            ``"authors_keep_mean"``: the output mean clipped to
            ``[1e-7, 1 - 1e-7]`` as the authors' code does
            (:func:`keras_rnnreg.rnn.recurrence.authors_sigmoid_moments`).
    """

    def __init__(
        self,
        units,
        rate=0.5,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        variant="consistent",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.rate = noise_lib.check_rate("rate", rate)
        self.variant = noise_lib.check_choice("variant", variant, recurrence.FAST_DROPOUT_VARIANTS)
        set_weight_args(
            self,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
        )

    @staticmethod
    def _split(inputs):
        if isinstance(inputs, (list, tuple)):
            return inputs
        half = inputs.shape[-1] // 2
        return inputs[..., :half], inputs[..., half:]

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            features = input_shape[0][-1]
        else:
            if input_shape[-1] % 2:
                raise ValueError(f"FastDropoutDense: a single input must be [means | variances]; got {input_shape}")
            features = input_shape[-1] // 2
        self.kernel = self.add_weight(
            name="kernel", shape=(features, self.units),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.units,),
            initializer=self.bias_initializer, regularizer=self.bias_regularizer,
        )

    def moments(self, inputs):
        """Mean and variance of the pre-activation ``a``."""
        mean, var = self._split(inputs)
        keep = 1.0 - self.rate
        mu = keep * ops.matmul(mean, self.kernel) + self.bias
        s2 = ops.matmul(keep * var + keep * (1.0 - keep) * ops.square(mean), ops.square(self.kernel))
        return mu, s2

    def call(self, inputs):
        mu, s2 = self.moments(inputs)
        if self.variant in AUTHORS_COMPUTATIONS:
            return recurrence.authors_sigmoid_moments(mu, s2)[0]
        return recurrence.sigmoid_mean(mu, s2)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "rate": self.rate,
                "variant": self.variant,
                **weight_args_config(self),
            }
        )
        return config
