"""Fast dropout through the gates: :class:`FastDropoutLSTMCell`, :class:`FastDropoutGRUCell` and their layers.

The gated counterparts of :class:`~keras_rnnreg.FastDropoutSimpleRNNCell`:
instead of sampling dropout masks, every unit carries a mean and a variance,
propagated through the gates, the candidate, their products and the cell
state. The weights are Keras's (``keras.layers.LSTMCell`` / ``GRUCell``: the
same names, shapes and gate order), so with both rates 0 the means are what
Keras's cells compute and the variances are 0.

The dropout model (fresh masks at every step, no rescaling, as in the simple
fast-dropout RNN): ``d_x ~ Bernoulli(1 - input_rate)`` on ``x_t`` and
``d_h ~ Bernoulli(1 - hidden_rate)`` on ``h_{t-1}``, one mask each for all the
gates, feeding the input and the recurrent projections only (the carried
``h_{t-1}`` of the GRU's update and the LSTM's ``c_{t-1}`` are not dropped).
With ``p = 1 - input_rate``, ``q = 1 - hidden_rate`` and ``(m, v)`` the moments
of ``h_{t-1}``, the pre-activations of all gates are

- ``mu = p x W + b + q m @ U``,
- ``var = p (1 - p) x^2 @ W^2 + (q v + q (1 - q) m^2) @ U^2``,

then (:func:`sigmoid_moments`, :func:`keras_rnnreg.rnn.recurrence.tanh_moments`,
:func:`product_moments`) the moments of ``sigmoid(a) = (1 + tanh(a / 2)) / 2``,
of ``tanh(a)`` and of products ``x y`` of independent factors
(``E = m_x m_y``, ``Var = v_x v_y + v_x m_y^2 + v_y m_x^2``).

Independence assumptions (the approximation, beyond the Gaussian
pre-activations of the simple fast dropout): the units of ``h_{t-1}`` are
independent of each other; the gates, the candidate, ``c_{t-1}`` and
``h_{t-1}`` are treated as independent of each other where they multiply or
add, although they share the dropout masks and all depend on ``h_{t-1}``; a
sum of such terms (``c_t``, the GRU's candidate pre-activation) is then taken
Gaussian for the next ``tanh``. tests/test_fast_dropout_gated.py measures the
result against Monte Carlo estimates of the same dropout network.
"""

import keras
import numpy as np
from keras import ops

from keras_rnnreg.layer_args import weight_args_config
from keras_rnnreg.rnn import recurrence
from keras_rnnreg.rnn.cells import set_fast_dropout_args
from keras_rnnreg.rnn.gated import per_gate_block
from keras_rnnreg.rnn.noisy_simple_rnn import FusedLoopRNN, forward_to_cell


def product_moments(m_x, v_x, m_y, v_y):
    """Mean and variance of ``x y`` for independent ``x`` and ``y`` (exact, any distributions)."""
    return m_x * m_y, v_x * v_y + v_x * ops.square(m_y) + v_y * ops.square(m_x)


def sigmoid_moments(mu, var, variance="zero_corrected"):
    """Approximate mean and variance of ``sigmoid(a)``, ``a ~ N(mu, var)``.

    Through ``sigmoid(a) = (1 + tanh(a / 2)) / 2`` and
    :func:`~keras_rnnreg.rnn.recurrence.tanh_moments` of ``a / 2 ~ N(mu / 2, var / 4)``
    (so ``variance="zero_corrected"`` is exact for ``var = 0`` here too).
    """
    m, v = recurrence.tanh_moments(0.5 * mu, 0.25 * var, variance)
    return 0.5 * (1.0 + m), 0.25 * v


def _dropped_square(m, v, keep):
    """``Var[d h] = q v + q (1 - q) m^2`` for ``d ~ Bernoulli(q)`` independent of ``h ~ (m, v)``."""
    return keep * v + keep * (1.0 - keep) * ops.square(m)


def _split_state(state, units):
    return state[..., :units], state[..., units:]


def _state_list(states):
    return list(states) if isinstance(states, (list, tuple)) else [states]


