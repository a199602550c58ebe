"""Gated RNN cells with weight noise: :class:`NoisyLSTMCell` and :class:`NoisyGRUCell`.

``keras.layers.LSTMCell`` and ``keras.layers.GRUCell`` (same arguments, same
weights, same gate order, same ``dropout`` / ``recurrent_dropout`` masks for
the same seed) with the library's one weight-noise mechanism,
:class:`~keras_rnnreg.rnn.weight_noise.WeightNoise`, on the input kernel
``W_ih`` (``kernel``) and the recurrent kernel ``W_hh`` (``recurrent_kernel``),
with the flat noise arguments of
:class:`~keras_rnnreg.rnn.cells.NoisySimpleRNNCell`.

A gated kernel is the gate blocks side by side, ``(fan_in, n * units)`` with
``n = 4`` (LSTM: i, f, c, o) or ``n = 3`` (GRU: z, r, h). One noise draw covers
the whole kernel: every gate block gets its own independent noise from the same
draw, as if the noise sat on ``n`` separate matrices.

The noise bookkeeping (per-sequence draws before ``keras.layers.RNN``'s loop,
per-step seeds from a step counter carried in the state) is
``NoisySimpleRNNCell``'s own code, shared through :class:`_WeightNoiseCell`.
"""

import keras
from keras import ops

from keras_rnnreg.layer_args import check_units, set_weight_args, weight_args_config
# DropoutRNNCell (not exported by Keras): keras.layers.RNN draws the dropout
# masks before its loop only for its instances; see keras_rnnreg.private_api.
from keras_rnnreg.private_api import DropoutRNNCell
from keras_rnnreg.rnn import cells as _cells
from keras_rnnreg.rnn import initializers as _initializers
from keras_rnnreg.rnn import weight_noise as noise_lib

_Simple = _cells.NoisySimpleRNNCell

#: The library's initializers, which the gated cells call once per gate block
#: (see :func:`per_gate_block`).
BLOCKWISE_INITIALIZERS = (
    _initializers.SparseGaussian,
    _initializers.SpectralRadius,
    _initializers.SparsifyColumns,
)


def per_gate_block(initializer, gates):
    """``initializer`` for a gated kernel: one call per ``(fan_in, units)`` gate block.

    The library's initializers (:data:`BLOCKWISE_INITIALIZERS`) describe one
    gate's matrix: ``SpectralRadius`` needs a square matrix, and ``k`` nonzero
    incoming weights or a spectral radius are properties of each gate's
    ``W_hh`` block. They are called once per block and the blocks
    concatenated along the units axis, so each of the ``gates`` blocks of
    ``W_hh`` gets its own ``k`` nonzeros per column and its own spectral
    radius. Any other initializer (Keras's, e.g. the default ``"orthogonal"``)
    is returned unchanged and initializes the whole kernel, as Keras's cells do.
    (A library initializer around a seeded Keras initializer draws the same
    values at each call, hence equal blocks: leave that base unseeded.)
    """
    if not isinstance(initializer, BLOCKWISE_INITIALIZERS):
        return initializer

    def blockwise(shape, dtype=None):
        fan_in, width = shape
        units = width // gates
        blocks = [initializer((fan_in, units), dtype=dtype) for _ in range(gates)]
        return ops.concatenate([ops.convert_to_tensor(b, dtype=dtype) for b in blocks], axis=1)

    return blockwise


def _slice_draw(draw, start, stop):
    """The columns ``start:stop`` of a :meth:`WeightNoise.draw` (units are its last axis in every form)."""
    return {name: value[..., start:stop] for name, value in draw.items()}


