"""``NoisyLSTM`` and ``NoisyGRU``: the sequence layers of :class:`~keras_rnnreg.NoisyLSTMCell` / ``NoisyGRUCell``.

Both are :class:`~keras_rnnreg.rnn.noisy_simple_rnn.FusedLoopRNN` subclasses,
as :class:`~keras_rnnreg.NoisySimpleRNN` is: the layer draws the noise of a
whole pass before the loop (:meth:`NoisyLSTMCell.draw_noise`), then runs
either its fused loop or the cell, step by step, in Keras's RNN loop, with the
same draws and the same dropout mask, so both give the same outputs and
gradients.

The fused loop: the input projection ``x_t W*_ih (+ b)`` of every step is one
matmul (per-step input noise drawn for all steps first, per-sequence input
noise applied to ``W_ih`` once); the recurrent kernel is perturbed once per
pass for per-sequence noise, and per-step noise is drawn for all steps before
the loop. Unmasked, with ``tanh`` / ``sigmoid`` (the defaults) and, for the
GRU, ``reset_after=True``, the recurrence is one of the hand-written loops of
:mod:`keras_rnnreg.rnn.gated_recurrence` (custom backward pass, weight
gradients as one contraction over all steps, XLA-compiled on TensorFlow).
Otherwise it is Keras's backend RNN loop (``tf.while_loop`` / ``lax.scan``,
which also does masking and ``go_backwards``) over a lean step: one
recurrent matmul and the gates, no cell call, no per-step input matmul, with
the backend's autodiff through it (not XLA-compiled on its own on TensorFlow:
autodiff through a compiled while loop is not supported there).
"""

import keras
from keras import ops

from keras_rnnreg.rnn import cudnn, gated_recurrence
from keras_rnnreg.rnn.gated import NoisyGRUCell, NoisyLSTMCell, _slice_draw
from keras_rnnreg.rnn.noisy_simple_rnn import FusedLoopRNN, NoisySimpleRNN, forward_to_cell

#: ``fast_path`` values: ``"auto"`` / ``True`` (the fused loop where it applies) or ``False``.
FAST_PATH_CHOICES = ("auto", True, False)

# Arguments of both cells, in the order of the layers' signatures.
_NOISE_ARGS = (
    "recurrent_noise", "recurrent_noise_scope", "sigma", "dropconnect_p",
    "input_noise", "input_noise_scope", "input_sigma", "input_dropconnect_p", "noise_implementation",
)
_WEIGHT_ARGS = (
    "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
    "kernel_constraint", "recurrent_constraint", "bias_constraint",
)
_LSTM_CELL_ARGS = (
    ("activation", "recurrent_activation", "use_bias", "unit_forget_bias")
    + _WEIGHT_ARGS + ("dropout", "recurrent_dropout", "seed") + _NOISE_ARGS
)
_GRU_CELL_ARGS = (
    ("activation", "recurrent_activation", "use_bias", "reset_after")
    + _WEIGHT_ARGS + ("dropout", "recurrent_dropout", "seed") + _NOISE_ARGS
)


