"""LSTM and GRU recurrences with hand-written backward passes (the gated fused loops' fast core).

The counterpart of :mod:`keras_rnnreg.rnn.recurrence` for the gated layers:
the layer computes the input projection of every step in one matmul and hands
the time-major pre-activations here; these functions run only the sequential
part, with ``tanh`` / ``sigmoid`` gates (Keras's defaults):

- LSTM: ``z = pre_t + h_{t-1} U_t``, ``i, f, o = sigmoid(z_i, z_f, z_o)``,
  ``c_t = f c_{t-1} + i tanh(z_c)``, ``h_t = o tanh(c_t)``;
- GRU (``reset_after=True``): ``u = h_{t-1} U_t + b_hh``,
  ``z, r = sigmoid(x_z + u_z, x_r + u_r)``, ``hh = tanh(x_h + r u_h)``,
  ``h_t = z h_{t-1} + (1 - z) hh``.

Each is a :func:`keras.ops.custom_gradient`: the forward scan keeps the gate
activations of every step, the backward pass is one reverse scan carrying only
``dL/dh`` (and ``dL/dc``), and the weight gradients are formed after it as one
contraction over all steps (``sum_t h_{t-1}^T dz_t``) instead of a small
matmul and an accumulator per step. On TensorFlow both loops are
XLA-compiled, as in :mod:`keras_rnnreg.rnn.recurrence` (same switch,
``recurrence.XLA_LOOPS``). The recurrent kernel is ``(H, G)`` (shared by all
steps: no noise, per-sequence noise) or ``(T, H, G)`` (one matrix per step:
per-step DropConnect or exact per-step noise); per-step Gaussian noise by
local reparameterization adds ``stddev * s(h_{t-1}) * eps_t`` to
``h_{t-1} U`` (``s`` as in :func:`keras_rnnreg.rnn.recurrence.noisy_recurrence`).
No mask: masked batches take the layers' Keras loop.
"""

import functools

from keras import ops

from keras_rnnreg.rnn.recurrence import _TINY, _compiled, _no_gradient, _previous_states, _scan, _tensors, row_dot

LRT_MODES = (None, "additive", "multiplicative")


class _Recurrent:
    """``h_{t-1} U (+ stddev * s(h_{t-1}) * eps_t)`` and its backward pass, for one LRT mode.

    Per-step Gaussian noise by local reparameterization (see
    :func:`keras_rnnreg.rnn.recurrence.noisy_recurrence`): ``s`` is
    ``||h||`` (additive) or ``sqrt(h^2 @ U^2)`` (multiplicative); no mode, no
    noise term.
    """

    def __init__(self, mode, stddev):
        self.mode, self.stddev = mode, stddev

    def scale(self, h, kernel_sq):
        if self.mode == "multiplicative":
            return ops.sqrt(ops.matmul(h * h, kernel_sq) + _TINY)
        return ops.sqrt(row_dot(h, h) + _TINY)

    def forward(self, h, k, kernel_sq, e):
        out = ops.matmul(h, k)
        if self.mode is not None:
            out = out + self.stddev * e * self.scale(h, kernel_sq)
        return out

    def backward(self, d_out, h, k, kernel_sq, e):
        """``(dL/dh, r)``; ``r`` (the noise term's sensitivity / s) feeds :meth:`kernel_grad`."""
        dh = ops.matmul(d_out, ops.swapaxes(k, -1, -2))
        if self.mode is None:
            return dh, d_out
        r = self.stddev * d_out * e / self.scale(h, kernel_sq)
        if self.mode == "multiplicative":
            return dh + h * ops.matmul(r, ops.transpose(kernel_sq)), r
        return dh + h * row_dot(r, ops.ones_like(r)), r

    def kernel_grad(self, kernel, h_prev, d_outs, rs):
        per_step = len(kernel.shape) == 3
        d_kernel = ops.einsum("tbi,tbj->tij" if per_step else "tbi,tbj->ij", h_prev, d_outs)
        if self.mode == "multiplicative":
            d_kernel = d_kernel + kernel * ops.einsum("tbi,tbj->ij", h_prev * h_prev, rs)
        return d_kernel


def _inputs(per_step, kernel, eps, *xs):
    """The scanned sequences: ``xs``, then the per-step kernels or ``eps`` (or nothing)."""
    return xs + ((kernel,) if per_step else (eps,) if eps is not None else ())


def _split_inputs(inputs, n, per_step, kernel):
    """``(the n sequences, the step's kernel, the step's eps)`` of one scanned step."""
    xs, rest = inputs[:n], inputs[n:]
    if per_step:
        return xs, rest[0], None
    return xs, kernel, (rest[0] if rest else None)


