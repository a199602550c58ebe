"""Fast tanh recurrences with hand-written backward passes.

The layers compute the input projection for all time steps in one matmul and
hand the time-major pre-activations to the functions here, which run only the
sequential part ``h_t = tanh(pre_t + h_{t-1} U_t [+ noise_t])``.

Each recurrence is a :func:`keras.ops.custom_gradient`: the backward pass is a
single reverse :func:`keras.ops.scan` that carries only ``dL/dh``; the weight
gradients are then formed *outside* the loop as one large contraction
(``sum_t h_{t-1}^T da_t``). This is cheaper than differentiating through the
forward loop (which accumulates a weight gradient at every step) and, unlike
autodiff through ``ops.scan``, it compiles under XLA (``jit_compile=True``).

Every ``ops.scan`` here emits its whole carry as the per-step output: the
TensorFlow backend's ``scan`` requires the outputs to have the carry's
structure, so values needed later (noise scales, moments) ride in the carry.

On the TensorFlow backend the forward and the backward loop of every
recurrence are each compiled with XLA (``tf.function(jit_compile=True)``) even
when the surrounding model runs as a plain graph (Keras's ``jit_compile="auto"``
is off on CPU): XLA fuses each step's element-wise work around its matmul and
removes the graph executor's per-op, per-step overhead. Random numbers are
drawn outside these compiled islands (XLA's CPU random generator is slow), and
the loops need no autodiff, so they compile. Float64 inputs (the gradient
tests) and other backends use the same code uncompiled; set
``recurrence.XLA_LOOPS = False`` to turn the compilation off.

Shapes: ``pre`` is ``(T, B, H)``, ``h0`` is ``(B, H)``, the kernel is ``(H, H)``
(shared by all steps) or ``(T, H, H)`` (one matrix per step).

Masking: every recurrence takes an optional time-major boolean ``mask`` of shape
``(T, B)`` (``True``: the step is used). A masked step keeps the previous state,
``h_t = h_{t-1}``, exactly as ``keras.layers.RNN`` does, and passes its gradient
straight through to ``h_{t-1}``. Without a mask the loops are the unmasked ones.
"""

import functools
import math

import keras
from keras import ops

from keras_rnnreg.rnn.choices import FAST_DROPOUT_VARIANTS  # noqa: F401  (re-exported)

# Added under square roots of sums of squares so their gradient stays finite at 0.
_TINY = 1e-12

LRT_MODES = (None, "additive", "multiplicative")

# Compile the forward/backward loops with XLA on the TensorFlow backend.
XLA_LOOPS = True


def _compiled(fn):
    """``fn`` and, on the TensorFlow backend, an XLA-compiled version of it.

    Returns a callable choosing at call time: the compiled version for float32
    inputs while :data:`XLA_LOOPS` is true, ``fn`` itself otherwise.
    """
    if keras.backend.backend() != "tensorflow":
        return fn
    import tensorflow as tf

    # One trace per input shape (XLA compiles per shape anyway; a generalized
    # trace would give ops.scan an unknown length, which it mishandles).
    jitted = tf.function(fn, jit_compile=True, autograph=False)

    @functools.wraps(fn)
    def call(*args):
        if XLA_LOOPS and all(a is None or not a.dtype.is_floating or a.dtype == tf.float32 for a in args):
            # The gradient is hand-written: keep tapes from recording the call
            # (a recorded call would need autodiff accumulators XLA cannot compile).
            return jitted(*(a if a is None else tf.stop_gradient(a) for a in args))
        return fn(*args)

    return call


def _scan(f, init, xs, reverse=False):
    """``ops.scan`` over a tuple of time-major sequences, also of unknown length.

    The TensorFlow backend's ``scan`` fails when several ``xs`` have an unknown
    static length (it calls a method on ``None``), which is what whole test
    sequences of varying length produce. Scanning over the step index and
    slicing the sequences inside the step avoids that, at no measurable cost.
    """
    if not isinstance(xs, (tuple, list)):
        return ops.scan(f, init, xs, reverse=reverse)
    steps = ops.arange(ops.shape(xs[0])[0])
    return ops.scan(lambda carry, t: f(carry, tuple(x[t] for x in xs)), init, steps, reverse=reverse)


def _tensors(*values):
    """Read variables into tensors: custom gradients must not capture variables."""
    return tuple(ops.copy(v) if isinstance(v, keras.Variable) else ops.convert_to_tensor(v) for v in values)