class _WeightNoiseCell(DropoutRNNCell):
    """Weight noise on ``kernel`` / ``recurrent_kernel`` and Keras's dropout masks.

    The methods and properties below are :class:`NoisySimpleRNNCell`'s own
    (borrowed, not copied: one implementation of the pass's draws, the
    per-step seeds and the step counter); the ones defined here differ only
    where that class calls ``super()``.
    """

    _own_generator = staticmethod(_Simple._own_generator)
    counts_steps = _Simple.counts_steps
    recurrent_noise = _Simple.recurrent_noise
    recurrent_noise_scope = _Simple.recurrent_noise_scope
    sigma = _Simple.sigma
    dropconnect_p = _Simple.dropconnect_p
    input_noise = _Simple.input_noise
    input_noise_scope = _Simple.input_noise_scope
    input_sigma = _Simple.input_sigma
    input_dropconnect_p = _Simple.input_dropconnect_p
    _noises = _Simple._noises
    has_noise = _Simple.has_noise
    draw_noise = _Simple.draw_noise
    _sequence_draw = _Simple._sequence_draw
    _one_step_noise = _Simple._one_step_noise
    reset_noise = _Simple.reset_noise

    def _set_noise_args(self, recurrent_noise, recurrent_noise_scope, sigma, dropconnect_p, input_noise,
                        input_noise_scope, input_sigma, input_dropconnect_p, noise_implementation, dropout,
                        recurrent_dropout, seed):
        # The same validation and state as NoisySimpleRNNCell.__init__.
        self.noise_implementation = noise_lib.check_choice(
            "noise_implementation", noise_implementation, noise_lib.IMPLEMENTATIONS
        )
        self.recurrent_weight_noise = noise_lib.make_weight_noise(
            "recurrent_noise", recurrent_noise, recurrent_noise_scope, sigma, dropconnect_p,
            noise_implementation, "sigma", "dropconnect_p",
        )
        self.input_weight_noise = noise_lib.make_weight_noise(
            "input_noise", input_noise, input_noise_scope, input_sigma, input_dropconnect_p,
            noise_implementation, "input_sigma", "input_dropconnect_p",
        )
        self.dropout = noise_lib.check_rate("dropout", dropout)
        self.recurrent_dropout = noise_lib.check_rate("recurrent_dropout", recurrent_dropout)
        if self.recurrent_dropout > 0:
            # Keras's cells then switch to their per-gate implementation, with one
            # input mask and one recurrent mask per gate: the same masks here.
            self.dropout_mask_count = self.gates
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.input_seed_generator = self._own_generator(self.input_weight_noise)
        self.recurrent_seed_generator = self._own_generator(self.recurrent_weight_noise)
        self._sequence_draws = None
        self._pass_seeds = None
        # Set by a sequence layer that draws the noise of its passes itself.
        self._noise_drawn_by_layer = False

    @property
    def per_gate_masks(self):
        """Whether dropout uses one mask per gate (Keras's rule: ``recurrent_dropout > 0``)."""
        return self.recurrent_dropout > 0

    # The DropoutRNNCell protocol, as NoisySimpleRNNCell: keras.layers.RNN calls
    # these around its loop, where every backend can draw.
    def get_dropout_mask(self, step_input):
        """Keras's input dropout mask; before ``keras.layers.RNN``'s loop, also the pass's noise."""
        mask = DropoutRNNCell.get_dropout_mask(self, step_input)
        if not self._noise_drawn_by_layer and self._pass_seeds is None:
            self._pass_seeds = {}
            for key, noise, kernel, generator in self._noises():
                if noise.per_sequence:
                    self._sequence_draw(key, noise, kernel, generator)
                else:
                    self._pass_seeds[key] = _cells._pass_seed(generator)
        return mask

    def reset_dropout_mask(self):
        DropoutRNNCell.reset_dropout_mask(self)
        self.reset_noise()

    # -- helpers of call ------------------------------------------------------

    def _split_states(self, states, carried):
        """``(list of the cell's own states, step counter or None)``."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if not self.counts_steps:
            return states[:carried], None
        if len(states) != carried + 1:
            raise ValueError(
                f"{type(self).__name__} with per-step noise has {carried + 1} states (its own and a "
                f"step counter); got {len(states)} state tensor(s). Pass "
                "initial_state=cell.get_initial_state(batch_size) with the states replaced "
                "(the counter starts at zeros of shape (batch, 2))"
            )
        return states[:carried], states[carried]

    def _dropped(self, x, mask, training):
        """``x`` times Keras's mask(s): one tensor, or one per gate with per-gate masks."""
        if not training or mask is None:
            return x
        if isinstance(mask, (list, tuple)):
            return [x * m for m in mask]
        return x * mask

    def _draws(self, inputs, counter, training, step_noise):
        if not (training and self.has_noise):
            return {}
        return step_noise if step_noise is not None else self._one_step_noise(ops.shape(inputs)[0], counter)

    def _project(self, key, x, kernel, draws, start, stop):
        """``x @ W*[:, blocks start..stop)`` for ``W`` = ``kernel``, noisy where ``draws`` has ``key``.

        ``x`` is one tensor for all the blocks or a list of one per block
        (Keras's per-gate dropout). Each block uses its columns of the one draw.
        """
        if isinstance(x, (list, tuple)):
            return ops.concatenate(
                [self._project(key, xb, kernel, draws, start + b, start + b + 1) for b, xb in enumerate(x)],
                axis=-1,
            )
        lo, hi = start * self.units, stop * self.units
        whole = lo == 0 and hi == kernel.shape[-1]
        columns = kernel if whole else kernel[:, lo:hi]
        if key not in draws:
            return ops.matmul(x, columns)
        draw = draws[key] if whole else _slice_draw(draws[key], lo, hi)
        noise = self.input_weight_noise if key == "input" else self.recurrent_weight_noise
        return noise.matmul(x, columns, draw)

    def _finish(self, output, own_states, counter, nested):
        if counter is not None:
            return output, [*own_states, _cells._next_counter(_cells._step_index(counter), counter)]
        return output, (list(own_states) if nested else own_states[0])

    def _counter_state(self, batch_size):
        if not self.counts_steps:
            return []
        return [ops.zeros((batch_size, _cells.STEP_COUNTER_SIZE), dtype=self.compute_dtype)]

    def _add_kernels(self, input_shape, bias_shape, bias_initializer):
        width = self.gates * self.units
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], width),
            initializer=per_gate_block(self.kernel_initializer, self.gates),
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(self.units, width),
            initializer=per_gate_block(self.recurrent_initializer, self.gates),
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=bias_shape,
                initializer=bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )


