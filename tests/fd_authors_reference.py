"""A direct NumPy rendering of the authors' fast-dropout RNN (Breze, last commit), for tests.

Written from ``breze/arch/construct/neural/base.py`` (``FastDropoutRnn._forward``),
``breze/arch/construct/layer/varprop/{simple,sequential}.py``,
``breze/arch/model/varprop/rnn.py`` (``recurrent_layer``) and
``breze/arch/component/varprop/transfer.py`` (``sigmoid``, ``tanh``), one
sequence batch at a time, time major as there (``(T, N, D)``). Kept literal,
including the two places where it departs from the consistent computation:
the recurrent mean is scaled by the dropout rate ``p`` instead of the keep
probability, and ``tanh`` returns the moments of ``2 sigmoid(a) - 1``
(= ``tanh(a / 2)``) of the same ``(mean, var)``.
"""

import numpy as np

ALPHA = 4.0 - 2.0 * np.sqrt(2.0)
BETA = -np.log(np.sqrt(2.0) - 1.0)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def sigmoid_moments(mean, var):
    """transfer.sigmoid: the published approximation, mean clipped to [1e-7, 1 - 1e-7]."""
    mean_ = _sigmoid(mean / np.sqrt(1.0 + np.pi * var / 8.0))
    var_ = _sigmoid(ALPHA * (mean - BETA) / np.sqrt(1.0 + np.pi * ALPHA**2 * var / 8.0)) - mean_**2
    return np.clip(mean_, 1e-7, 1.0 - 1e-7), var_


def tanh_moments(mean, var):
    """transfer.tanh: rescaled sigmoid moments of the same (mean, var)."""
    m, v = sigmoid_moments(mean, var)
    return 2.0 * m - 1.0, 4.0 * v


def fast_dropout(mean, var, p):
    """simple.FastDropout with drop rate p."""
    q = 1.0 - p
    return mean * q, mean**2 * q * (1.0 - q) + q**2 * var + q * (1.0 - q) * var


def forward(x, w_ih, b_h, w_hh, w_ho, b_o, initial_mean, initial_std, p_in, p_hidden, p_out, mean_scale=None):
    """Output means and variances ``(T, N, 88)`` of inputs ``x`` ``(T, N, 88)``.

    ``mean_scale``: the factor of the recurrent mean, their ``p_hidden`` unless given
    (``1 - p_hidden`` renders the ``authors_keep_mean`` ablation).
    """
    m, v = fast_dropout(x, np.zeros_like(x), p_in)
    pre_mean = m @ w_ih + b_h  # AffineNonlinear, identity transfer
    pre_var = v @ w_ih**2
    n = x.shape[1]
    hom = np.repeat(initial_mean[None, :], n, axis=0)
    hov = np.repeat((initial_std**2 + 1e-8)[None, :], n, axis=0)
    q = 1.0 - p_hidden
    mean_scale = p_hidden if mean_scale is None else mean_scale
    means, variances = [], []
    for t in range(x.shape[0]):  # recurrent_layer's step
        a_mean = (hom @ w_hh) * mean_scale + pre_mean[t]
        element_var = hov * p_hidden * q + hom**2 * p_hidden * q + hov * q**2
        a_var = element_var @ w_hh**2 + pre_var[t]
        hom, hov = tanh_moments(a_mean, a_var)
        means.append(hom)
        variances.append(hov)
    m, v = fast_dropout(np.stack(means), np.stack(variances), p_out)
    return sigmoid_moments(m @ w_ho + b_o, v @ w_ho**2)