class _FastDropoutGatedCell(keras.layers.Layer):
    """What the two cells share: arguments, the input moments, the config."""

    gates = 0

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
        set_fast_dropout_args(
            self, units, input_rate, hidden_rate, variance_approximation,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
        )

    def _add_weights(self, input_shape, bias_shape, bias_initializer):
        width = self.gates * self.units
        # The library's initializers act per gate block, as in the noisy gated cells.
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], width),
            initializer=per_gate_block(self.kernel_initializer, self.gates), regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.units, width),
            initializer=per_gate_block(self.recurrent_initializer, self.gates),
            regularizer=self.recurrent_regularizer,
        )
        self.bias = self.add_weight(
            name="bias", shape=bias_shape, initializer=bias_initializer, regularizer=self.bias_regularizer,
        )

    def _input_bias(self):
        return self.bias

    def input_moments(self, inputs):
        """Mean and variance of the input part ``(d_x x) W + b_in`` of all gates (any leading shape)."""
        keep = 1.0 - self.input_rate
        mu = keep * ops.matmul(inputs, self.kernel) + self._input_bias()
        var = keep * (1.0 - keep) * ops.matmul(ops.square(inputs), ops.square(self.kernel))
        return mu, var

    def recurrent_kernels(self):
        """The recurrent matrices :meth:`step` takes, formed once per pass by the layers' fused loop."""
        kernel = ops.convert_to_tensor(self.recurrent_kernel)
        return (1.0 - self.hidden_rate) * kernel, ops.square(kernel)

    def step(self, mu_in, var_in, states, kernels):
        """One step from the input moments of all gates and the previous states: ``(output, states)``."""
        raise NotImplementedError

    def call(self, inputs, states):
        mu_in, var_in = self.input_moments(inputs)
        return self.step(mu_in, var_in, _state_list(states), self.recurrent_kernels())

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
class FastDropoutLSTMCell(_FastDropoutGatedCell):
    """LSTM cell with fast dropout: it carries the means and variances of ``h`` and ``c``.

    The LSTM of ``keras.layers.LSTMCell`` (gate order ``i, f, c, o``, sigmoid
    gates, tanh candidate and output; these activations are fixed) with the
    dropout model and the pre-activation moments of
    :mod:`keras_rnnreg.rnn.fast_dropout_gated`. From the moments of the
    pre-activations, per step:

    - ``i, f, o``: :func:`sigmoid_moments`; the candidate ``g``: ``tanh_moments``;
    - ``c_t = f c_{t-1} + i g``: the two products by :func:`product_moments`,
      their variances added (``f``, ``c_{t-1}``, ``i``, ``g`` independent);
    - ``tanh(c_t)``: ``tanh_moments`` of ``(E c_t, Var c_t)`` (``c_t`` taken Gaussian);
    - ``h_t = o tanh(c_t)``: :func:`product_moments` (``o`` and ``c_t`` independent).

    The weights are Keras's: ``kernel`` ``(input_dim, 4 units)``,
    ``recurrent_kernel`` ``(units, 4 units)``, ``bias`` ``(4 units,)``; with
    both rates 0 the means are what ``LSTMCell`` computes, the variances 0.

    The states are ``[[m_h | v_h], [m_c | v_c]]``, each ``(batch, 2 * units)``,
    and the output is ``[m_h | v_h]`` (one tensor, as
    :class:`~keras_rnnreg.FastDropoutSimpleRNNCell` has it;
    :class:`~keras_rnnreg.FastDropoutDense` takes it as is).

    Args:
        units: hidden units, >= 1.
        input_rate: dropout rate on the inputs ``x_t`` (into ``W``), in [0, 1).
        hidden_rate: dropout rate on ``h_{t-1}`` (into ``U``), in [0, 1).
        variance_approximation: ``"zero_corrected"`` (default; exact when a
            pre-activation is deterministic) or ``"wang_manning"`` (the
            published formula), for every sigmoid and tanh, see
            :func:`keras_rnnreg.rnn.recurrence.tanh_moments`.
        kernel_initializer, recurrent_initializer, bias_initializer: for
            ``W``, ``U`` and the bias, as in Keras's cell (the library's
            initializers per gate block, see :func:`keras_rnnreg.rnn.gated.per_gate_block`).
        unit_forget_bias: add 1 to the forget gate's bias at initialization
            (default ``True``, as ``keras.layers.LSTMCell``).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: e.g.
            ``keras.regularizers.L1L2``.

    Call arguments:
        inputs: ``(batch, features)``, one time step.
        states: ``[[m_h | v_h], [m_c | v_c]]``.

    Example:

    ```python
    cell = FastDropoutLSTMCell(32, input_rate=0.1, hidden_rate=0.2)
    moments = keras.layers.RNN(cell, return_sequences=True)(x)  # (batch, time, 64)
    probs = FastDropoutDense(88, rate=0.5)(moments)
    ```
    """

    gates = 4

    def __init__(
        self,
        units,
        input_rate=0.1,
        hidden_rate=0.2,
        variance_approximation="zero_corrected",
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(
            units, input_rate=input_rate, hidden_rate=hidden_rate, variance_approximation=variance_approximation,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer, **kwargs,
        )
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [2 * self.units, 2 * self.units]
        # Arguments of tanh_moments for all four blocks at once: a / 2 for the
        # sigmoid gates (sigmoid(a) = (1 + tanh(a / 2)) / 2), a for the candidate.
        self._gate_scale = np.repeat(np.array([0.5, 0.5, 1.0, 0.5], "float32"), self.units)

    def build(self, input_shape):
        bias_initializer = self.bias_initializer
        if self.unit_forget_bias:
            # Keras's LSTMCell: the forget block starts at ones.
            def bias_initializer(_, *args, **kwargs):
                return ops.concatenate(
                    [
                        self.bias_initializer((self.units,), *args, **kwargs),
                        keras.initializers.get("ones")((self.units,), *args, **kwargs),
                        self.bias_initializer((self.units * 2,), *args, **kwargs),
                    ]
                )

        self._add_weights(input_shape, (4 * self.units,), bias_initializer)

    def step(self, mu_in, var_in, states, kernels):
        units, keep = self.units, 1.0 - self.hidden_rate
        kernel_mean, kernel_sq = kernels
        m_h, v_h = _split_state(states[0], units)
        m_c, v_c = _split_state(states[1], units)
        mu = mu_in + ops.matmul(m_h, kernel_mean)
        var = var_in + ops.matmul(_dropped_square(m_h, v_h, keep), kernel_sq)
        # One tanh_moments call for the four blocks: sigmoid gates through a / 2.
        scale = ops.cast(self._gate_scale, mu.dtype)
        t_m, t_v = recurrence.tanh_moments(mu * scale, var * (scale * scale), self.variance_approximation)
        g_m = scale * t_m + (1.0 - scale)
        g_v = (scale * scale) * t_v
        i_m, f_m, c_m, o_m = ops.split(g_m, 4, axis=-1)
        i_v, f_v, c_v, o_v = ops.split(g_v, 4, axis=-1)
        fc_m, fc_v = product_moments(f_m, f_v, m_c, v_c)
        ig_m, ig_v = product_moments(i_m, i_v, c_m, c_v)
        m_c, v_c = fc_m + ig_m, fc_v + ig_v
        tc_m, tc_v = recurrence.tanh_moments(m_c, v_c, self.variance_approximation)
        m_h, v_h = product_moments(o_m, o_v, tc_m, tc_v)
        h = ops.concatenate([m_h, v_h], axis=-1)
        return h, [h, ops.concatenate([m_c, v_c], axis=-1)]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, 2 * self.units), dtype=self.compute_dtype) for _ in range(2)]

    def get_config(self):
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class FastDropoutGRUCell(_FastDropoutGatedCell):
    """GRU cell with fast dropout: it carries the mean and variance of ``h``.

    The GRU of ``keras.layers.GRUCell`` (gate order ``z, r, h``, sigmoid
    gates, tanh candidate; fixed) with the dropout model and the
    pre-activation moments of :mod:`keras_rnnreg.rnn.fast_dropout_gated`. With
    ``x = (d_x x_t) W + b_in`` and ``u = (d_h h_{t-1}) U (+ b_rec)``, per step:

    - ``z = sigmoid(x_z + u_z)``, ``r = sigmoid(x_r + u_r)``: :func:`sigmoid_moments`;
    - ``reset_after=True`` (default, Keras's): the candidate pre-activation
      ``x_h + r (u_h + b_rec,h)``, the product by :func:`product_moments`
      (``r`` and ``u_h`` independent); ``reset_after=False``:
      ``x_h + (r d_h h_{t-1}) U_h``, with ``r``, ``d_h``, ``h_{t-1}`` independent;
    - ``hh = tanh(...)``: ``tanh_moments`` (the pre-activation taken Gaussian);
    - ``h_t = z h_{t-1} + (1 - z) hh`` (Keras's convention): with ``z``,
      ``h_{t-1}``, ``hh`` independent, ``E h_t = E z m + (1 - E z) E hh`` and
      ``Var h_t = E[z^2] v + E[(1 - z)^2] Var hh + Var z (m - E hh)^2``
      (exact for independent factors; the same ``h_{t-1}`` also feeds ``z``,
      ``r`` and ``u``, which this ignores).

    The weights are Keras's: ``kernel`` ``(input_dim, 3 units)``,
    ``recurrent_kernel`` ``(units, 3 units)``, ``bias`` ``(2, 3 units)`` (input
    and recurrent biases) with ``reset_after``, else ``(3 units,)``; with both
    rates 0 the means are what ``GRUCell`` computes, the variances 0. The
    state and the output are ``[m_h | v_h]``, ``(batch, 2 * units)``.

    Args:
        units: hidden units, >= 1.
        input_rate: dropout rate on the inputs ``x_t`` (into ``W``), in [0, 1).
        hidden_rate: dropout rate on ``h_{t-1}`` (into ``U``), in [0, 1).
        variance_approximation: ``"zero_corrected"`` (default; exact when a
            pre-activation is deterministic) or ``"wang_manning"`` (the
            published formula), for every sigmoid and tanh, see
            :func:`keras_rnnreg.rnn.recurrence.tanh_moments`.
        kernel_initializer, recurrent_initializer, bias_initializer: for
            ``W``, ``U`` and the bias, as in Keras's cell (the library's
            initializers per gate block, see :func:`keras_rnnreg.rnn.gated.per_gate_block`).
        reset_after: apply the reset gate after the recurrent matmul (default
            ``True``, Keras's default).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: e.g.
            ``keras.regularizers.L1L2``.

    Call arguments:
        inputs: ``(batch, features)``, one time step.
        states: ``[[m_h | v_h]]``.
    """

    gates = 3

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
        reset_after=True,
        **kwargs,
    ):
        super().__init__(
            units, input_rate=input_rate, hidden_rate=hidden_rate, variance_approximation=variance_approximation,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer, **kwargs,
        )
        if not isinstance(reset_after, bool):
            raise ValueError(f"reset_after must be True or False; got {reset_after!r}")
        self.reset_after = reset_after
        self.state_size = 2 * self.units

    def build(self, input_shape):
        # Keras's shapes: separate input and recurrent biases with reset_after.
        bias_shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        self._add_weights(input_shape, bias_shape, self.bias_initializer)

    def _input_bias(self):
        return self.bias[0] if self.reset_after else self.bias

    def recurrent_kernels(self):
        kernel = ops.convert_to_tensor(self.recurrent_kernel)
        keep, kernel_sq = 1.0 - self.hidden_rate, ops.square(kernel)
        if self.reset_after:
            return keep * kernel, kernel_sq, self.bias[1]
        # The candidate block multiplies r d_h h_{t-1}, whose mean already has q.
        split = 2 * self.units
        return keep * kernel[:, :split], kernel_sq[:, :split], kernel[:, split:], kernel_sq[:, split:]

    def step(self, mu_in, var_in, states, kernels):
        units, keep, approximation = self.units, 1.0 - self.hidden_rate, self.variance_approximation
        m_h, v_h = _split_state(states[0], units)
        dropped_sq = _dropped_square(m_h, v_h, keep)
        split = 2 * units
        x_m, xh_m = mu_in[..., :split], mu_in[..., split:]
        x_v, xh_v = var_in[..., :split], var_in[..., split:]
        if self.reset_after:
            kernel_mean, kernel_sq, recurrent_bias = kernels
            u_m = ops.matmul(m_h, kernel_mean) + recurrent_bias
            u_v = ops.matmul(dropped_sq, kernel_sq)
            zr_m, zr_v = sigmoid_moments(x_m + u_m[..., :split], x_v + u_v[..., :split], approximation)
            r_m, r_v = zr_m[..., units:], zr_v[..., units:]
            ru_m, ru_v = product_moments(r_m, r_v, u_m[..., split:], u_v[..., split:])
        else:
            kernel_mean, kernel_sq, kernel_h, kernel_h_sq = kernels
            zr_m, zr_v = sigmoid_moments(
                x_m + ops.matmul(m_h, kernel_mean), x_v + ops.matmul(dropped_sq, kernel_sq), approximation
            )
            r_m, r_v = zr_m[..., units:], zr_v[..., units:]
            # r d_h h with r, d_h ~ Bernoulli(q), h independent: mean q E[r] m,
            # variance q (E[r]^2 (v + (1 - q) m^2) + Var r (v + m^2)) (>= 0 as written).
            rh_m = keep * r_m * m_h
            rh_v = keep * (ops.square(r_m) * (v_h + (1.0 - keep) * ops.square(m_h)) + r_v * (v_h + ops.square(m_h)))
            ru_m, ru_v = ops.matmul(rh_m, kernel_h), ops.matmul(rh_v, kernel_h_sq)
        z_m, z_v = zr_m[..., :units], zr_v[..., :units]
        hh_m, hh_v = recurrence.tanh_moments(xh_m + ru_m, xh_v + ru_v, approximation)
        new_m = z_m * m_h + (1.0 - z_m) * hh_m
        new_v = (
            (ops.square(z_m) + z_v) * v_h
            + (ops.square(1.0 - z_m) + z_v) * hh_v
            + z_v * ops.square(m_h - hh_m)
        )
        h = ops.concatenate([new_m, new_v], axis=-1)
        return h, [h]

    def call(self, inputs, states):
        output, new_states = super().call(inputs, states)
        # A single state comes back as it came (Keras's GRUCell does the same).
        return output, (new_states if isinstance(states, (list, tuple)) else new_states[0])

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, 2 * self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config


