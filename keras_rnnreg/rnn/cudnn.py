"""Hand a (perturbed) LSTM kernel to cuDNN's fused LSTM on a JAX GPU.

With no noise or per-sequence noise, one pass of :class:`~keras_rnnreg.NoisyLSTM`
uses one ``W*_ih`` and one ``W*_hh`` for every step and every sequence of the
batch: exactly a plain LSTM with those matrices. On the JAX backend with a GPU
that LSTM runs as cuDNN's fused kernel (``jax.experimental.rnn.lstm``, the same
call ``keras.layers.LSTM`` makes there), and the gradient flows through the
perturbed matrices to the weights (and, for multiplicative noise and DropConnect,
through the noise) by ordinary autodiff around cuDNN's backward pass. This is
the handover AWD-LSTM's ``WeightDrop`` cannot make in PyTorch (its dropped
weights are not the contiguous parameters cuDNN needs, the reason for its
reported ~10x slower epochs).

cuDNN computes ``i, f, g, o = sigmoid / tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``
with the gates in Keras's order; Keras's ``(in, 4 units)`` kernels are
transposed into its flat weight vector, the bias goes to ``b_ih`` and ``b_hh``
is zero. Matmuls may use TF32 on GPUs that have it, as Keras's LSTM does there.

Set :data:`ENABLED` to ``False`` to keep the layer's own fused loop on a GPU.
"""

import keras
from keras import ops

#: Use cuDNN's LSTM where it applies (JAX backend with a GPU).
ENABLED = True


def available():
    """Whether cuDNN's LSTM can run here: :data:`ENABLED`, the JAX backend, and a GPU as JAX's default device."""
    if not ENABLED or keras.backend.backend() != "jax":
        return False
    import jax

    return jax.default_backend() == "gpu"


def flat_weights(kernel, recurrent_kernel, bias):
    """cuDNN's flat LSTM weight vector ``[W_ih, W_hh, b_ih, b_hh]`` from Keras's ``(in, 4u)``, ``(u, 4u)``, ``(4u,)``."""
    return ops.concatenate([
        ops.reshape(ops.transpose(kernel), (-1,)),
        ops.reshape(ops.transpose(recurrent_kernel), (-1,)),
        bias,
        ops.zeros_like(bias),
    ])


def lstm(x, h0, c0, kernel, recurrent_kernel, bias):
    """One LSTM layer through ``jax.experimental.rnn.lstm``.

    Args:
        x: ``(batch, time, in)``, in the order the steps run (reverse it first
            for ``go_backwards``).
        h0, c0: ``(batch, units)`` initial states.
        kernel, recurrent_kernel: ``(in, 4 units)``, ``(units, 4 units)``, gates ``i, f, c, o``.
        bias: ``(4 units,)``.

    Returns:
        ``(ys, h, c)``: the hidden states ``(batch, time, units)`` and the last ``h`` and ``c``.
    """
    import jax
    from jax.experimental import rnn

    units = recurrent_kernel.shape[0]
    seq_lengths = jax.numpy.full((x.shape[0],), x.shape[1], dtype="int32")
    ys, h, c = rnn.lstm(
        x, h0[None], c0[None], flat_weights(kernel, recurrent_kernel, bias), seq_lengths,
        input_size=kernel.shape[0], hidden_size=units, num_layers=1, dropout=0.0, bidirectional=False,
    )
    return ys, h[0], c[0]
