"""The RNN cells: one time step each, for ``keras.layers.RNN`` and ``StackedRNNCells``.

:class:`NoisySimpleRNNCell` is ``keras.layers.SimpleRNNCell`` (same arguments,
same weights) with :class:`~keras_rnnreg.rnn.weight_noise.WeightNoise` on its
recurrent and input kernels; :class:`FastDropoutSimpleRNNCell` propagates the mean and variance of
a tanh RNN under dropout. The sequence layers
(:class:`~keras_rnnreg.NoisySimpleRNN`, :class:`~keras_rnnreg.FastDropoutSimpleRNN`)
wrap them and run a fused loop when they can.
"""

import keras
from keras import ops

from keras_rnnreg.layer_args import check_units, set_weight_args, weight_args_config
# DropoutRNNCell (not exported by Keras): keras.layers.RNN calls get_dropout_mask /
# reset_dropout_mask around its loop only on its instances; see keras_rnnreg.private_api.
from keras_rnnreg.private_api import DropoutRNNCell
from keras_rnnreg.rnn import recurrence
from keras_rnnreg.rnn import weight_noise as noise_lib
from keras_rnnreg.rnn.choices import AUTHORS_COMPUTATIONS


def _state(states):
    return states[0] if isinstance(states, (list, tuple)) else states


#: Keras's tanh, under the names ``activation="tanh"`` resolves to: the
#: activation the sequence layers' fused loops compute.
TANH_ACTIVATIONS = (keras.activations.tanh, ops.tanh)

# The step counter a NoisySimpleRNNCell with per-step noise carries in its state
# (see NoisySimpleRNNCell.counts_steps): two base-256 digits [high, low] of the
# index of the next step. States have the layer's float dtype; digits below 256
# are exact integers even in bfloat16 / float16, where a single counter would
# stop advancing after 256 / 2048 steps. 2 digits count 65,536 steps in
# bfloat16, 524,288 in float16, 2^32 in float32.
STEP_COUNTER_SIZE = 2
_COUNTER_BASE = 256


def _step_index(counter):
    """The step index a ``(batch, 2)`` counter state holds, as an int32 scalar.

    Keras's RNN loops keep every state of a masked example unchanged, so the
    rows of the counter fall behind where examples are masked. The largest row
    is the number of steps in which some example was unmasked; every row is
    reset to it plus one after each step (:func:`_next_counter`), so the index
    rises at every step whose result any example uses (a step where all are
    masked repeats an index, but its result is discarded).
    """
    digits = ops.cast(counter, "float32")
    return ops.cast(ops.max(digits[:, 0] * _COUNTER_BASE + digits[:, 1]), "int32")


