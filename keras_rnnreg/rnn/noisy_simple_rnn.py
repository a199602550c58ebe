"""``NoisySimpleRNN``: the sequence layer of :class:`~keras_rnnreg.NoisySimpleRNNCell`."""

import keras
from keras import ops

from keras_rnnreg.private_api import keras_rnn_loop
from keras_rnnreg.rnn import recurrence
from keras_rnnreg.rnn.cells import NoisySimpleRNNCell

FAST_PATH_CHOICES = ("auto", False)

_CELL_ARGS = (
    "activation", "recurrent_noise", "recurrent_noise_scope", "sigma", "dropconnect_p",
    "input_noise", "input_noise_scope", "input_sigma", "input_dropconnect_p",
    "noise_implementation", "use_bias",
    "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
    "kernel_constraint", "recurrent_constraint", "bias_constraint",
    "dropout", "recurrent_dropout", "seed",
)


def fast_path_available():
    """Whether the fused loops of :mod:`keras_rnnreg.rnn.recurrence` run on this backend."""
    return keras.backend.backend() in ("tensorflow", "jax")


class FusedLoopRNN(keras.layers.RNN):
    """A ``keras.layers.RNN`` whose inner loop takes a fused fast path when it can.

    Subclasses implement :meth:`fused_loop` (the whole sequence at once) and
    :meth:`cell_loop` (the cell, step by step, in Keras's RNN loop) with the
    same random draws; :meth:`inner_loop` chooses, the way
    ``keras.layers.LSTM`` uses cuDNN when it can.
    """

    def _init_fast_path(self, fast_path):
        if fast_path not in FAST_PATH_CHOICES:
            raise ValueError(f"fast_path must be 'auto' or False; got {fast_path!r}")
        self.fast_path = fast_path

    def uses_fast_path(self):
        return self.fast_path == "auto" and not self.unroll and fast_path_available()

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        draws = self.draw_noise(sequences, training)
        if self.uses_fast_path():
            return self.fused_loop(sequences, initial_state, mask, training, draws)
        return self.cell_loop(sequences, initial_state, mask, training, draws)

    def draw_noise(self, sequences, training):
        return {}

    def _run_cell_loop(self, step, inputs, initial_state, mask, steps):
        """Keras's RNN loop over ``inputs``: a tensor or a flat tuple of ``(batch, time, ...)`` tensors.

        (Flat: with ``unroll=True`` Keras's loop indexes each top-level entry
        of a nested input by step, which a dict inside it does not allow.)
        """
        return keras_rnn_loop(
            step,
            inputs,
            list(initial_state),
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=self.unroll,
            input_length=steps,
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )

    def _time_major(self, tensor, mask):
        """``(B, T, ...)`` -> ``(T, B, ...)`` and the mask ``(B, T)`` -> ``(T, B)``, reversed for go_backwards."""
        tensor = ops.transpose(tensor, (1, 0) + tuple(range(2, len(tensor.shape))))
        if mask is not None:
            mask = ops.transpose(ops.cast(mask, "bool"))
        if self.go_backwards:
            tensor = ops.flip(tensor, 0)
            mask = None if mask is None else ops.flip(mask, 0)
        return tensor, mask

    def _outputs(self, hs, mask_tm):
        """``(last_output, outputs, ...)`` as ``keras.layers.RNN.inner_loop`` returns them."""
        last = hs[-1]
        outputs = ops.transpose(hs, (1, 0, 2)) if self.return_sequences else ops.expand_dims(last, 1)
        if self.return_sequences and mask_tm is not None and self.zero_output_for_mask:
            outputs = ops.where(ops.expand_dims(ops.transpose(mask_tm), -1), outputs, 0.0)
        return last, outputs


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class NoisySimpleRNN(FusedLoopRNN):
    """Fully-connected RNN with weight noise, ``h_t = activation(x_t W*_ih + h_{t-1} W*_hh + b)``.

    The layer of :class:`~keras_rnnreg.NoisySimpleRNNCell`, as
    ``keras.layers.SimpleRNN`` is the layer of ``SimpleRNNCell``, and a drop-in
    for it: it takes every argument of ``keras.layers.SimpleRNN``
    (``activation``, ``dropout``, ``recurrent_dropout``, initializers,
    regularizers, constraints, ``seed``, ...) with the same meaning, and
    supports masking, ``initial_state``, ``return_state``,
    ``return_sequences``, ``go_backwards``, ``stateful``, ``unroll``,
    ``keras.layers.Bidirectional`` and stacking. With every noise option off
    it computes what ``keras.layers.SimpleRNN`` computes with the same weights
    (and, with the same ``seed``, draws the same dropout masks). Unlike
    ``SimpleRNN`` it returns the whole sequence by default.

    Its inner loop is fused when it can be (``fast_path="auto"``, the default,
    on TensorFlow and JAX): the input projection is one matmul over all steps
    and the recurrence is one of the hand-written loops of
    :mod:`keras_rnnreg.rnn.recurrence` (custom backward pass, compiled with XLA
    on TensorFlow), with or without a mask; ``dropout`` is applied to the
    inputs before that matmul. The fused loops compute tanh with the full
    recurrent state, so the cell runs step by step in Keras's RNN loop instead
    when ``activation`` is not tanh, when ``recurrent_dropout > 0``, with
    ``unroll=True``, or with ``fast_path=False``. Both loops use the same noise
    draws (:meth:`NoisySimpleRNNCell.draw_noise`) and dropout masks, so they
    give the same outputs and gradients.

    Args:
        units: number of hidden units, >= 1.
        activation, recurrent_noise, recurrent_noise_scope, sigma: as in
            :class:`~keras_rnnreg.NoisySimpleRNNCell`.
        dropconnect_p, input_noise, input_noise_scope, input_sigma: likewise.
        input_dropconnect_p, noise_implementation, use_bias: likewise.
        kernel_initializer, recurrent_initializer, bias_initializer: likewise.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: likewise.
        kernel_constraint, recurrent_constraint, bias_constraint: likewise.
        dropout, recurrent_dropout, seed: likewise.
        return_sequences: return all hidden states ``(B, T, units)``
            (default ``True``, unlike ``keras.layers.SimpleRNN``) or the last.
        return_state, go_backwards, stateful, unroll, zero_output_for_mask: as
            in ``keras.layers.RNN``.
        fast_path: ``"auto"`` (default) or ``False`` (always the cell loop).

    Call arguments:
        sequences: ``(batch, time, features)``.
        initial_state: list with the initial ``h``, ``(batch, units)``.
        mask: ``(batch, time)`` booleans; a masked step keeps the state.
        training: noise and dropout are applied only when true.

    Example:

    ```python
    layer = NoisySimpleRNN(200, recurrent_noise="multiplicative", sigma=0.1,
                           recurrent_noise_scope="sequence")
    hidden = layer(keras.random.normal((8, 100, 88)), training=True)  # (8, 100, 200)
    both = keras.layers.Bidirectional(NoisySimpleRNN(32, recurrent_noise="dropconnect",
                                                     dropconnect_p=0.2))
    ```
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_noise=None,
        recurrent_noise_scope="step",
        sigma=None,
        dropconnect_p=None,
        input_noise=None,
        input_noise_scope="step",
        input_sigma=None,
        input_dropconnect_p=None,
        noise_implementation="local_reparameterization",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        return_sequences=True,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        fast_path="auto",
        seed=None,
        **kwargs,
    ):
        cell = NoisySimpleRNNCell(
            units,
            activation=activation,
            recurrent_noise=recurrent_noise,
            recurrent_noise_scope=recurrent_noise_scope,
            sigma=sigma,
            dropconnect_p=dropconnect_p,
            input_noise=input_noise,
            input_noise_scope=input_noise_scope,
            input_sigma=input_sigma,
            input_dropconnect_p=input_dropconnect_p,
            noise_implementation=noise_implementation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            dtype=kwargs.get("dtype", None),
            trainable=kwargs.get("trainable", True),
            name="noisy_simple_rnn_cell",
        )
        # The layer draws the noise of its passes itself (draw_noise), so the
        # cell's state is [h] alone (no step counter); set before
        # keras.layers.RNN reads the cell's state_size.
        cell._noise_drawn_by_layer = True
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
        self._init_fast_path(fast_path)

    def uses_fast_path(self):
        # The fused recurrences compute tanh of the whole previous state.
        cell = self.cell
        return cell.has_tanh_activation and cell.recurrent_dropout == 0 and super().uses_fast_path()

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    # -- the two loops ------------------------------------------------------

    def draw_noise(self, sequences, training):
        if not (training and self.cell.has_noise):
            return {}
        shape = ops.shape(sequences)
        return self.cell.draw_noise(shape[0], shape[1])

    def fused_loop(self, sequences, initial_state, mask, training, draws):
        cell = self.cell
        if training and cell.dropout > 0:
            # Keras's input dropout: the mask keras.layers.RNN drew for this
            # pass, the same at every step.
            sequences = sequences * ops.expand_dims(cell.get_dropout_mask(sequences[:, 0]), 1)
        x, mask_tm = self._time_major(sequences, mask)
        draws = self._ordered(draws)
        if "input" in draws:
            pre = cell.input_weight_noise.matmul(x, cell.kernel, draws["input"], time_axis=0)
        else:
            pre = ops.matmul(x, cell.kernel)
        if cell.bias is not None:
            pre = pre + cell.bias
        h0 = initial_state[0]
        kernel = cell.recurrent_kernel
        noise, draw = cell.recurrent_weight_noise, draws.get("recurrent")
        if draw is None:
            hs = recurrence.simple_recurrence(pre, kernel, h0, mask=mask_tm)
        elif "keep" in draw and len(draw["keep"].shape) == 3:
            hs = recurrence.dropconnect_recurrence(pre, kernel, h0, draw["keep"], noise.level, mask=mask_tm)
        elif "eps" in draw:
            hs = recurrence.noisy_recurrence(pre, kernel, h0, draw["eps"], noise.level, noise.kind, mask=mask_tm)
        else:
            hs = recurrence.simple_recurrence(pre, noise.noisy_kernels(ops.convert_to_tensor(kernel), draw), h0,
                                              mask=mask_tm)
        last, outputs = self._outputs(hs, mask_tm)
        return last, outputs, [last]

    def _ordered(self, draws):
        """Per-step draws in the order the steps are processed (reversed for go_backwards)."""
        if not self.go_backwards:
            return draws
        flipped = {}
        for key, draw in draws.items():
            noise = self.cell.input_weight_noise if key == "input" else self.cell.recurrent_weight_noise
            flipped[key] = draw if noise.per_sequence else {k: ops.flip(v, 0) for k, v in draw.items()}
        return flipped

    def cell_loop(self, sequences, initial_state, mask, training, draws):
        cell = self.cell
        fixed, slots, per_step = {}, [], []
        for key, draw in draws.items():
            noise = cell.input_weight_noise if key == "input" else cell.recurrent_weight_noise
            if noise.per_sequence:
                fixed[key] = draw
            else:
                # Keras's loop slices its inputs along axis 1: put the step axis there.
                for name, value in draw.items():
                    slots.append((key, name))
                    per_step.append(ops.swapaxes(value, 0, 1))

        def step(inputs, states):
            x_t, values = inputs[0], inputs[1:]
            step_noise = None
            if training and draws:
                step_noise = {key: dict(draw) for key, draw in fixed.items()}
                for (key, name), value in zip(slots, values):
                    step_noise.setdefault(key, {})[name] = value
            return cell(x_t, states, training=training, step_noise=step_noise)

        return self._run_cell_loop(step, (sequences, *per_step), initial_state, mask, sequences.shape[1])

    def get_config(self):
        cell_config = self.cell.get_config()
        config = {"units": self.cell.units, **{k: cell_config[k] for k in _CELL_ARGS}, "fast_path": self.fast_path}
        base_config = super().get_config()
        del base_config["cell"]
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def forward_to_cell(layer_class, names):
    """Read-only properties of ``layer_class`` reading the same names on its cell (as SimpleRNN has)."""
    for name in names:
        setattr(layer_class, name, property(lambda self, name=name: getattr(self.cell, name)))


forward_to_cell(
    NoisySimpleRNN,
    _CELL_ARGS + ("units", "kernel", "recurrent_kernel", "bias", "recurrent_weight_noise", "input_weight_noise"),
)