def _step_mask(mask):
    """A ``(T, B)`` mask as a boolean ``(T, B, 1)`` tensor (broadcasts over units)."""
    mask = ops.convert_to_tensor(mask)
    if mask.dtype != "bool":
        mask = ops.cast(mask, "bool")
    if len(mask.shape) == 2:
        mask = ops.expand_dims(mask, -1)
    return mask


def _keep_masked(m, new, old):
    """``new`` where the step is used, ``old`` (the previous state) where it is masked."""
    return ops.where(m, new, old)


def _previous_states(h0, hs):
    """``h_{t-1}`` for t = 0..T-1, i.e. ``[h0, h_0, ..., h_{T-2}]``."""
    return ops.concatenate([ops.expand_dims(h0, 0), hs[:-1]], axis=0)


def row_dot(a, b):
    """``sum(a * b, axis=-1, keepdims=True)`` for ``(B, H)`` operands, as a dot.

    Inside the compiled loops XLA's CPU backend splits a row reduction across
    the intra-op threads: CPU time for no gain in wall time (per-step additive
    noise: 41.8 instead of 26.8 ms CPU for the recurrence of one batch, T = 100,
    B = 32, H = 200, 2 threads; ``benchmarks.profile_recurrence``,
    results/throughput.md). The same sum as a batched dot runs on one thread.
    """
    return ops.expand_dims(ops.einsum("bi,bi->b", a, b), -1)


def simple_recurrence(pre, kernel, h0, mask=None):
    """``h_t = tanh(pre_t + h_{t-1} @ kernel[_t])`` for all t; returns ``(T, B, H)``.

    ``kernel`` is ``(H, H)`` or ``(T, H, H)`` (per-step matrices, e.g. DropConnect
    masks or exact per-step weight noise shared by the batch). ``mask``: see the
    module docstring.
    """
    pre, kernel, h0 = _tensors(pre, kernel, h0)
    per_step = len(kernel.shape) == 3
    if mask is None:
        return (_per_step_kernel_recurrence if per_step else _shared_kernel_recurrence)(pre, kernel, h0)
    return _masked_simple_fn(per_step)(pre, kernel, h0, _step_mask(mask))


def _shared_forward(pre, kernel, h0):
    def step(h, p):
        h = ops.tanh(p + ops.matmul(h, kernel))
        return h, h

    return ops.scan(step, h0, pre)[1]


def _shared_backward(upstream, kernel, h0, hs):
    kernel_t = ops.transpose(kernel)

    def back(carry, inputs):
        g, h = inputs
        da = (g + carry[0]) * (1.0 - h * h)
        out = (ops.matmul(da, kernel_t), da)
        return out, out

    zeros = ops.zeros_like(h0)
    (dh0, _), (_, das) = _scan(back, (zeros, zeros), (upstream, hs), reverse=True)
    h_prev = _previous_states(h0, hs)
    d_kernel = ops.einsum("tbi,tbj->ij", h_prev, das)
    return das, d_kernel, dh0


_shared_forward_c = _compiled(_shared_forward)
_shared_backward_c = _compiled(_shared_backward)


@ops.custom_gradient
def _shared_kernel_recurrence(pre, kernel, h0):
    hs = _shared_forward_c(pre, kernel, h0)

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        return _shared_backward_c(upstream, kernel, h0, hs)

    return hs, grad


def _per_step_forward(pre, kernels, h0):
    def step(h, inputs):
        p, k = inputs
        h = ops.tanh(p + ops.matmul(h, k))
        return h, h

    return _scan(step, h0, (pre, kernels))[1]


def _per_step_backward(upstream, kernels, h0, hs):
    def back(carry, inputs):
        g, h, k = inputs
        da = (g + carry[0]) * (1.0 - h * h)
        out = (ops.matmul(da, ops.transpose(k)), da)
        return out, out

    zeros = ops.zeros_like(h0)
    (dh0, _), (_, das) = _scan(back, (zeros, zeros), (upstream, hs, kernels), reverse=True)
    h_prev = _previous_states(h0, hs)
    d_kernels = ops.einsum("tbi,tbj->tij", h_prev, das)
    return das, d_kernels, dh0


_per_step_forward_c = _compiled(_per_step_forward)
_per_step_backward_c = _compiled(_per_step_backward)