class _NoisyGatedRNN(FusedLoopRNN):
    """What ``NoisyLSTM`` and ``NoisyGRU`` share: construction, the two loops, the config."""

    _cell_args = ()

    def _setup(self, cell, fast_path, kwargs, rnn_args):
        # The layer draws the noise of its passes itself (draw_noise), so the
        # cell's state has no step counter; set before keras.layers.RNN reads
        # the cell's state_size.
        cell._noise_drawn_by_layer = True
        super().__init__(cell, **rnn_args, **kwargs)
        self.input_spec = [keras.layers.InputSpec(ndim=3)]
        self._init_fast_path(fast_path)

    def _init_fast_path(self, fast_path):
        if not (fast_path is True or fast_path is False or fast_path == "auto"):
            raise ValueError(f"fast_path must be one of {FAST_PATH_CHOICES}; got {fast_path!r}")
        # True and "auto" mean the same: the fused loop wherever it applies.
        self.fast_path = "auto" if fast_path is True else fast_path

    def uses_fast_path(self):
        """Whether a call takes the fused loop (see the class docstring)."""
        # Keras's per-gate recurrent dropout masks are the cell's business.
        return self.cell.recurrent_dropout == 0 and super().uses_fast_path()

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    # -- the two loops (the cell loop and the draws are NoisySimpleRNN's) -----

    draw_noise = NoisySimpleRNN.draw_noise
    cell_loop = NoisySimpleRNN.cell_loop

    def fused_loop(self, sequences, initial_state, mask, training, draws):
        cell = self.cell
        if training and cell.dropout > 0:
            # Keras's input dropout: the one mask keras.layers.RNN drew for this
            # pass (recurrent_dropout is 0 here, so not one mask per gate).
            sequences = sequences * ops.expand_dims(cell.get_dropout_mask(sequences[:, 0]), 1)
        if mask is None and self._cudnn_applies(draws):
            return self._cudnn_loop(sequences, initial_state, draws)
        # The input projection of every step at once, batch-major (B, T, G units).
        draw = draws.get("input")
        if draw is None:
            pre = ops.matmul(sequences, cell.kernel)
        else:
            if "eps" in draw:
                draw = {"eps": ops.swapaxes(draw["eps"], 0, 1)}
            pre = cell.input_weight_noise.matmul(sequences, cell.kernel, draw, time_axis=1)
        pre = self._add_input_bias(pre)

        kernel = ops.convert_to_tensor(cell.recurrent_kernel)
        noise, draw = cell.recurrent_weight_noise, draws.get("recurrent")
        names, per_step = (), ()
        if draw is not None and noise.per_sequence:
            # One W*_hh for the whole pass: the loop is the plain one.
            kernel, draw = noise.noisy_kernels(kernel, draw), None
        if mask is None and self._hand_written_loop():
            # W*_hh is one matrix, one per step (DropConnect, exact noise), or one
            # with per-step pre-activation noise (local reparameterization).
            if draw is None:
                return self._hand_written(pre, kernel, initial_state)
            if "eps" in draw:
                return self._hand_written(pre, kernel, initial_state, draw["eps"], noise.level, noise.kind)
            if keras.backend.backend() == "tensorflow":
                # On JAX the (T, H, G) matrices and their gradient measured slower
                # than masking inside Keras's loop (benchmarks/profile_gated.py).
                return self._hand_written(pre, noise.noisy_kernels(kernel, draw), initial_state)
        if draw is not None:
            # Keras's loop slices its inputs along axis 1: put the step axis there.
            names = tuple(sorted(draw))
            per_step = tuple(ops.swapaxes(draw[name], 0, 1) for name in names)

        def recurrent(h_in, step_draw, start, stop):
            """``h_in @ W*_hh[:, blocks start..stop)``, as the cell's ``_project`` computes it."""
            lo, hi = start * cell.units, stop * cell.units
            whole = lo == 0 and hi == kernel.shape[-1]
            columns = kernel if whole else kernel[:, lo:hi]
            if step_draw is None:
                return ops.matmul(h_in, columns)
            return noise.matmul(h_in, columns, step_draw if whole else _slice_draw(step_draw, lo, hi))

        def step(inputs, states):
            step_draw = dict(zip(names, inputs[1:])) if names else None
            new = self._gates(tuple(states), inputs[0], lambda h_in, a, b: recurrent(h_in, step_draw, a, b))
            return new[0], list(new)

        # Keras's own loop (masking, go_backwards, the outputs), over the lean step.
        return self._run_cell_loop(step, (pre, *per_step), initial_state, mask, sequences.shape[1])

    def _cudnn_applies(self, draws):
        """Whether cuDNN's fused kernel (:mod:`keras_rnnreg.rnn.cudnn`) computes this unmasked pass."""
        return False

    def _cudnn_loop(self, sequences, initial_state, draws):
        raise NotImplementedError

    def _hand_written_loop(self):
        """Whether the loops of :mod:`keras_rnnreg.rnn.gated_recurrence` compute this layer's step."""
        cell = self.cell
        return cell.activation is keras.activations.tanh and cell.recurrent_activation is keras.activations.sigmoid

    def _hand_written(self, pre, kernels, initial_state, eps=None, stddev=0.0, mode=None):
        """The unmasked fused loop as one call of :mod:`~keras_rnnreg.rnn.gated_recurrence`."""
        pre, _ = self._time_major(pre, None)
        if self.go_backwards:
            # Keras's loop reverses the per-step draws with the inputs.
            if len(kernels.shape) == 3:
                kernels = ops.flip(kernels, 0)
            if eps is not None:
                eps = ops.flip(eps, 0)
        lrt = {} if eps is None else {"eps": eps, "stddev": stddev, "mode": mode}
        states = self._recurrence(pre, kernels, list(initial_state), lrt)
        last, outputs = self._outputs(states[0], None)
        return last, outputs, [s[-1] for s in states]

    def _recurrence(self, pre, kernels, initial_state, lrt):
        """The time-major states ``(hs, ...)`` of every step (``lrt``: per-step noise arguments)."""
        raise NotImplementedError

    def _add_input_bias(self, pre):
        """``pre`` plus the bias the cell adds to the input projection (per layer)."""
        raise NotImplementedError

    def _gates(self, states, pre_t, recurrent):
        """One step's new states from ``pre_t`` and ``recurrent(h_in, first_block, stop_block)``."""
        raise NotImplementedError

    # -- config ------------------------------------------------------------

    def get_config(self):
        cell_config = self.cell.get_config()
        config = {"units": self.cell.units, **{k: cell_config[k] for k in self._cell_args}, "fast_path": self.fast_path}
        base_config = super().get_config()
        del base_config["cell"]
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


