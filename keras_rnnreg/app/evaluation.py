"""The paper's metric on whole sequences: NLL in nats per time step.

For a split of sequences ``x_1..x_T`` the model predicts frames ``2..T`` from
frames ``1..T-1``; the Bernoulli cross-entropy of every predicted frame is
summed over the 88 notes, and the split's NLL is the mean over all predicted
frames of all sequences (frame-weighted, no padding counted). This is what the
authors' code reports on the test set (docs/references.md, "The task and its metric").
The paper's formula, read literally (``1/(T-1) · 1/N · Σ``), weighs every
sequence equally instead; ``average="sequences"`` computes that reading.
"""

from __future__ import annotations

import numpy as np

from keras_rnnreg.losses import frame_nll


def _predict(model, inputs):
    """Probabilities of ``model`` (a Keras model, layer or plain callable) on ``inputs``."""
    try:
        out = model(inputs, training=False)
    except TypeError:  # e.g. a SavedModel signature or a function without ``training``
        out = model(inputs)
    if isinstance(out, dict):  # a serving signature returns {"output_0": ...}
        if len(out) != 1:
            raise ValueError(f"model returned several outputs {sorted(out)}; expected one")
        out = next(iter(out.values()))
    return out


def make_predictor(model, bucket=64):
    """``predict(x: ndarray (B, T, 88)) -> ndarray (B, T, 88)`` for ``model``.

    A Keras model runs in a ``tf.function`` on inputs whose time axis is
    zero-padded at the end to a multiple of ``bucket`` (the outputs are cut
    back to ``T``). A causal model's outputs for the real steps do not depend
    on that padding; the padding keeps the number of distinct static shapes,
    hence of traces and of XLA compilations of the recurrence loops (one per
    shape), small. Other callables
    (a SavedModel signature, a ``TFSMLayer``) are called as they are.
    """
    import keras

    if keras.backend.backend() != "tensorflow" and isinstance(model, keras.Model):
        # Other backends: Keras's own compiled predict step (jitted on JAX, one trace per shape).
        forward = None
    else:
        import tensorflow as tf

        if not isinstance(model, keras.Model):
            return lambda x: np.asarray(_predict(model, tf.constant(x, dtype=tf.float32)))
        forward = tf.function(lambda x: model(x, training=False))

    def predict(x):
        x = np.asarray(x, dtype=np.float32)
        length = x.shape[1]
        padded = max(bucket, -(-length // bucket) * bucket)
        if padded != length:
            x = np.concatenate([x, np.zeros((x.shape[0], padded - length, x.shape[2]), np.float32)], axis=1)
        if forward is None:
            return np.asarray(model.predict_on_batch(x))[:, :length]
        return np.asarray(forward(tf.constant(x)))[:, :length]

    return predict


def frame_nlls(model, sequences, batch_size=8):
    """Per-sequence arrays of per-frame NLLs (nats) of ``model`` on whole ``sequences``.

    Args:
        model: a Keras model (or any callable) mapping ``(batch, time, 88)``
            float32 piano rolls to note probabilities.
        sequences: piano rolls ``(T, 88)`` of 0/1 (``T >= 2``).
        batch_size: sequences per forward pass. Shorter sequences of a batch
            are zero-padded at the end; a causal model's predictions for the
            real frames do not depend on that padding, and padded frames are
            dropped.

    Returns:
        A list with, for each sequence, a float64 array of ``T - 1`` NLLs.
    """
    from keras import ops

    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    rolls = [np.asarray(s, dtype=np.float32) for s in sequences]
    if not rolls:
        raise ValueError("no sequences to evaluate")
    for i, roll in enumerate(rolls):
        if roll.ndim != 2 or roll.shape[1] != 88 or roll.shape[0] < 2:
            raise ValueError(f"sequence {i} has shape {roll.shape}; expected (T >= 2, 88)")
    predict = make_predictor(model)
    # Sort by length so each padded batch wastes little; restore the order after.
    order = sorted(range(len(rolls)), key=lambda i: len(rolls[i]))
    result = [None] * len(rolls)
    for start in range(0, len(order), int(batch_size)):
        idx = order[start : start + int(batch_size)]
        longest = max(len(rolls[i]) for i in idx)
        batch = np.zeros((len(idx), longest, 88), dtype=np.float32)
        for row, i in enumerate(idx):
            batch[row, : len(rolls[i])] = rolls[i]
        probs = predict(batch[:, :-1])
        nll = np.asarray(
            ops.convert_to_numpy(frame_nll(ops.convert_to_tensor(batch[:, 1:]), ops.convert_to_tensor(probs))),
            dtype=np.float64,
        )
        for row, i in enumerate(idx):
            result[i] = nll[row, : len(rolls[i]) - 1]
    return result


AVERAGES = ("frames", "sequences")


def evaluate_nll(model, sequences, batch_size=8, average="frames"):
    """Test NLL in nats per time step of ``model`` on whole ``sequences``.

    The sum over all predicted frames of the summed-over-notes cross-entropy,
    divided by the number of predicted frames ``sum(T_i - 1)``.

    Args:
        model: Keras model or callable returning probabilities, see :func:`frame_nlls`.
        sequences: piano rolls ``(T, 88)``.
        batch_size: sequences per forward pass.
        average: ``"frames"`` (every predicted frame weighs the same: the
            authors' code, and every number in ``results/``) or
            ``"sequences"`` (the mean over sequences of each one's NLL per
            frame: the paper's formula read literally).

    Returns:
        The NLL as a Python float.
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    per_seq = frame_nlls(model, sequences, batch_size=batch_size)
    if average == "sequences":
        return float(np.mean([float(np.mean(n)) for n in per_seq]))
    total = sum(float(np.sum(n)) for n in per_seq)
    count = sum(len(n) for n in per_seq)
    return total / count