@ops.custom_gradient
def _per_step_kernel_recurrence(pre, kernels, h0):
    hs = _per_step_forward_c(pre, kernels, h0)

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        return _per_step_backward_c(upstream, kernels, h0, hs)

    return hs, grad


@functools.lru_cache(maxsize=None)
def _masked_simple_fn(per_step):
    """The masked variant of the shared- or per-step-kernel recurrence."""

    def forward(pre, kernel, h0, mask):
        def step(h, inputs):
            p, m = inputs[0], inputs[-1]
            k = inputs[1] if per_step else kernel
            h = _keep_masked(m, ops.tanh(p + ops.matmul(h, k)), h)
            return h, h

        xs = (pre, kernel, mask) if per_step else (pre, mask)
        return _scan(step, h0, xs)[1]

    def backward(upstream, kernel, h0, mask, hs):
        kernel_t = None if per_step else ops.transpose(kernel)

        def back(carry, inputs):
            g, h, m = inputs[0], inputs[1], inputs[-1]
            k_t = ops.transpose(inputs[2]) if per_step else kernel_t
            dh = g + carry[0]
            da = ops.where(m, dh * (1.0 - h * h), 0.0)
            out = (ops.matmul(da, k_t) + ops.where(m, 0.0, dh), da)
            return out, out

        zeros = ops.zeros_like(h0)
        xs = (upstream, hs, kernel, mask) if per_step else (upstream, hs, mask)
        (dh0, _), (_, das) = _scan(back, (zeros, zeros), xs, reverse=True)
        h_prev = _previous_states(h0, hs)
        d_kernel = ops.einsum("tbi,tbj->tij" if per_step else "tbi,tbj->ij", h_prev, das)
        return das, d_kernel, dh0

    forward_c, backward_c = _compiled(forward), _compiled(backward)

    @ops.custom_gradient
    def recurrence(pre, kernel, h0, mask):
        hs = forward_c(pre, kernel, h0, mask)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            das, d_kernel, dh0 = backward_c(upstream, kernel, h0, mask, hs)
            return das, d_kernel, dh0, _no_gradient(mask)

        return hs, grad

    return recurrence


def _no_gradient(x):
    """The gradient returned for a non-differentiable (boolean) input of a custom gradient."""
    return None


def dropconnect_recurrence(pre, kernel, h0, keep_mask, rate, mask=None):
    """Recurrence with per-step DropConnect on ``kernel``, masks applied inside the loop.

    ``keep_mask`` is a boolean ``(T, H, H)`` (one mask per step, shared by the
    batch); step t uses ``W_t = where(keep_mask[t], kernel / (1 - rate), 0)``,
    exactly what :func:`keras_rnnreg.rnn.weight_noise.perturb` samples for
    ``kind="dropconnect"``. The masked matrices are formed per step inside the
    (compiled) loops instead of being materialized as a ``(T, H, H)`` tensor in
    the graph, and ``dL/dkernel = sum_t keep_t * (h_{t-1}^T da_t) / (1 - rate)``.
    ``mask`` (steps, not weights): see the module docstring.
    """
    pre, kernel, h0 = _tensors(pre, kernel, h0)
    keep_mask = ops.convert_to_tensor(keep_mask)
    if mask is None:
        return _dropconnect_fn(float(rate), False)(pre, kernel, h0, keep_mask)
    return _dropconnect_fn(float(rate), True)(pre, kernel, h0, keep_mask, _step_mask(mask))