# -- LSTM ------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _lstm_fn(mode, stddev):
    rec = _Recurrent(mode, stddev)

    def forward(pre, kernel, h0, c0, *eps):
        per_step, eps = len(kernel.shape) == 3, (eps[0] if eps else None)
        kernel_sq = ops.square(kernel) if mode == "multiplicative" else None

        def step(carry, inputs):
            h, c, _ = carry
            (p,), k, e = _split_inputs(inputs, 1, per_step, kernel)
            z = p + rec.forward(h, k, kernel_sq, e)
            z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
            i, f, o = ops.sigmoid(z_i), ops.sigmoid(z_f), ops.sigmoid(z_o)
            g = ops.tanh(z_c)
            c = f * c + i * g
            h = o * ops.tanh(c)
            out = (h, c, ops.concatenate([i, f, g, o], axis=-1))
            return out, out

        acts0 = ops.zeros(ops.shape(pre)[1:], pre.dtype)
        return _scan(step, (h0, c0, acts0), _inputs(per_step, kernel, eps, pre))[1]

    def backward(g_h, g_c, kernel, h0, c0, hs, cs, acts, *eps):
        per_step, eps = len(kernel.shape) == 3, (eps[0] if eps else None)
        kernel_sq = ops.square(kernel) if mode == "multiplicative" else None
        h_prev, c_prev = _previous_states(h0, hs), _previous_states(c0, cs)

        def back(carry, inputs):
            dh_next, dc_next, _, _ = carry
            (gh, gc, c, cp, hp, a), k, e = _split_inputs(inputs, 6, per_step, kernel)
            i, f, g, o = ops.split(a, 4, axis=-1)
            tc = ops.tanh(c)
            dh = gh + dh_next
            dc = gc + dc_next + dh * o * (1.0 - tc * tc)
            dz = ops.concatenate(
                [dc * g * i * (1.0 - i), dc * cp * f * (1.0 - f), dc * i * (1.0 - g * g), dh * tc * o * (1.0 - o)],
                axis=-1,
            )
            dh_prev, r = rec.backward(dz, hp, k, kernel_sq, e)
            out = (dh_prev, dc * f, dz, r)
            return out, out

        zeros, zeros_g = ops.zeros_like(h0), ops.zeros_like(acts[0])
        xs = _inputs(per_step, kernel, eps, g_h, g_c, cs, c_prev, h_prev, acts)
        (dh0, dc0, _, _), (_, _, dzs, rs) = _scan(back, (zeros, zeros, zeros_g, zeros_g), xs, reverse=True)
        return dzs, rec.kernel_grad(kernel, h_prev, dzs, rs), dh0, dc0

    forward_c, backward_c = _compiled(forward), _compiled(backward)

    def recurrence(pre, kernel, h0, c0, *eps):
        hs, cs, acts = forward_c(pre, kernel, h0, c0, *eps)

        def grad(*args, upstream=None):
            if upstream is None:
                upstream = args
            if len(upstream) == 1:  # JAX passes the output structure, one (g_h, g_c) tuple
                upstream = upstream[0]
            g_h, g_c = upstream
            g_h = ops.zeros_like(hs) if g_h is None else g_h
            g_c = ops.zeros_like(cs) if g_c is None else g_c
            grads = backward_c(g_h, g_c, kernel, h0, c0, hs, cs, acts, *eps)
            return tuple(grads) + tuple(_no_gradient(e) for e in eps)

        return (hs, cs), grad

    return ops.custom_gradient(recurrence)


def lstm_recurrence(pre, kernel, h0, c0, eps=None, stddev=0.0, mode=None):
    """The LSTM states of every step: ``(hs, cs)``, each ``(T, B, H)``.

    Args:
        pre: ``(T, B, 4H)`` input projections (bias included), gates in
            Keras's order ``i, f, c, o``.
        kernel: ``(H, 4H)`` recurrent kernel, or ``(T, H, 4H)`` per step.
        h0, c0: ``(B, H)`` initial states.
        eps, stddev, mode: per-step local reparameterization noise on the
            recurrent term (``mode`` ``"additive"`` / ``"multiplicative"``,
            ``eps`` ``(T, B, 4H)`` standard normal; shared kernel only).
    """
    if mode not in LRT_MODES:
        raise ValueError(f"mode must be one of {LRT_MODES}, got {mode!r}")
    extra = () if mode is None else (eps,)
    return _lstm_fn(mode, float(stddev) if mode else 0.0)(*_tensors(pre, kernel, h0, c0, *extra))