_PATHS_DOC = """
    Which loop runs: the fused loop (``fast_path="auto"`` or ``True``, the
    default, on TensorFlow and JAX, ``unroll=False`` and
    ``recurrent_dropout == 0``) with every noise kind and scope, masks,
    ``go_backwards``, ``dropout`` (applied to the inputs before the one input
    matmul) and any ``activation`` / ``recurrent_activation`` (the loop calls
    the cell's). The cell runs step by step in Keras's RNN loop instead with
    ``recurrent_dropout > 0`` (Keras's per-gate masks), ``unroll=True``,
    ``fast_path=False`` or on the PyTorch backend. Both use the same noise
    draws and dropout mask, hence the same outputs and gradients. Per pass
    and path:

    - no noise, or per-sequence noise: ``W*_ih`` / ``W*_hh`` drawn once, one
      input matmul over all steps, then a plain gated loop with ``W*_hh``.
    - per-step noise on ``W_ih``: the draws of all steps (local
      reparameterization ``eps``, DropConnect masks or exact matrices), then
      one batched input projection.
    - per-step noise on ``W_hh``: the draws of all steps before the loop
      (the pre-activation noise of local reparameterization, or the masked /
      perturbed matrix of every step), each step's applied inside it.

    The gated loop itself: without a mask, with ``tanh`` / ``sigmoid``
    activations (the defaults) and, for ``NoisyGRU``, ``reset_after=True``
    (the default), a hand-written loop with its own backward pass
    (:mod:`keras_rnnreg.rnn.gated_recurrence`; XLA-compiled on TensorFlow),
    for every noise kind and scope except, on JAX, per-step DropConnect and
    exact per-step noise on ``W_hh``; with those, a mask, other activations
    or ``reset_after=False``, Keras's backend loop over a lean step, with the
    backend's autodiff.

    cuDNN: on the JAX backend with a GPU, an unmasked ``NoisyLSTM`` pass with
    no noise or per-sequence noise (one ``W*_ih`` and one ``W*_hh`` for all
    steps), ``tanh`` / ``sigmoid`` and float32 hands the perturbed matrices to
    cuDNN's fused LSTM (:mod:`keras_rnnreg.rnn.cudnn`, the kernel
    ``keras.layers.LSTM`` uses there). Everything else, and ``NoisyGRU``
    (JAX has no cuDNN GRU), runs the fused loop as on a CPU; so does every
    pass on TensorFlow (its cuDNN kernels are reached only through Keras's
    private API)."""


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class NoisyLSTM(_NoisyGatedRNN):
    """Long short-term memory layer with weight noise on ``W_ih`` and ``W_hh``.

    The layer of :class:`~keras_rnnreg.NoisyLSTMCell`, as
    ``keras.layers.LSTM`` is the layer of ``LSTMCell``: it takes every
    argument of the cell and of ``keras.layers.RNN`` and supports masking,
    ``initial_state`` (``[h, c]``), ``return_state`` (``output, h, c``),
    ``go_backwards``, ``stateful``, ``unroll``,
    ``keras.layers.Bidirectional`` and stacking. With every noise option off
    it computes what ``keras.layers.LSTM`` computes with the same weights
    (and, with the same ``seed``, draws the same dropout masks). Unlike
    ``LSTM`` (and like :class:`~keras_rnnreg.NoisySimpleRNN`) it returns the
    whole sequence by default.
    {paths}

    Args:
        units: number of hidden units, >= 1.
        activation, recurrent_activation, use_bias, unit_forget_bias: as in
            :class:`~keras_rnnreg.NoisyLSTMCell` (and ``keras.layers.LSTM``).
        kernel_initializer, recurrent_initializer, bias_initializer: likewise.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: likewise.
        kernel_constraint, recurrent_constraint, bias_constraint: likewise.
        dropout, recurrent_dropout, seed: likewise.
        recurrent_noise, recurrent_noise_scope, sigma, dropconnect_p: the
            noise on ``W_hh``, as in the cell.
        input_noise, input_noise_scope, input_sigma, input_dropconnect_p: the
            noise on ``W_ih``, likewise.
        noise_implementation: ``"local_reparameterization"`` or ``"exact"``.
        return_sequences: return all hidden states ``(B, T, units)``
            (default ``True``, unlike ``keras.layers.LSTM``) or the last.
        return_state, go_backwards, stateful, unroll, zero_output_for_mask: as
            in ``keras.layers.RNN``.
        fast_path: ``"auto"`` (default) or ``True``: the fused loop where it
            applies; ``False``: always the cell loop.

    Call arguments:
        sequences: ``(batch, time, features)``.
        initial_state: ``[h, c]``, each ``(batch, units)``.
        mask: ``(batch, time)`` booleans; a masked step keeps ``h`` and ``c``.
        training: noise and dropout are applied only when true.

    Example:

    ```python
    layer = NoisyLSTM(64, recurrent_noise="dropconnect", dropconnect_p=0.3,
                      recurrent_noise_scope="sequence", seed=0)
    hidden = layer(keras.random.normal((8, 100, 88)), training=True)  # (8, 100, 64)
    ```
    """

    _cell_args = _LSTM_CELL_ARGS

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
        return_sequences=True,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        fast_path="auto",
        **kwargs,
    ):
        cell = NoisyLSTMCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            recurrent_noise=recurrent_noise,
            recurrent_noise_scope=recurrent_noise_scope,
            sigma=sigma,
            dropconnect_p=dropconnect_p,
            input_noise=input_noise,
            input_noise_scope=input_noise_scope,
            input_sigma=input_sigma,
            input_dropconnect_p=input_dropconnect_p,
            noise_implementation=noise_implementation,
            dtype=kwargs.get("dtype", None),
            trainable=kwargs.get("trainable", True),
            name="noisy_lstm_cell",
        )
        rnn_args = dict(
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            stateful=stateful, unroll=unroll, zero_output_for_mask=zero_output_for_mask,
        )
        self._setup(cell, fast_path, kwargs, rnn_args)

    def _add_input_bias(self, pre):
        return pre if self.cell.bias is None else pre + self.cell.bias

    def _recurrence(self, pre, kernels, initial_state, lrt):
        return gated_recurrence.lstm_recurrence(pre, kernels, *initial_state, **lrt)

    def _cudnn_applies(self, draws):
        # Per-sequence draws are one matrix ({"kernel": W*}); per-step ones are not.
        one_matrix = all(d is None or "kernel" in d for d in (draws.get("input"), draws.get("recurrent")))
        return (one_matrix and self._hand_written_loop() and self.compute_dtype == "float32"
                and cudnn.available())

    def _cudnn_loop(self, sequences, initial_state, draws):
        cell = self.cell
        kernels = []
        for weights, noise, draw in ((cell.kernel, cell.input_weight_noise, draws.get("input")),
                                     (cell.recurrent_kernel, cell.recurrent_weight_noise, draws.get("recurrent"))):
            weights = ops.convert_to_tensor(weights)
            kernels.append(weights if draw is None else noise.noisy_kernels(weights, draw))
        bias = ops.zeros((4 * cell.units,), "float32") if cell.bias is None else ops.convert_to_tensor(cell.bias)
        x = ops.flip(sequences, 1) if self.go_backwards else sequences  # outputs in processing order, as Keras's
        ys, h, c = cudnn.lstm(x, initial_state[0], initial_state[1], *kernels, bias)
        last = ys[:, -1]
        return last, ys if self.return_sequences else ops.expand_dims(last, 1), [h, c]

    def _gates(self, states, pre_t, recurrent):
        cell = self.cell
        h, c = states
        z = pre_t + recurrent(h, 0, 4)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = cell.recurrent_activation(z_i)
        f = cell.recurrent_activation(z_f)
        c = f * c + i * cell.activation(z_c)
        o = cell.recurrent_activation(z_o)
        return o * cell.activation(c), c


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class NoisyGRU(_NoisyGatedRNN):
    """Gated recurrent unit layer with weight noise on ``W_ih`` and ``W_hh``.

    The layer of :class:`~keras_rnnreg.NoisyGRUCell`, as ``keras.layers.GRU``
    is the layer of ``GRUCell`` (``reset_after=True`` by default, Keras's
    weights and gate order): every argument of the cell and of
    ``keras.layers.RNN``, masking, ``initial_state`` (``[h]``),
    ``return_state`` (``output, h``), ``go_backwards``, ``stateful``,
    ``unroll``, ``keras.layers.Bidirectional`` and stacking. With every noise
    option off it computes what ``keras.layers.GRU`` computes with the same
    weights. It returns the whole sequence by default.
    {paths}

    Without ``reset_after`` the candidate block of ``W*_hh`` multiplies
    ``r * h_{t-1}`` inside the loop, with its columns of the step's one draw
    (as in the cell).

    Args:
        units: number of hidden units, >= 1.
        activation, recurrent_activation, use_bias, reset_after: as in
            :class:`~keras_rnnreg.NoisyGRUCell` (and ``keras.layers.GRU``).
        kernel_initializer, recurrent_initializer, bias_initializer: likewise.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: likewise.
        kernel_constraint, recurrent_constraint, bias_constraint: likewise.
        dropout, recurrent_dropout, seed: likewise.
        recurrent_noise, recurrent_noise_scope, sigma, dropconnect_p: the
            noise on ``W_hh``, as in the cell.
        input_noise, input_noise_scope, input_sigma, input_dropconnect_p: the
            noise on ``W_ih``, likewise.
        noise_implementation: ``"local_reparameterization"`` or ``"exact"``.
        return_sequences: all hidden states (default ``True``) or the last.
        return_state, go_backwards, stateful, unroll, zero_output_for_mask: as
            in ``keras.layers.RNN``.
        fast_path: ``"auto"`` (default) or ``True``: the fused loop where it
            applies; ``False``: always the cell loop.

    Call arguments:
        sequences: ``(batch, time, features)``.
        initial_state: ``[h]``, ``(batch, units)``.
        mask: ``(batch, time)`` booleans; a masked step keeps ``h``.
        training: noise and dropout are applied only when true.

    Example:

    ```python
    layer = NoisyGRU(64, recurrent_noise="additive", sigma=0.05, seed=0)
    both = keras.layers.Bidirectional(NoisyGRU(32, input_noise="dropconnect",
                                               input_dropconnect_p=0.2))
    ```
    """

    _cell_args = _GRU_CELL_ARGS

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
        return_sequences=True,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        fast_path="auto",
        **kwargs,
    ):
        cell = NoisyGRUCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
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
            reset_after=reset_after,
            seed=seed,
            recurrent_noise=recurrent_noise,
            recurrent_noise_scope=recurrent_noise_scope,
            sigma=sigma,
            dropconnect_p=dropconnect_p,
            input_noise=input_noise,
            input_noise_scope=input_noise_scope,
            input_sigma=input_sigma,
            input_dropconnect_p=input_dropconnect_p,
            noise_implementation=noise_implementation,
            dtype=kwargs.get("dtype", None),
            trainable=kwargs.get("trainable", True),
            name="noisy_gru_cell",
        )
        rnn_args = dict(
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            stateful=stateful, unroll=unroll, zero_output_for_mask=zero_output_for_mask,
        )
        self._setup(cell, fast_path, kwargs, rnn_args)

    def _add_input_bias(self, pre):
        bias = self.cell.bias
        if bias is None:
            return pre
        # Keras's layout: with reset_after, row 0 is the input bias, row 1 the recurrent one.
        return pre + (bias[0] if self.cell.reset_after else bias)

    def _hand_written_loop(self):
        return self.cell.reset_after and super()._hand_written_loop()

    def _recurrence(self, pre, kernels, initial_state, lrt):
        bias = self.cell.bias
        recurrent_bias = ops.zeros((3 * self.cell.units,), pre.dtype) if bias is None else bias[1]
        return (gated_recurrence.gru_recurrence(pre, kernels, recurrent_bias, *initial_state, **lrt),)

    def _gates(self, states, pre_t, recurrent):
        cell = self.cell
        (h,) = states
        x_z, x_r, x_h = ops.split(pre_t, 3, axis=-1)
        if cell.reset_after:
            inner = recurrent(h, 0, 3)
            if cell.bias is not None:
                inner = inner + cell.bias[1]
            u_z, u_r, u_h = ops.split(inner, 3, axis=-1)
        else:
            u_z, u_r = ops.split(recurrent(h, 0, 2), 2, axis=-1)
        z = cell.recurrent_activation(x_z + u_z)
        r = cell.recurrent_activation(x_r + u_r)
        u_h = r * u_h if cell.reset_after else recurrent(r * h, 2, 3)
        hh = cell.activation(x_h + u_h)
        return (z * h + (1 - z) * hh,)


for _layer in (NoisyLSTM, NoisyGRU):
    _layer.__doc__ = _layer.__doc__.replace("{paths}", _PATHS_DOC)
    forward_to_cell(
        _layer,
        _layer._cell_args
        + ("units", "kernel", "recurrent_kernel", "bias", "recurrent_weight_noise", "input_weight_noise"),
    )