@functools.lru_cache(maxsize=None)
def _dropconnect_fn(rate, masked):
    scale = 1.0 / (1.0 - rate)

    def forward(pre, kernel, h0, mask, step_mask=None):
        kernel_s = kernel * scale

        def step(h, inputs):
            p, m = inputs[0], inputs[1]
            h_new = ops.tanh(p + ops.matmul(h, ops.where(m, kernel_s, 0.0)))
            h = _keep_masked(inputs[2], h_new, h) if masked else h_new
            return h, h

        return _scan(step, h0, (pre, mask, step_mask) if masked else (pre, mask))[1]

    def backward(upstream, kernel, h0, mask, hs, step_mask=None):
        # A fori_loop, not a scan: the masked weight gradient is summed in the
        # loop, so no (T, H, H) tensor of per-step outer products is formed
        # (64 MiB at H = 400), and das is written into a preallocated buffer.
        kernel_st = ops.transpose(kernel * scale)
        h_prev = _previous_states(h0, hs)
        steps = ops.shape(hs)[0]

        def back(i, carry):
            dh, d_kernel, das = carry
            t = steps - 1 - i
            h, m = hs[t], mask[t]
            total = upstream[t] + dh
            da = total * (1.0 - h * h)
            if masked:
                da = ops.where(step_mask[t], da, 0.0)
            d_kernel = d_kernel + ops.where(m, ops.matmul(ops.transpose(h_prev[t]), da), 0.0)
            das = ops.slice_update(das, (t, 0, 0), ops.expand_dims(da, 0))
            dh_prev = ops.matmul(da, ops.where(ops.transpose(m), kernel_st, 0.0))
            if masked:
                dh_prev = dh_prev + ops.where(step_mask[t], 0.0, total)
            return dh_prev, d_kernel, das

        init = (ops.zeros_like(h0), ops.zeros_like(kernel), ops.zeros_like(hs))
        dh0, d_kernel, das = ops.fori_loop(0, steps, back, init)
        return das, scale * d_kernel, dh0

    forward_c, backward_c = _compiled(forward), _compiled(backward)

    def recurrence(pre, kernel, h0, mask, *step_mask):
        hs = forward_c(pre, kernel, h0, mask, *step_mask)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            das, d_kernel, dh0 = backward_c(upstream, kernel, h0, mask, hs, *step_mask)
            return (das, d_kernel, dh0, _no_gradient(mask)) + tuple(_no_gradient(m) for m in step_mask)

        return hs, grad

    return ops.custom_gradient(recurrence)


def noisy_recurrence(pre, kernel, h0, eps, stddev, mode, mask=None):
    """Recurrence with per-step Gaussian weight noise by local reparameterization.

    Per example and per step, Gaussian noise on the weights of ``h_{t-1} @ W`` is
    equivalent to Gaussian noise on the pre-activation (Kingma et al. 2015):

    - ``mode="additive"`` (``W* = W + Delta``): ``stddev * ||h_{t-1}|| * eps_t``
    - ``mode="multiplicative"`` (``W* = W + W * Delta``):
      ``stddev * sqrt(h_{t-1}^2 @ W^2) * eps_t``

    with ``Delta ~ N(0, stddev^2)`` element-wise and ``eps ~ N(0, 1)`` of shape
    ``(T, B, H)``. The noise is independent across examples and steps, exactly as
    if every example drew its own weight matrix at every step.
    """
    if mode not in ("additive", "multiplicative"):
        raise ValueError(f"mode must be 'additive' or 'multiplicative', got {mode!r}")
    args = _tensors(pre, kernel, h0, eps)
    if mask is None:
        return _lrt_recurrence_fn(mode, float(stddev), False)(*args)
    return _lrt_recurrence_fn(mode, float(stddev), True)(*args, _step_mask(mask))


@functools.lru_cache(maxsize=None)
def _lrt_recurrence_fn(mode, stddev, masked):
    multiplicative = mode == "multiplicative"

    def noise_scale(h, kernel_sq):
        if multiplicative:
            return ops.sqrt(ops.matmul(h * h, kernel_sq) + _TINY)
        return ops.sqrt(row_dot(h, h) + _TINY)

    def forward(pre, kernel, h0, eps, *step_mask):
        kernel_sq = ops.square(kernel) if multiplicative else None

        def step(carry, inputs):
            h, _ = carry
            p, e = inputs[0], inputs[1]
            s = noise_scale(h, kernel_sq)
            h_new = ops.tanh(p + ops.matmul(h, kernel) + stddev * e * s)
            h = _keep_masked(inputs[2], h_new, h) if masked else h_new
            return (h, s), (h, s)

        _, (hs, scales) = _scan(step, (h0, noise_scale(h0, kernel_sq)), (pre, eps) + step_mask)
        return hs, scales

    def backward(upstream, kernel, h0, eps, hs, scales, *step_mask):
        kernel_t = ops.transpose(kernel)
        kernel_sq_t = ops.transpose(ops.square(kernel)) if multiplicative else None
        h_prev = _previous_states(h0, hs)

        def back(carry, inputs):
            dh_future = carry[0]
            g, h, hp, e, s = inputs[:5]
            total = g + dh_future
            da = total * (1.0 - h * h)
            if masked:
                da = ops.where(inputs[5], da, 0.0)
            # r = dL/ds * (1/s): the noise term's sensitivity, reused for dW.
            r = stddev * da * e / s
            if multiplicative:
                dh_prev = ops.matmul(da, kernel_t) + hp * ops.matmul(r, kernel_sq_t)
            else:
                dh_prev = ops.matmul(da, kernel_t) + hp * row_dot(r, ops.ones_like(r))
            if masked:
                dh_prev = dh_prev + ops.where(inputs[5], 0.0, total)
            return (dh_prev, da, r), (dh_prev, da, r)

        zeros = ops.zeros_like(h0)
        (dh0, _, _), (_, das, rs) = _scan(
            back, (zeros, zeros, zeros), (upstream, hs, h_prev, eps, scales) + step_mask, reverse=True
        )
        d_kernel = ops.einsum("tbi,tbj->ij", h_prev, das)
        if multiplicative:
            d_kernel = d_kernel + kernel * ops.einsum("tbi,tbj->ij", h_prev * h_prev, rs)
        return das, d_kernel, dh0

    forward_c, backward_c = _compiled(forward), _compiled(backward)

    def recurrence(pre, kernel, h0, eps, *step_mask):
        hs, scales = forward_c(pre, kernel, h0, eps, *step_mask)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            das, d_kernel, dh0 = backward_c(upstream, kernel, h0, eps, hs, scales, *step_mask)
            return (das, d_kernel, dh0, _no_gradient(eps)) + tuple(_no_gradient(m) for m in step_mask)

        return hs, grad

    return ops.custom_gradient(recurrence)