class _FastDropoutGatedRNN(FusedLoopRNN):
    """What ``FastDropoutLSTM`` and ``FastDropoutGRU`` share: the moments' layout, the two loops, the config."""

    _cell_args = ()

    def _setup(self, cell, split_moments, fast_path, rnn_args, kwargs):
        super().__init__(cell, **rnn_args, **kwargs)
        self.input_spec = [keras.layers.InputSpec(ndim=3)]
        self.split_moments = bool(split_moments)
        self._init_fast_path(fast_path)

    @property
    def _n_states(self):
        return len(_state_list(self.cell.state_size))

    def call(self, sequences, initial_state=None, mask=None, training=False):
        units = self.cell.units
        if initial_state is not None:
            initial_state = _state_list(initial_state)
            if len(initial_state) == 2 * self._n_states:
                # Means and variances apart: the cell's [mean | variance] states.
                initial_state = [
                    ops.concatenate([initial_state[k], initial_state[k + 1]], axis=-1)
                    for k in range(0, len(initial_state), 2)
                ]
        result = super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        if not self.split_moments:
            return result
        output, states = (result[0], list(result[1:])) if self.return_state else (result, [])
        moments = list(_split_state(output, units))
        if not self.return_state:
            return moments
        return moments + [half for state in states for half in _split_state(state, units)]

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        shape = super().compute_output_shape(sequences_shape, initial_state_shape)
        if not self.split_moments:
            return shape
        output = shape[0] if self.return_state else shape
        half = tuple(output[:-1]) + (self.cell.units,)
        if not self.return_state:
            return [half, half]
        return [half, half] + [(output[0], self.cell.units)] * (2 * self._n_states)

    def compute_mask(self, sequences, mask=None):
        out = super().compute_mask(sequences, mask)
        if not self.split_moments:
            return out
        if self.return_state:
            return [out[0], out[0]] + [None] * (2 * self._n_states)
        return [out, out]

    # -- the two loops ---------------------------------------------------------

    def fused_loop(self, sequences, initial_state, mask, training, draws):
        cell = self.cell
        # The input moments of every step at once, and the recurrent matrices once per pass.
        mu_in, var_in = cell.input_moments(sequences)
        kernels = cell.recurrent_kernels()

        def step(inputs, states):
            return cell.step(inputs[0], inputs[1], list(states), kernels)

        # Keras's own loop (masking, go_backwards, the outputs), over the lean step.
        return self._run_cell_loop(step, (mu_in, var_in), initial_state, mask, sequences.shape[1])

    def cell_loop(self, sequences, initial_state, mask, training, draws):
        def step(inputs, states):
            output, new_states = self.cell(inputs, list(states))
            return output, _state_list(new_states)

        return self._run_cell_loop(step, sequences, initial_state, mask, sequences.shape[1])

    # -- config --------------------------------------------------------------

    def get_config(self):
        cell_config = self.cell.get_config()
        config = {
            "units": self.cell.units,
            **{k: cell_config[k] for k in self._cell_args},
            "split_moments": self.split_moments,
            "fast_path": self.fast_path,
        }
        base_config = super().get_config()
        del base_config["cell"]
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


