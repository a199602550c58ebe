"""The paper's loss and metric: Bernoulli negative log-likelihood per time step.

For every predicted frame the binary cross-entropy is *summed* over the 88 notes
(nats per frame); frames are then averaged with their sample weights, so zero
padding (weight 0) never counts (docs/references.md, "The task and its metric").
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_rnnreg")
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
class FrameNLL(keras.metrics.MeanMetricWrapper):
    """Metric: NLL in nats per time step over all weighted frames seen.

    A ``keras.metrics.MeanMetricWrapper`` around :func:`frame_nll`: per batch
    it adds ``mean_t(w * nll)`` per sequence to its total and ``mean_t(w)`` to
    its count (all windows of a batch have the same length), so the result is
    ``sum(w * nll) / sum(w)`` over the whole split (not a mean of batch means).

    Its config is ``{"name", "dtype"}`` as before, and its variables are still
    ``total`` and ``count``: models saved with the earlier ``keras.metrics.Metric``
    subclass load unchanged (also with ``safe_mode=True``).
    """

    def __init__(self, name="nll", dtype=None):
        super().__init__(fn=frame_nll, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k in ("name", "dtype")})