_NOISE_ARGS_DOC = """
        recurrent_noise: noise on ``W_hh`` (``recurrent_kernel``, all gate
            blocks): ``None``, ``"additive"``, ``"multiplicative"``,
            ``"dropconnect"``, or a :class:`~keras_rnnreg.WeightNoise`.
        recurrent_noise_scope: ``"step"`` (fresh noise at every time step) or
            ``"sequence"`` (one draw per forward pass, reused at every step).
        sigma: standard deviation of Gaussian ``W_hh`` noise (> 0; required
            for the Gaussian kinds).
        dropconnect_p: probability of dropping a ``W_hh`` weight (in (0, 1);
            required for ``"dropconnect"``).
        input_noise, input_noise_scope, input_sigma, input_dropconnect_p: the
            same for ``W_ih`` (``kernel``).
        noise_implementation: for per-step Gaussian noise,
            ``"local_reparameterization"`` (per-example pre-activation noise,
            default) or ``"exact"`` (a matrix per step, shared by the batch)."""


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class NoisyLSTMCell(keras.layers.Layer, _WeightNoiseCell):
    """``keras.layers.LSTMCell`` with weight noise on its input and recurrent kernels.

    With ``z = x_t W*_ih + h_{t-1} W*_hh + b`` split into the gate blocks
    ``[z_i | z_f | z_c | z_o]`` (Keras's order):
    ``i, f, o = recurrent_activation(z_i, z_f, z_o)``,
    ``c_t = f * c_{t-1} + i * activation(z_c)``, ``h_t = o * activation(c_t)``.
    ``W*`` are noisy copies of the kernels while training, the clean weights at
    inference. The weights are Keras's: ``kernel`` ``(input_dim, 4 units)``,
    ``recurrent_kernel`` ``(units, 4 units)``, ``bias`` ``(4 units,)``; with no
    noise the cell computes what ``LSTMCell`` computes with the same weights.
    The state is ``[h, c]``.

    ``dropout`` and ``recurrent_dropout`` are Keras's unit dropout, with Keras's
    masks for the same seed: one mask on ``x_t`` (and on ``h_{t-1}``) per
    sequence, or one per gate when ``recurrent_dropout > 0`` (Keras's
    per-gate implementation). They apply before the weight noise.

    Weight noise: one draw per kernel covers its four gate blocks (a
    DropConnect mask, a Gaussian perturbation or the local-reparameterization
    noise of all ``4 units`` pre-activations). Per-sequence noise is drawn
    once per forward pass, before the loop. Per-step noise inside
    ``keras.layers.RNN`` is drawn from a seed per pass and the step's index,
    which the cell carries in its state: the state is then
    ``[h, c, step_counter]`` (:attr:`counts_steps`), as in
    :class:`~keras_rnnreg.NoisySimpleRNNCell`, which works under JAX's scan.

    Initializers: the library's (``SparseGaussian``, ``SpectralRadius``,
    ``SparsifyColumns``) are applied per gate block (:func:`per_gate_block`):
    ``recurrent_initializer=SpectralRadius(SparseGaussian(k=15), radius=1.1)``
    gives each of the four ``(units, units)`` blocks of ``W_hh`` radius 1.1.
    Keras's initializers cover the whole kernel, as in ``LSTMCell``.
    L1/L2 penalties: ``kernel_regularizer`` etc. (``keras.regularizers``).

    Args:
        units: number of hidden units, >= 1.
        activation: of the candidate and the output (default ``"tanh"``).
        recurrent_activation: of the gates (default ``"sigmoid"``).
        use_bias: whether to add ``b``.
        kernel_initializer, recurrent_initializer, bias_initializer: for
            ``W_ih``, ``W_hh`` and ``b``.
        unit_forget_bias: add 1 to the forget gate's bias at initialization
            (default ``True``; as in Keras, the other blocks then use
            ``bias_initializer``).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: e.g.
            ``keras.regularizers.L1L2``.
        kernel_constraint, recurrent_constraint, bias_constraint: as in
            ``keras.layers.LSTMCell``.
        dropout: fraction of the input units to drop, in [0, 1) (Keras's).
        recurrent_dropout: fraction of the recurrent units to drop, in [0, 1).
        seed: int or None; seeds the noise and the dropout masks.{noise}

    A noise kind needs its level: a missing or zero level raises
    ``ValueError`` (as does a level given for a kind that does not use it).

    Call arguments:
        inputs: ``(batch, features)``, one time step.
        states: ``[h, c]``, or ``[h, c, step_counter]`` when :attr:`counts_steps`.
        training: noise and dropout are applied only when true.
        step_noise: optional ``{"input": draw, "recurrent": draw}``, this
            step's slice of :meth:`draw_noise` (default: drawn here).

    Example:

    ```python
    cell = NoisyLSTMCell(32, recurrent_noise="dropconnect", dropconnect_p=0.3,
                         recurrent_noise_scope="sequence", seed=0)
    layer = keras.layers.RNN(cell, return_sequences=True)
    outputs = layer(keras.random.normal((8, 100, 88)), training=True)  # (8, 100, 32)
    ```
    """

    gates = 4

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        recurrent_noise=None,
        recurrent_noise_scope="step",
        sigma=None,
        dropconnect_p=None,
        input_noise=None,
        input_noise_scope="step",
        input_sigma=None,
        input_dropconnect_p=None,
        noise_implementation="local_reparameterization",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.unit_forget_bias = unit_forget_bias
        set_weight_args(
            self,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )
        self._set_noise_args(
            recurrent_noise, recurrent_noise_scope, sigma, dropconnect_p, input_noise, input_noise_scope,
            input_sigma, input_dropconnect_p, noise_implementation, dropout, recurrent_dropout, seed,
        )
        self.output_size = self.units

    @property
    def state_size(self):
        return [self.units, self.units] + ([_cells.STEP_COUNTER_SIZE] if self.counts_steps else [])

    def build(self, input_shape):
        bias_initializer = self.bias_initializer
        if self.use_bias and self.unit_forget_bias:
            # Keras's LSTMCell: the forget block starts at ones.
            def bias_initializer(_, *args, **kwargs):
                return ops.concatenate(
                    [
                        self.bias_initializer((self.units,), *args, **kwargs),
                        keras.initializers.get("ones")((self.units,), *args, **kwargs),
                        self.bias_initializer((self.units * 2,), *args, **kwargs),
                    ]
                )

        self._add_kernels(input_shape, (4 * self.units,), bias_initializer)

    def call(self, inputs, states, training=False, step_noise=None):
        (h, c), counter = self._split_states(states, 2)
        input_mask = DropoutRNNCell.get_dropout_mask(self, inputs) if training else None
        recurrent_mask = DropoutRNNCell.get_recurrent_dropout_mask(self, h) if training else None
        x_in = self._dropped(inputs, input_mask, training)
        h_in = self._dropped(h, recurrent_mask, training)
        draws = self._draws(inputs, counter, training, step_noise)
        x = self._project("input", x_in, self.kernel, draws, 0, 4)
        r = self._project("recurrent", h_in, self.recurrent_kernel, draws, 0, 4)
        # Keras's order of additions in each of its implementations.
        if self.bias is None:
            z = x + r
        elif self.per_gate_masks:
            z = (x + self.bias) + r
        else:
            z = (x + r) + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return self._finish(h, [h, c], counter, nested=True)

    def get_initial_state(self, batch_size=None):
        zeros = [ops.zeros((batch_size, self.units), dtype=self.compute_dtype) for _ in range(2)]
        return zeros + self._counter_state(batch_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias,
                "unit_forget_bias": self.unit_forget_bias,
                **weight_args_config(self),
                **_cells.noise_config(self),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class NoisyGRUCell(keras.layers.Layer, _WeightNoiseCell):
    """``keras.layers.GRUCell`` with weight noise on its input and recurrent kernels.

    Gate blocks in Keras's order ``[z | r | h]``: with ``x = x_t W*_ih + b_ih``
    and ``u = h_{t-1} W*_hh``,
    ``z = recurrent_activation(x_z + u_z (+ b_hz))``, likewise ``r``, the
    candidate ``hh = activation(x_h + r * (u_h + b_hh))`` with ``reset_after``
    (default, the cuDNN variant) or ``activation(x_h + (r * h_{t-1}) W*_hh,h)``
    without, and ``h_t = z * h_{t-1} + (1 - z) * hh``. The weights are
    Keras's: ``kernel`` ``(input_dim, 3 units)``, ``recurrent_kernel``
    ``(units, 3 units)``, ``bias`` ``(2, 3 units)`` with ``reset_after`` (input
    and recurrent biases), else ``(3 units,)``; with no noise the cell
    computes what ``GRUCell`` computes with the same weights. The state is
    ``[h]``, or ``[h, step_counter]`` with per-step noise drawn by the cell
    (:attr:`counts_steps`, see :class:`NoisyLSTMCell`).

    ``dropout`` / ``recurrent_dropout``: Keras's masks for the same seed (one
    per gate when ``recurrent_dropout > 0``), before the weight noise. One
    noise draw per kernel covers its three gate blocks; without
    ``reset_after`` the candidate block of ``W*_hh`` multiplies
    ``r * h_{t-1}`` and the other two ``h_{t-1}``, both from that one draw.
    Initializers, regularizers: as in :class:`NoisyLSTMCell` (the library's
    initializers per ``(units, units)`` gate block).

    Args:
        units: number of hidden units, >= 1.
        activation: of the candidate (default ``"tanh"``).
        recurrent_activation: of the gates (default ``"sigmoid"``).
        use_bias: whether to add the biases.
        kernel_initializer, recurrent_initializer, bias_initializer: for
            ``W_ih``, ``W_hh`` and the bias.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: as in
            ``keras.layers.GRUCell``.
        kernel_constraint, recurrent_constraint, bias_constraint: likewise.
        dropout: fraction of the input units to drop, in [0, 1) (Keras's).
        recurrent_dropout: fraction of the recurrent units to drop, in [0, 1).
        reset_after: apply the reset gate after the recurrent matmul (default
            ``True``, Keras's default).
        seed: int or None; seeds the noise and the dropout masks.{noise}

    Call arguments:
        inputs: ``(batch, features)``, one time step.
        states: ``[h]`` (or ``h``), or ``[h, step_counter]`` when :attr:`counts_steps`.
        training: noise and dropout are applied only when true.
        step_noise: optional ``{"input": draw, "recurrent": draw}``, this
            step's slice of :meth:`draw_noise` (default: drawn here).

    Example:

    ```python
    cell = NoisyGRUCell(32, recurrent_noise="additive", sigma=0.05, seed=0)
    layer = keras.layers.RNN(cell, return_sequences=True)
    outputs = layer(keras.random.normal((8, 100, 88)), training=True)  # (8, 100, 32)
    ```
    """

    gates = 3

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
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
        reset_after=True,
        seed=None,
        recurrent_noise=None,
        recurrent_noise_scope="step",
        sigma=None,
        dropconnect_p=None,
        input_noise=None,
        input_noise_scope="step",
        input_sigma=None,
        input_dropconnect_p=None,
        noise_implementation="local_reparameterization",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.use_bias = use_bias
        if not isinstance(reset_after, bool):
            raise ValueError(f"reset_after must be True or False; got {reset_after!r}")
        self.reset_after = reset_after
        set_weight_args(
            self,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )
        self._set_noise_args(
            recurrent_noise, recurrent_noise_scope, sigma, dropconnect_p, input_noise, input_noise_scope,
            input_sigma, input_dropconnect_p, noise_implementation, dropout, recurrent_dropout, seed,
        )
        self.output_size = self.units

    @property
    def state_size(self):
        return [self.units, _cells.STEP_COUNTER_SIZE] if self.counts_steps else self.units

    def build(self, input_shape):
        # Keras's shapes: separate input and recurrent biases with reset_after.
        bias_shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        self._add_kernels(input_shape, bias_shape, self.bias_initializer)

    def call(self, inputs, states, training=False, step_noise=None):
        nested = isinstance(states, (list, tuple))
        (h,), counter = self._split_states(states, 1)
        input_bias = recurrent_bias = None
        if self.bias is not None:
            if self.reset_after:
                input_bias, recurrent_bias = self.bias[0], self.bias[1]
            else:
                input_bias = self.bias
        input_mask = DropoutRNNCell.get_dropout_mask(self, inputs) if training else None
        recurrent_mask = DropoutRNNCell.get_recurrent_dropout_mask(self, h) if training else None
        x_in = self._dropped(inputs, input_mask, training)
        h_in = self._dropped(h, recurrent_mask, training)
        draws = self._draws(inputs, counter, training, step_noise)
        x = self._project("input", x_in, self.kernel, draws, 0, 3)
        if input_bias is not None:
            x = x + input_bias
        x_z, x_r, x_h = ops.split(x, 3, axis=-1)
        per_gate = isinstance(h_in, list)
        if self.reset_after:
            inner = self._project("recurrent", h_in, self.recurrent_kernel, draws, 0, 3)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
            u_z, u_r, u_h = ops.split(inner, 3, axis=-1)
        else:
            inner = self._project("recurrent", h_in[:2] if per_gate else h_in, self.recurrent_kernel, draws, 0, 2)
            u_z, u_r = ops.split(inner, 2, axis=-1)
        z = self.recurrent_activation(x_z + u_z)
        r = self.recurrent_activation(x_r + u_r)
        if self.reset_after:
            u_h = r * u_h
        else:
            # The candidate block of the same draw, on the reset state.
            u_h = self._project("recurrent", r * (h_in[2] if per_gate else h_in), self.recurrent_kernel, draws, 2, 3)
        hh = self.activation(x_h + u_h)
        h = z * h + (1 - z) * hh
        return self._finish(h, [h], counter, nested=nested)

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)] + self._counter_state(batch_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
                "use_bias": self.use_bias,
                "reset_after": self.reset_after,
                **weight_args_config(self),
                **_cells.noise_config(self),
            }
        )
        return config


# The noise arguments, documented once for both cells.
for _cell in (NoisyLSTMCell, NoisyGRUCell):
    _cell.__doc__ = _cell.__doc__.replace("{noise}", _NOISE_ARGS_DOC)