# -- GRU (reset_after) -----------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _gru_fn(mode, stddev):
    rec = _Recurrent(mode, stddev)

    def forward(pre, kernel, recurrent_bias, h0, *eps):
        per_step, eps = len(kernel.shape) == 3, (eps[0] if eps else None)
        kernel_sq = ops.square(kernel) if mode == "multiplicative" else None

        def step(carry, inputs):
            h, _ = carry
            (p,), k, e = _split_inputs(inputs, 1, per_step, kernel)
            x_z, x_r, x_h = ops.split(p, 3, axis=-1)
            u_z, u_r, u_h = ops.split(rec.forward(h, k, kernel_sq, e) + recurrent_bias, 3, axis=-1)
            z, r = ops.sigmoid(x_z + u_z), ops.sigmoid(x_r + u_r)
            hh = ops.tanh(x_h + r * u_h)
            h = z * h + (1.0 - z) * hh
            out = (h, ops.concatenate([z, r, hh, u_h], axis=-1))
            return out, out

        acts0 = ops.zeros((ops.shape(h0)[0], 4 * h0.shape[-1]), pre.dtype)
        return _scan(step, (h0, acts0), _inputs(per_step, kernel, eps, pre))[1]

    def backward(g_h, kernel, h0, hs, acts, *eps):
        per_step, eps = len(kernel.shape) == 3, (eps[0] if eps else None)
        kernel_sq = ops.square(kernel) if mode == "multiplicative" else None
        h_prev = _previous_states(h0, hs)

        def back(carry, inputs):
            dh_next = carry[0]
            (gh, hp, a), k, e = _split_inputs(inputs, 3, per_step, kernel)
            z, r, hh, u_h = ops.split(a, 4, axis=-1)
            dh = gh + dh_next
            da_z = dh * (hp - hh) * z * (1.0 - z)
            da_h = dh * (1.0 - z) * (1.0 - hh * hh)
            da_r = da_h * u_h * r * (1.0 - r)
            d_pre = ops.concatenate([da_z, da_r, da_h], axis=-1)
            d_inner = ops.concatenate([da_z, da_r, da_h * r], axis=-1)
            dh_rec, rr = rec.backward(d_inner, hp, k, kernel_sq, e)
            out = (dh * z + dh_rec, d_pre, d_inner, rr)
            return out, out

        zeros3 = ops.zeros((ops.shape(h0)[0], 3 * h0.shape[-1]), h0.dtype)
        xs = _inputs(per_step, kernel, eps, g_h, h_prev, acts)
        init = (ops.zeros_like(h0), zeros3, zeros3, zeros3)
        (dh0, _, _, _), (_, d_pres, d_inners, rs) = _scan(back, init, xs, reverse=True)
        d_kernel = rec.kernel_grad(kernel, h_prev, d_inners, rs)
        return d_pres, d_kernel, ops.sum(d_inners, axis=(0, 1)), dh0

    forward_c, backward_c = _compiled(forward), _compiled(backward)

    def recurrence(pre, kernel, recurrent_bias, h0, *eps):
        hs, acts = forward_c(pre, kernel, recurrent_bias, h0, *eps)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            grads = backward_c(upstream, kernel, h0, hs, acts, *eps)
            return tuple(grads) + tuple(_no_gradient(e) for e in eps)

        return hs, grad

    return ops.custom_gradient(recurrence)


def gru_recurrence(pre, kernel, recurrent_bias, h0, eps=None, stddev=0.0, mode=None):
    """The GRU (``reset_after=True``) states of every step, ``(T, B, H)``.

    Args:
        pre: ``(T, B, 3H)`` input projections with the input bias, gates in
            Keras's order ``z, r, h``.
        kernel: ``(H, 3H)`` recurrent kernel, or ``(T, H, 3H)`` per step.
        recurrent_bias: ``(3H,)``, added to ``h_{t-1} U`` (zeros without a bias).
        h0: ``(B, H)`` initial state.
        eps, stddev, mode: per-step local reparameterization noise on
            ``h_{t-1} U``, as for :func:`lstm_recurrence` (``eps`` ``(T, B, 3H)``).
    """
    if mode not in LRT_MODES:
        raise ValueError(f"mode must be one of {LRT_MODES}, got {mode!r}")
    extra = () if mode is None else (eps,)
    return _gru_fn(mode, float(stddev) if mode else 0.0)(*_tensors(pre, kernel, recurrent_bias, h0, *extra))