_WEIGHT_ARGS = (
    "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
)
_COMMON_ARGS = ("input_rate", "hidden_rate", "variance_approximation") + _WEIGHT_ARGS

@keras.saving.register_keras_serializable(package="keras_rnnreg")
class FastDropoutLSTM(_FastDropoutGatedRNN):
    """LSTM layer with fast dropout on its inputs and on its recurrent inputs.

    The layer of :class:`~keras_rnnreg.FastDropoutLSTMCell` (the formulas and
    the independence assumptions are there).
    Its output is ``[means, variances]`` of ``h``, each ``(batch, time, units)``
    (or ``(batch, units)`` without ``return_sequences``), for
    :class:`~keras_rnnreg.FastDropoutDense`; with ``split_moments=False`` one
    tensor ``[means | variances]`` of ``2 * units`` features instead (what
    ``keras.layers.Bidirectional`` and ``Sequential`` models need;
    :class:`~keras_rnnreg.FastDropoutDense` takes it too). It is a
    ``keras.layers.RNN``: masking (a masked step keeps every moment),
    ``initial_state``, ``return_state``, ``go_backwards``, ``stateful``,
    ``Bidirectional`` (with ``split_moments=False``), stacking. It returns the
    whole sequence by default. The computation is deterministic, the same in
    training and inference.

    The fused loop (``fast_path="auto"``, TensorFlow and JAX, ``unroll=False``)
    computes the input moments of all steps in one matmul each (mean and
    variance) and forms the recurrent matrices ``q U`` and ``U^2`` once, then
    runs Keras's own RNN loop over a lean step (the cell's :meth:`step`); the
    cell loop (``fast_path=False``, ``unroll=True``, PyTorch) calls the cell
    at every step. Both give the same outputs and gradients (autodiff through
    Keras's loop; no hand-written backward pass).

    Args:
        units, input_rate, hidden_rate, variance_approximation: as in
            :class:`~keras_rnnreg.FastDropoutLSTMCell`.
        kernel_initializer, recurrent_initializer, bias_initializer: likewise.
        unit_forget_bias: likewise.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: likewise.
        split_moments: ``True`` (default): ``[means, variances]``; ``False``:
            one concatenated tensor.
        return_sequences: as in ``keras.layers.RNN``, but ``True`` by default.
        return_state, go_backwards, stateful, unroll, zero_output_for_mask: as
            in ``keras.layers.RNN``.
        fast_path: ``"auto"`` (default) or ``False`` (always the cell loop).

    Call arguments:
        sequences: ``(batch, time, features)``.
        initial_state: ``[h_mean, h_variance, c_mean, c_variance]``, each
            ``(batch, units)``, or the cell's ``[[h_mean | h_variance], [c_mean | c_variance]]``.
        mask: ``(batch, time)`` booleans.

    With ``return_state`` the output is followed by the last ``h_mean,
    h_variance, c_mean, c_variance`` (or by the cell's two states when
    ``split_moments=False``).

    Example:

    ```python
    means, variances = FastDropoutLSTM(64, input_rate=0.1, hidden_rate=0.2)(x)
    probs = FastDropoutDense(88, rate=0.5)([means, variances])
    ```
    """

    _cell_args = _COMMON_ARGS + ("unit_forget_bias",)

    def __init__(
        self,
        units,
        input_rate=0.1,
        hidden_rate=0.2,
        variance_approximation="zero_corrected",
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
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
        cell = FastDropoutLSTMCell(
            units,
            input_rate=input_rate,
            hidden_rate=hidden_rate,
            variance_approximation=variance_approximation,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            dtype=kwargs.get("dtype", None),
            trainable=kwargs.get("trainable", True),
            name="fast_dropout_lstm_cell",
        )
        rnn_args = dict(
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            stateful=stateful, unroll=unroll, zero_output_for_mask=zero_output_for_mask,
        )
        self._setup(cell, split_moments, fast_path, rnn_args, kwargs)


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class FastDropoutGRU(_FastDropoutGatedRNN):
    """GRU layer with fast dropout on its inputs and on its recurrent inputs.

    The layer of :class:`~keras_rnnreg.FastDropoutGRUCell` (the formulas and
    the independence assumptions are there).
    Its output is ``[means, variances]`` of ``h``, each ``(batch, time, units)``
    (or ``(batch, units)`` without ``return_sequences``), for
    :class:`~keras_rnnreg.FastDropoutDense`; with ``split_moments=False`` one
    tensor ``[means | variances]`` of ``2 * units`` features instead (what
    ``keras.layers.Bidirectional`` and ``Sequential`` models need;
    :class:`~keras_rnnreg.FastDropoutDense` takes it too). It is a
    ``keras.layers.RNN``: masking (a masked step keeps every moment),
    ``initial_state``, ``return_state``, ``go_backwards``, ``stateful``,
    ``Bidirectional`` (with ``split_moments=False``), stacking. It returns the
    whole sequence by default. The computation is deterministic, the same in
    training and inference.

    The fused loop (``fast_path="auto"``, TensorFlow and JAX, ``unroll=False``)
    computes the input moments of all steps in one matmul each (mean and
    variance) and forms the recurrent matrices ``q U`` and ``U^2`` once, then
    runs Keras's own RNN loop over a lean step (the cell's :meth:`step`); the
    cell loop (``fast_path=False``, ``unroll=True``, PyTorch) calls the cell
    at every step. Both give the same outputs and gradients (autodiff through
    Keras's loop; no hand-written backward pass).

    Args:
        units, input_rate, hidden_rate, variance_approximation: as in
            :class:`~keras_rnnreg.FastDropoutGRUCell`.
        kernel_initializer, recurrent_initializer, bias_initializer: likewise.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: likewise.
        reset_after: likewise (default ``True``).
        split_moments: ``True`` (default): ``[means, variances]``; ``False``:
            one concatenated tensor.
        return_sequences: as in ``keras.layers.RNN``, but ``True`` by default.
        return_state, go_backwards, stateful, unroll, zero_output_for_mask: as
            in ``keras.layers.RNN``.
        fast_path: ``"auto"`` (default) or ``False`` (always the cell loop).

    Call arguments:
        sequences: ``(batch, time, features)``.
        initial_state: ``[h_mean, h_variance]``, each ``(batch, units)``, or
            the cell's ``[[h_mean | h_variance]]``.
        mask: ``(batch, time)`` booleans.

    With ``return_state`` the output is followed by the last ``h_mean,
    h_variance`` (or by the cell's state when ``split_moments=False``).

    Example:

    ```python
    means, variances = FastDropoutGRU(64, input_rate=0.1, hidden_rate=0.2)(x)
    probs = FastDropoutDense(88, rate=0.5)([means, variances])
    ```
    """

    _cell_args = _COMMON_ARGS + ("reset_after",)

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
        reset_after=True,
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
        cell = FastDropoutGRUCell(
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
            reset_after=reset_after,
            dtype=kwargs.get("dtype", None),
            trainable=kwargs.get("trainable", True),
            name="fast_dropout_gru_cell",
        )
        rnn_args = dict(
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            stateful=stateful, unroll=unroll, zero_output_for_mask=zero_output_for_mask,
        )
        self._setup(cell, split_moments, fast_path, rnn_args, kwargs)


for _cls in (FastDropoutLSTM, FastDropoutGRU):
    forward_to_cell(_cls, _cls._cell_args + ("units", "kernel", "recurrent_kernel", "bias"))