# Constants of the sigmoid moment approximations (docs/references.md, fast dropout).
_ALPHA = 4.0 - 2.0 * math.sqrt(2.0)
_BETA = -math.log(math.sqrt(2.0) - 1.0)


VARIANCE_APPROXIMATIONS = ("zero_corrected", "wang_manning")


def tanh_moments(mu, var, variance="zero_corrected"):
    """Approximate mean and variance of ``tanh(a)`` for ``a ~ N(mu, var)``.

    Uses ``tanh(a) = 2 sigmoid(2a) - 1`` and the sigmoid approximations of
    Wang & Manning (2013) with ``2a ~ N(2 mu, 4 var)``:
    ``E[tanh a] = tanh(mu / sqrt(1 + pi var / 2))`` and
    ``E[sigmoid(2a)^2] ~ sigmoid(alpha (2 mu - beta) / sqrt(1 + pi alpha^2 var / 2))``.

    ``variance="wang_manning"`` is that formula as published (docs/references.md). It
    rests on ``sigmoid(x)^2 ~ sigmoid(alpha (x - beta))``, which is off by up to
    ~0.01, so it reports a variance of up to ~0.06 even for ``var = 0`` (a
    deterministic input) and feeds it forward. ``"zero_corrected"`` (default)
    subtracts that error at ``var = 0``, i.e. adds
    ``sigmoid(2 mu)^2 - sigmoid(alpha (2 mu - beta))`` to the second moment:
    exact for ``var = 0`` and closer to Monte Carlo elsewhere
    (tests/test_recurrence.py). Variances are clipped at 0.
    """
    mean = ops.tanh(mu / ops.sqrt(1.0 + (math.pi / 2.0) * var))
    second = ops.sigmoid(
        _ALPHA * (2.0 * mu - _BETA) / ops.sqrt(1.0 + (math.pi * _ALPHA**2 / 2.0) * var)
    )
    if variance == "zero_corrected":
        second = second - ops.sigmoid(_ALPHA * (2.0 * mu - _BETA)) + ops.square(ops.sigmoid(2.0 * mu))
    variance = ops.maximum(4.0 * (second - ops.square((mean + 1.0) / 2.0)), 0.0)
    return mean, variance



def authors_sigmoid_moments(mu, var):
    """Mean and variance of ``sigmoid(a)``, ``a ~ N(mu, var)``, as the paper's authors compute them.

    Breze's ``varprop.transfer.sigmoid`` (docs/references.md): the published
    approximations ``sigmoid(mu / sqrt(1 + pi var / 8))`` and
    ``sigmoid(alpha (mu - beta) / sqrt(1 + pi alpha^2 var / 8)) - mean^2``,
    the mean then clipped to ``[1e-7, 1 - 1e-7]``, the variance not clipped.
    """
    mean = ops.sigmoid(mu / ops.sqrt(1.0 + (math.pi / 8.0) * var))
    second = ops.sigmoid(_ALPHA * (mu - _BETA) / ops.sqrt(1.0 + (math.pi * _ALPHA**2 / 8.0) * var))
    return ops.clip(mean, 1e-7, 1.0 - 1e-7), second - ops.square(mean)