def _next_counter(index, counter):
    following = index + 1
    digits = ops.stack([following // _COUNTER_BASE, following % _COUNTER_BASE])
    return ops.broadcast_to(ops.cast(digits, counter.dtype)[None, :], ops.shape(counter))


def _pass_seed(generator):
    """A random seed pair for one forward pass, drawn from ``generator`` (before the loop).

    Of the dtype of the generator's own state, the seed dtype of the backend.
    """
    pair = keras.random.randint((2,), 0, 2**31 - 1, seed=generator, dtype="int32")
    return ops.cast(pair, generator.state.dtype)


def _step_seed(pass_seed, index):
    """The seed of step ``index`` of a pass: ``pass_seed + (0, index)``.

    Seeds that differ in any bit give independent streams on every backend
    (TensorFlow scrambles stateless seeds through Philox, JAX keys are
    threefry keys); Keras's own ``SeedGenerator`` relies on that when it hands
    out ``(s, 0), (s, 1), ...``. The pass seed is a random pair, so the steps'
    seeds meet neither another pass's nor a generator's (chance 2^-31).
    """
    offset = ops.stack([ops.zeros_like(index), index])
    return pass_seed + ops.cast(offset, pass_seed.dtype)


def noise_config(cell):
    """The weight-noise, dropout and seed entries of a noisy cell's ``get_config``.

    Shared by :class:`NoisySimpleRNNCell` and the gated cells
    (:mod:`keras_rnnreg.rnn.gated`), whose arguments of these names mean the same.
    """
    config = {
        "recurrent_noise": cell.recurrent_noise,
        "recurrent_noise_scope": cell.recurrent_noise_scope,
        "sigma": cell.sigma,
        "dropconnect_p": cell.dropconnect_p,
        "input_noise": cell.input_noise,
        "input_noise_scope": cell.input_noise_scope,
        "input_sigma": cell.input_sigma,
        "input_dropconnect_p": cell.input_dropconnect_p,
        "noise_implementation": cell.noise_implementation,
        "dropout": cell.dropout,
        "recurrent_dropout": cell.recurrent_dropout,
        "seed": cell.seed,
    }
    # A WeightNoise with its own seed does not fit the flat arguments.
    for key, noise in (("recurrent_noise", cell.recurrent_weight_noise), ("input_noise", cell.input_weight_noise)):
        if noise is not None and (noise.seed is not None or noise.implementation != cell.noise_implementation):
            config[key] = keras.saving.serialize_keras_object(noise)
            prefix = "" if key == "recurrent_noise" else "input_"
            config[f"{prefix}sigma"] = config[f"{prefix}dropconnect_p"] = None
    return config


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class NoisySimpleRNNCell(keras.layers.Layer, DropoutRNNCell):
    """Cell of a simple RNN with weight noise: ``h_t = activation(x_t W*_ih + h_{t-1} W*_hh + b)``.

    ``keras.layers.SimpleRNNCell`` with noisy copies ``W*`` of its kernels
    while training (the clean weights at inference). It takes every argument of
    ``SimpleRNNCell`` (``activation``, ``dropout``, ``recurrent_dropout``,
    initializers, regularizers, constraints, ``seed``) with the same meaning and
    the same weights (``kernel``, ``recurrent_kernel``, ``bias``): without
    noise it computes what ``SimpleRNNCell`` computes, and with the same seed it
    draws the same dropout masks.

    ``dropout`` and ``recurrent_dropout`` are Keras's unit dropout: one mask on
    ``x_t`` and one on ``h_{t-1}`` per sequence, drawn before the loop (the
    ``DropoutRNNCell`` protocol of ``keras.layers.RNN``). They apply before the
    weight noise, and combine with it.

    Per-sequence weight noise is drawn once per forward pass, before the loop,
    and reused at every step. Per-step weight noise is drawn at every step from
    a seed made of a seed drawn once per pass (before the loop) and the step's
    index, which the cell carries in its state: its state is then
    ``[h, step_counter]``, the counter ``(batch, 2)`` (:attr:`counts_steps`).
    That is what makes per-step noise work inside Keras's own loops on every
    backend: JAX's ``lax.scan`` traces the step once and cannot advance a seed
    generator between steps, but the state flows from step to step. Without
    per-step noise the state is ``[h]``, as in ``SimpleRNNCell``. (Inside
    :class:`~keras_rnnreg.NoisySimpleRNN` the layer draws the noise of a whole
    pass itself and the state is always ``[h]``.)

    Args:
        units: number of hidden units, >= 1.
        activation: activation function (default ``"tanh"``; ``None`` for
            none), as in ``keras.layers.SimpleRNNCell``.
        recurrent_noise: noise on ``W_hh``: ``None``, ``"additive"``,
            ``"multiplicative"``, ``"dropconnect"``, or a
            :class:`~keras_rnnreg.WeightNoise`.
        recurrent_noise_scope: ``"step"`` (fresh noise at every time step) or
            ``"sequence"`` (one draw per forward pass, reused at every step).
        sigma: standard deviation of Gaussian ``W_hh`` noise (> 0; required
            for the Gaussian kinds).
        dropconnect_p: probability of dropping a ``W_hh`` weight (in (0, 1);
            required for ``"dropconnect"``).
        input_noise, input_noise_scope, input_sigma, input_dropconnect_p: the
            same for ``W_ih``.
        noise_implementation: for per-step Gaussian noise,
            ``"local_reparameterization"`` (per-example pre-activation noise,
            default) or ``"exact"`` (a matrix per step, shared by the batch).
        use_bias: whether to add ``b``.
        kernel_initializer, recurrent_initializer, bias_initializer: for
            ``W_ih``, ``W_hh`` and ``b`` (e.g. :class:`~keras_rnnreg.SpectralRadius`
            around :class:`~keras_rnnreg.SparseGaussian` for ``W_hh``).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: e.g.
            ``keras.regularizers.L1L2`` (the paper's RNN-NBR).
        kernel_constraint, recurrent_constraint, bias_constraint: as in
            ``keras.layers.SimpleRNNCell``.
        dropout: fraction of the input units to drop, in [0, 1) (Keras's).
        recurrent_dropout: fraction of the recurrent units to drop, in [0, 1).
        seed: int or None; seeds the noise and the dropout masks.

    A noise kind needs its level: a missing or zero level raises ``ValueError``
    (as does a level given for a kind that does not use it).

    Call arguments:
        inputs: ``(batch, features)``, one time step.
        states: ``[h_{t-1}]``, or ``[h_{t-1}, step_counter]`` when
            :attr:`counts_steps` (:meth:`get_initial_state` makes them).
        training: noise and dropout are applied only when true.
        step_noise: optional dict ``{"input": draw, "recurrent": draw}`` of
            this step's noise (one step's slice of
            :meth:`draw_noise`); the sequence layer passes it so that its cell
            loop sees the same draws as its fused loop. Default: drawn here.

    Example:

    ```python
    cell = NoisySimpleRNNCell(32, recurrent_noise="dropconnect", dropconnect_p=0.2, seed=0)
    layer = keras.layers.RNN(cell, return_sequences=True)
    outputs = layer(keras.random.normal((8, 100, 88)), training=True)  # (8, 100, 32)
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
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.activation = keras.activations.get(activation)
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
        self.use_bias = use_bias
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
        # Keras's DropoutRNNCell reads these two (and seed_generator).
        self.dropout = noise_lib.check_rate("dropout", dropout)
        self.recurrent_dropout = noise_lib.check_rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # A WeightNoise with a seed of its own draws from a generator of its own.
        self.input_seed_generator = self._own_generator(self.input_weight_noise)
        self.recurrent_seed_generator = self._own_generator(self.recurrent_weight_noise)
        self.output_size = self.units
        self._sequence_draws = None
        self._pass_seeds = None
        # Set by NoisySimpleRNN, which draws the noise of its passes itself.
        self._noise_drawn_by_layer = False

    @staticmethod
    def _own_generator(noise):
        if noise is None or noise.seed is None:
            return None
        return keras.random.SeedGenerator(noise.seed)

    @property
    def counts_steps(self):
        """Whether the state carries a step counter: per-step noise drawn by the cell itself."""
        per_step = [n for n in (self.input_weight_noise, self.recurrent_weight_noise) if n is not None]
        return not self._noise_drawn_by_layer and any(not n.per_sequence for n in per_step)

    @property
    def state_size(self):
        return [self.units, STEP_COUNTER_SIZE] if self.counts_steps else self.units

    # -- the knobs, as the flat arguments name them ----------------------------

    @property
    def recurrent_noise(self):
        noise = self.recurrent_weight_noise
        return None if noise is None else noise.kind

    @property
    def recurrent_noise_scope(self):
        noise = self.recurrent_weight_noise
        return "step" if noise is None else noise.scope

    @property
    def sigma(self):
        noise = self.recurrent_weight_noise
        return noise.level if noise is not None and noise.kind != "dropconnect" else None

    @property
    def dropconnect_p(self):
        noise = self.recurrent_weight_noise
        return noise.level if noise is not None and noise.kind == "dropconnect" else None

    @property
    def input_noise(self):
        noise = self.input_weight_noise
        return None if noise is None else noise.kind

    @property
    def input_noise_scope(self):
        noise = self.input_weight_noise
        return "step" if noise is None else noise.scope

    @property
    def input_sigma(self):
        noise = self.input_weight_noise
        return noise.level if noise is not None and noise.kind != "dropconnect" else None

    @property
    def input_dropconnect_p(self):
        noise = self.input_weight_noise
        return noise.level if noise is not None and noise.kind == "dropconnect" else None

    @property
    def has_tanh_activation(self):
        """Whether the activation is tanh, the one the fused loops compute."""
        return any(self.activation is f for f in TANH_ACTIVATIONS)

    # -- weights -----------------------------------------------------------

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(self.units, self.units),
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    # -- noise -------------------------------------------------------------

    def _noises(self):
        """``(key, WeightNoise, kernel, seed generator)`` in drawing order (input first)."""
        out = []
        for key, noise, own in (
            ("input", self.input_weight_noise, self.input_seed_generator),
            ("recurrent", self.recurrent_weight_noise, self.recurrent_seed_generator),
        ):
            if noise is not None:
                kernel = self.kernel if key == "input" else self.recurrent_kernel
                out.append((key, noise, ops.convert_to_tensor(kernel), own or self.seed_generator))
        return out

    @property
    def has_noise(self):
        return self.input_weight_noise is not None or self.recurrent_weight_noise is not None

    def draw_noise(self, batch_size, steps):
        """The noise of one forward pass over ``steps`` steps, time-major.

        Returns ``{"input": draw, "recurrent": draw}`` (keys of noisy kernels
        only), each a :meth:`WeightNoise.draw`: one matrix for per-sequence
        noise, ``(steps, batch, units)`` standard normals for local
        reparameterization, ``(steps,) + kernel.shape`` matrices or DropConnect
        masks otherwise.
        """
        return {
            key: noise.draw(kernel, generator, steps=steps, leading_shape=(steps, batch_size))
            for key, noise, kernel, generator in self._noises()
        }

    def _sequence_draw(self, key, noise, kernel, generator):
        # Cached until reset_noise(): keras.layers.RNN fills the cache before
        # its loop (get_dropout_mask) and empties it after.
        if self._sequence_draws is None:
            self._sequence_draws = {}
        if key not in self._sequence_draws:
            self._sequence_draws[key] = noise.draw(kernel, generator)
        return self._sequence_draws[key]

    def _one_step_noise(self, batch_size, counter):
        draws = {}
        index = None if counter is None else _step_index(counter)
        for key, noise, kernel, generator in self._noises():
            if noise.per_sequence:
                draws[key] = self._sequence_draw(key, noise, kernel, generator)
                continue
            seed = generator
            if index is not None:
                # The pass seed drawn before keras.layers.RNN's loop, or (a
                # step called on its own) one drawn now; the counter makes
                # each step's seed its own either way.
                pass_seed = (self._pass_seeds or {}).get(key)
                seed = _step_seed(_pass_seed(generator) if pass_seed is None else pass_seed, index)
            draws[key] = noise.draw(kernel, seed, leading_shape=(batch_size,))
        return draws

    def reset_noise(self):
        """Forget the noise drawn for a pass: the next pass draws anew."""
        self._sequence_draws = None
        self._pass_seeds = None

    # The DropoutRNNCell protocol: keras.layers.RNN calls these around its loop.
    def get_dropout_mask(self, step_input):
        """Keras's input dropout mask; before keras.layers.RNN's loop, also the pass's noise.

        ``keras.layers.RNN`` calls this once before its loop, where every
        backend can advance the seed generator (JAX's ``lax.scan`` cannot):
        the per-sequence noise matrices and the seeds of the per-step noise
        are drawn here, and dropped by :meth:`reset_dropout_mask` after it.
        """
        mask = super().get_dropout_mask(step_input)
        if not self._noise_drawn_by_layer and self._pass_seeds is None:
            self._pass_seeds = {}
            for key, noise, kernel, generator in self._noises():
                if noise.per_sequence:
                    self._sequence_draw(key, noise, kernel, generator)
                else:
                    self._pass_seeds[key] = _pass_seed(generator)
        return mask

    def reset_dropout_mask(self):
        super().reset_dropout_mask()
        self.reset_noise()

    # -- one step ----------------------------------------------------------

    def call(self, inputs, states, training=False, step_noise=None):
        nested = isinstance(states, (list, tuple))
        states = list(states) if nested else [states]
        h, counter = states[0], None
        if self.counts_steps:
            if len(states) != 2:
                raise ValueError(
                    f"NoisySimpleRNNCell with per-step noise has the state [h, step_counter]; got {len(states)} "
                    "state tensor(s). Pass initial_state=cell.get_initial_state(batch_size) with h replaced "
                    "(the counter starts at zeros of shape (batch, 2))"
                )
            counter = states[1]
        # The masks keras.layers.RNN drew before its loop (Keras's own helper, not
        # the override above: a step never draws the pass's noise).
        input_mask = DropoutRNNCell.get_dropout_mask(self, inputs)
        recurrent_mask = DropoutRNNCell.get_recurrent_dropout_mask(self, h)
        if training and input_mask is not None:
            inputs = inputs * input_mask
        h_in = h * recurrent_mask if training and recurrent_mask is not None else h
        draws = {}
        if training and self.has_noise:
            draws = step_noise if step_noise is not None else self._one_step_noise(ops.shape(inputs)[0], counter)
        if "input" in draws:
            x = self.input_weight_noise.matmul(inputs, self.kernel, draws["input"])
        else:
            x = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            x = x + self.bias
        if "recurrent" in draws:
            r = self.recurrent_weight_noise.matmul(h_in, self.recurrent_kernel, draws["recurrent"])
        else:
            r = ops.matmul(h_in, self.recurrent_kernel)
        output = x + r
        if self.activation is not None:
            output = self.activation(output)
        if counter is None:
            return output, ([output] if nested else output)
        return output, [output, _next_counter(_step_index(counter), counter)]

    def get_initial_state(self, batch_size=None):
        state = [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]
        if self.counts_steps:
            state.append(ops.zeros((batch_size, STEP_COUNTER_SIZE), dtype=self.compute_dtype))
        return state

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                **weight_args_config(self),
                **noise_config(self),
            }
        )
        return config


def set_fast_dropout_args(cell, units, input_rate, hidden_rate, variance_approximation, **weight_args):
    """Check and store what every fast-dropout cell takes (``ValueError`` naming a bad value).

    ``units``, the two dropout rates (in [0, 1)), the ``variance_approximation`` of
    :func:`~keras_rnnreg.rnn.recurrence.tanh_moments` and the ``*_initializer`` /
    ``*_regularizer`` arguments (:func:`~keras_rnnreg.layer_args.set_weight_args`); the
    output is ``[means | variances]``, ``2 * units`` wide.
    """
    cell.units = check_units(units)
    cell.input_rate = noise_lib.check_rate("input_rate", input_rate)
    cell.hidden_rate = noise_lib.check_rate("hidden_rate", hidden_rate)
    cell.variance_approximation = noise_lib.check_choice(
        "variance_approximation", variance_approximation, recurrence.VARIANCE_APPROXIMATIONS
    )
    set_weight_args(cell, **weight_args)
    cell.output_size = 2 * cell.units


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class FastDropoutSimpleRNNCell(keras.layers.Layer):
    """Cell of a tanh RNN with fast dropout: it carries the mean and variance of ``h``.

    Instead of sampling dropout masks, the cell propagates the first two
    moments of the hidden units (Wang & Manning 2013; Bayer et al. 2013):
    with keep probabilities ``p = 1 - input_rate``, ``q = 1 - hidden_rate``,

    - ``mu = p x W_ih + b + q m @ W_hh``
    - ``var = p (1 - p) x^2 @ W_ih^2 + (q v + q (1 - q) m^2) @ W_hh^2``
    - ``(m, v) = tanh_moments(mu, var)`` (:func:`keras_rnnreg.rnn.recurrence.tanh_moments`).

    The inputs are data (variance 0). The computation is deterministic and the
    same in training and inference.

    ``variant="authors"`` computes instead what the paper's authors' code does
    (Breze's ``varprop`` RNN, docs/references.md), for reproducing their
    numbers: the recurrent mean is scaled by the dropout *rate*,
    ``mu = p x W_ih + b + hidden_rate * m @ W_hh`` (the variance term keeps
    ``q``); the "tanh" moments are those of ``tanh(a / 2)``
    (:func:`keras_rnnreg.rnn.recurrence.authors_tanh_moments`, published
    formulas, ``variance_approximation`` unused); and the initial state is
    trained: weights ``initial_mean`` (zeros) and ``initial_std`` (1e-8),
    ``v_0 = initial_std^2 + 1e-8``. ``variant="authors_keep_mean"`` is the same
    but for the recurrent mean, scaled by ``q`` as in ours: it takes that one
    difference apart from the others.

    State and output are one tensor, the
    concatenation ``[m | v]``, ``(batch, 2 * units)``: a Keras RNN output is one
    tensor, and Keras's RNN loops take the first state for the previous output
    at masked steps. :class:`~keras_rnnreg.FastDropoutDense` accepts it as is.

    Args:
        units: hidden units, >= 1.
        input_rate: dropout rate on the inputs ``x_t`` (into ``W_ih``), in [0, 1).
        hidden_rate: dropout rate on ``h_{t-1}`` (into ``W_hh``), in [0, 1).
        variance_approximation: ``"zero_corrected"`` (default; exact when the
            pre-activation is deterministic) or ``"wang_manning"`` (the published
            formula).
        kernel_initializer, recurrent_initializer, bias_initializer: as in
            :class:`NoisySimpleRNNCell`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: likewise.
        variant: ``"consistent"`` (default, the mathematically consistent
            moments above), ``"authors"`` (the authors' computation) or
            ``"authors_keep_mean"`` (theirs with the recurrent mean scaled by ``q``).

    Call arguments:
        inputs: ``(batch, features)``, one time step.
        states: ``[[m_{t-1} | v_{t-1}]]``, ``(batch, 2 * units)``.

    Example:

    ```python
    cell = FastDropoutSimpleRNNCell(32, input_rate=0.1, hidden_rate=0.2)
    moments = keras.layers.RNN(cell, return_sequences=True)(x)  # (batch, time, 64)
    probs = FastDropoutDense(88, rate=0.5)(moments)
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.variant = noise_lib.check_choice("variant", variant, recurrence.FAST_DROPOUT_VARIANTS)
        set_fast_dropout_args(
            self, units, input_rate, hidden_rate, variance_approximation,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
        )
        self.state_size = 2 * self.units

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
        self.initial_mean = self.initial_std = None
        if self.variant in AUTHORS_COMPUTATIONS:
            self.initial_mean = self.add_weight(name="initial_mean", shape=(self.units,), initializer="zeros")
            self.initial_std = self.add_weight(
                name="initial_std", shape=(self.units,), initializer=keras.initializers.Constant(1e-8)
            )

    def input_moments(self, inputs):
        """Mean and variance of the input part of the pre-activation (any leading shape)."""
        keep = 1.0 - self.input_rate
        mu = keep * ops.matmul(inputs, self.kernel) + self.bias
        var = keep * (1.0 - keep) * ops.matmul(ops.square(inputs), ops.square(self.kernel))
        return mu, var

    def call(self, inputs, states):
        mv = _state(states)
        m, v = mv[..., : self.units], mv[..., self.units :]
        mu_in, var_in = self.input_moments(inputs)
        keep = 1.0 - self.hidden_rate
        var = var_in + ops.matmul(keep * v + keep * (1.0 - keep) * m * m, ops.square(self.recurrent_kernel))
        if self.variant in AUTHORS_COMPUTATIONS:
            # Their code scales the mean by the rate, not the keep probability.
            scale = self.hidden_rate if self.variant == "authors" else keep
            mu = mu_in + scale * ops.matmul(m, self.recurrent_kernel)
            m, v = recurrence.authors_tanh_moments(mu, var)
        else:
            mu = mu_in + keep * ops.matmul(m, self.recurrent_kernel)
            m, v = recurrence.tanh_moments(mu, var, self.variance_approximation)
        mv = ops.concatenate([m, v], axis=-1)
        return mv, [mv]

    def get_initial_state(self, batch_size=None):
        if self.variant in AUTHORS_COMPUTATIONS:
            mv = ops.concatenate([self.initial_mean, ops.square(self.initial_std) + 1e-8], axis=0)
            return [ops.broadcast_to(ops.cast(mv, self.compute_dtype)[None, :], (batch_size, self.state_size))]
        return [ops.zeros((batch_size, self.state_size), dtype=self.compute_dtype)]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "input_rate": self.input_rate,
                "hidden_rate": self.hidden_rate,
                "variance_approximation": self.variance_approximation,
                "variant": self.variant,
                **weight_args_config(self),
            }
        )
        return config
