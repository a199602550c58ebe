"""The paper's loss and metric: Bernoulli negative log-likelihood per time step.

For every predicted frame the binary cross-entropy is *summed* over the 88 notes
(nats per frame); frames are then averaged with their sample weights, so zero
padding (weight 0) never counts (docs/references.md, "The task and its metric").
"""

import keras
from keras import ops


def frame_nll(y_true, y_pred):
    """Per-frame NLL in nats: ``sum_notes BCE(y_true, y_pred)``, shape ``(..., T)``.

    ``y_pred`` are probabilities. On the TensorFlow backend, when ``y_pred`` comes
    straight out of a sigmoid, ``ops.binary_crossentropy`` recovers the logits and
    uses the numerically stable form.
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    return ops.sum(ops.binary_crossentropy(y_true, y_pred), axis=-1)


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class NoteNLL(keras.losses.Loss):
    """Training loss: NLL in nats per frame, averaged over weighted frames.

    Uses the ``"mean_with_sample_weight"`` reduction so a batch's loss is
    ``sum(w * nll) / sum(w)``: padded frames (``w = 0``) do not dilute it.
    """

    def __init__(self, name="note_nll", reduction="mean_with_sample_weight", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return frame_nll(y_true, y_pred)


@keras.saving.register_keras_serializable(package="keras_rnnreg")
class FrameNLL(keras.metrics.Metric):
    """Metric: NLL in nats per time step over all weighted frames seen.

    Accumulates ``sum(w * nll)`` and ``sum(w)`` across batches, so the result is
    frame-weighted over the whole split (not a mean of batch means).
    """

    def __init__(self, name="nll", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        nll = frame_nll(y_true, y_pred)
        if sample_weight is None:
            weight = ops.ones_like(nll)
        else:
            weight = ops.broadcast_to(ops.cast(sample_weight, nll.dtype), ops.shape(nll))
        self.total.assign_add(ops.sum(nll * weight))
        self.count.assign_add(ops.sum(weight))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)