def authors_tanh_moments(mu, var):
    """The authors' "tanh" moments: ``2 m - 1, 4 v`` of :func:`authors_sigmoid_moments` of the same ``(mu, var)``.

    That is, the moments of ``2 sigmoid(a) - 1 = tanh(a / 2)``, not of
    ``tanh(a)`` (Breze's ``varprop.transfer.tanh``); kept for the
    ``variant="authors"`` fast-dropout RNN, which reproduces their computation.
    """
    mean, var = authors_sigmoid_moments(mu, var)
    return 2.0 * mean - 1.0, 4.0 * var


def sigmoid_mean(mu, var):
    """Approximate ``E[sigmoid(a)]`` for ``a ~ N(mu, var)``: ``sigmoid(mu / sqrt(1 + pi var / 8))``."""
    return ops.sigmoid(mu / ops.sqrt(1.0 + (math.pi / 8.0) * var))


def fast_dropout_recurrence(mu_in, var_in, kernel, m0, v0, keep, variance="zero_corrected", mask=None):
    """Mean/variance propagation through a tanh RNN with dropout on ``h_{t-1}``.

    Args:
        mu_in, var_in: ``(T, B, H)`` mean and variance of the input part of the
            pre-activation (input projection with its own dropout, plus bias).
        kernel: ``(H, H)`` recurrent matrix ``W``.
        m0, v0: ``(B, H)`` initial hidden mean and variance.
        keep: keep probability ``q`` of the hidden units feeding ``W``.

    Per step, with ``(m, v)`` the previous hidden moments:
    ``mu = mu_in + q m @ W``,
    ``var = var_in + (q v + q (1 - q) m^2) @ W^2``,
    then ``(m, v) = tanh_moments(mu, var, variance)``. Returns ``(means, variances)``.
    A masked step (``mask``, see the module docstring) keeps both moments.
    """
    if variance not in VARIANCE_APPROXIMATIONS:
        raise ValueError(f"variance must be one of {VARIANCE_APPROXIMATIONS}; got {variance!r}")
    args = _tensors(mu_in, var_in, kernel, m0, v0)
    if mask is None:
        return _fast_dropout_fn(float(keep), variance, False)(*args)
    return _fast_dropout_fn(float(keep), variance, True)(*args, _step_mask(mask))


@functools.lru_cache(maxsize=None)
def _fast_dropout_fn(keep, variance, masked):
    corrected = variance == "zero_corrected"
    c1 = math.pi / 2.0
    c2 = math.pi * _ALPHA**2 / 2.0
    drop_var = keep * (1.0 - keep)

    def forward(mu_in, var_in, kernel, m0, v0, *step_mask):
        kernel_sq = ops.square(kernel)

        def step(state, inputs):
            m, v = state[0], state[1]
            mi, vi = inputs[0], inputs[1]
            mu = mi + keep * ops.matmul(m, kernel)
            var = vi + ops.matmul(keep * v + drop_var * m * m, kernel_sq)
            m_new, v_new = tanh_moments(mu, var, variance)
            if masked:
                m_new, v_new = _keep_masked(inputs[2], m_new, m), _keep_masked(inputs[2], v_new, v)
            out = (m_new, v_new, mu, var)
            return out, out

        return _scan(step, (m0, v0, m0, v0), (mu_in, var_in) + step_mask)[1]

    def step_jacobian(ms, vs, mus, vars_):
        """Coefficients of ``(dmu, dvar) = (a dm + b dv, c dm + d dv)`` for all steps.

        The derivatives of one step's moments with respect to its
        pre-activation moments depend only on forward values, so they are
        formed here for all T steps at once (one vectorized pass) instead of
        inside the sequential backward loop. ``dv`` only counts where the
        variance was not clipped at 0, which ``b`` and ``d`` absorb.
        """
        k1 = 1.0 / ops.sqrt(1.0 + c1 * vars_)
        k2 = 1.0 / ops.sqrt(1.0 + c2 * vars_)
        shifted = _ALPHA * (2.0 * mus - _BETA)
        p = ops.sigmoid(shifted * k2)
        # m = tanh(mu k1), v = 4 p - (m + 1)^2: dm/dz1 = 1 - m^2, dv/dm = -2 (m + 1).
        tanh_slope = 1.0 - ms * ms
        dv_dm = -2.0 * (ms + 1.0)
        a = tanh_slope * k1
        c = -0.5 * c1 * mus * k1 * k1 * k1 * tanh_slope
        dp = 4.0 * p * (1.0 - p)
        b = dv_dm * a + 2.0 * _ALPHA * k2 * dp
        d = dv_dm * c - 0.5 * c2 * shifted * k2 * k2 * k2 * dp
        if corrected:
            # d/dmu of 4 (sigmoid(2 mu)^2 - sigmoid(alpha (2 mu - beta))).
            p0 = ops.sigmoid(shifted)
            s0 = ops.sigmoid(2.0 * mus)
            b = b + 4.0 * (4.0 * s0 * s0 * (1.0 - s0) - 2.0 * _ALPHA * p0 * (1.0 - p0))
        unclipped = ops.cast(vs > 0.0, vs.dtype)
        return a, b * unclipped, c, d * unclipped

    def backward(g_m, g_v, kernel, m0, v0, ms, vs, mus, vars_, *step_mask):
        kernel_sq = ops.square(kernel)
        kernel_t = keep * ops.transpose(kernel)
        kernel_sq_t = ops.transpose(kernel_sq)
        m_prev = _previous_states(m0, ms)
        jacobian = step_jacobian(ms, vs, mus, vars_)

        a, b, c, d = jacobian
        steps = ops.shape(ms)[0]

        # A fori_loop writing dmu, dvar into preallocated buffers, not a scan
        # emitting its whole carry: the scan's two unused (T, B, H) outputs and
        # seven per-step input slices made it ~1.5x slower (26 vs 20 ms CPU
        # for T = 100, B = 32, H = 200 under XLA on TensorFlow).
        def back(i, carry):
            dm_future, dv_future, dmus, dvars = carry
            t = steps - 1 - i
            dm = g_m[t] + dm_future
            dv = g_v[t] + dv_future
            dmu = a[t] * dm + b[t] * dv
            dvar = c[t] * dm + d[t] * dv
            if masked:
                m = step_mask[0][t]
                dmu, dvar = ops.where(m, dmu, 0.0), ops.where(m, dvar, 0.0)
            dvar_w = ops.matmul(dvar, kernel_sq_t)
            dm_prev = ops.matmul(dmu, kernel_t) + (2.0 * drop_var) * m_prev[t] * dvar_w
            dv_prev = keep * dvar_w
            if masked:
                dm_prev = dm_prev + ops.where(m, 0.0, dm)
                dv_prev = dv_prev + ops.where(m, 0.0, dv)
            dmus = ops.slice_update(dmus, (t, 0, 0), ops.expand_dims(dmu, 0))
            dvars = ops.slice_update(dvars, (t, 0, 0), ops.expand_dims(dvar, 0))
            return dm_prev, dv_prev, dmus, dvars

        zeros = ops.zeros_like(m0)
        init = (zeros, zeros, ops.zeros_like(ms), ops.zeros_like(ms))
        dm0, dv0, dmus, dvars = ops.fori_loop(0, steps, back, init)
        v_prev = _previous_states(v0, vs)
        d_kernel = keep * ops.einsum("tbi,tbj->ij", m_prev, dmus)
        d_kernel_sq = ops.einsum("tbi,tbj->ij", keep * v_prev + drop_var * m_prev * m_prev, dvars)
        d_kernel = d_kernel + 2.0 * kernel * d_kernel_sq
        return dmus, dvars, d_kernel, dm0, dv0

    forward_c, backward_c = _compiled(forward), _compiled(backward)

    def recurrence(mu_in, var_in, kernel, m0, v0, *step_mask):
        ms, vs, mus, vars_ = forward_c(mu_in, var_in, kernel, m0, v0, *step_mask)

        def grad(*args, upstream=None):
            if upstream is None:
                upstream = args
            if len(upstream) == 1:  # JAX passes the output structure, one (g_m, g_v) tuple
                upstream = upstream[0]
            g_m, g_v = upstream
            g_m = ops.zeros_like(ms) if g_m is None else g_m
            g_v = ops.zeros_like(vs) if g_v is None else g_v
            grads = backward_c(g_m, g_v, kernel, m0, v0, ms, vs, mus, vars_, *step_mask)
            return tuple(grads) + tuple(_no_gradient(m) for m in step_mask)

        return (ms, vs), grad

    return ops.custom_gradient(recurrence)
