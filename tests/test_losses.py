"""FrameNLL (a MeanMetricWrapper around frame_nll) against NumPy, and old saved models still loading."""

import pathlib

import keras
import numpy as np
import pytest

from keras_rnnreg import models  # noqa: F401  registers ZooModel for loading
from keras_rnnreg.losses import FrameNLL, NoteNLL, frame_nll

LEGACY = pathlib.Path(__file__).parent / "data" / "legacy"


def _numpy_frame_nll(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)  # Keras' epsilon
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=-1)


def test_frame_nll_metric_matches_numpy_with_weights():
    rng = np.random.default_rng(1)
    batches = []
    for batch, steps in ((4, 6), (3, 6)):
        y = (rng.random((batch, steps, 88)) < 0.2).astype("float32")
        p = rng.uniform(0.01, 0.99, (batch, steps, 88)).astype("float32")
        w = rng.choice([0.0, 0.5, 1.0, 2.0], size=(batch, steps)).astype("float32")
        w[0, 3:] = 0  # padding
        batches.append((y, p, w))
    metric = FrameNLL()
    assert isinstance(metric, keras.metrics.MeanMetricWrapper) and metric.name == "nll"
    for y, p, w in batches:
        metric.update_state(y, p, sample_weight=w)
    nll = np.concatenate([_numpy_frame_nll(y, p).ravel() for y, p, _ in batches])
    weights = np.concatenate([w.ravel() for _, _, w in batches])
    expected = (nll * weights).sum() / weights.sum()  # frame-weighted over both batches, not a mean of means
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)
    means = np.mean([(_numpy_frame_nll(y, p) * w).sum() / w.sum() for y, p, w in batches])
    assert abs(expected - means) > 1e-3  # the two would be told apart
    # Per-sequence weights (batch,) and no weights: every frame of a sequence counts the same.
    metric.reset_state()
    y, p, _ = batches[0]
    per_seq = np.array([1.0, 0.0, 2.0, 1.0], "float32")
    metric.update_state(y, p, sample_weight=per_seq)
    frames = _numpy_frame_nll(y, p)
    assert float(metric.result()) == pytest.approx((frames * per_seq[:, None]).sum() / (per_seq.sum() * 6),
                                                   rel=1e-5)
    metric.reset_state()
    metric.update_state(y, p)
    assert float(metric.result()) == pytest.approx(frames.mean(), rel=1e-5)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_frame_nll_metric_equals_the_weighted_loss():
    rng = np.random.default_rng(2)
    y = (rng.random((2, 5, 88)) < 0.2).astype("float32")
    p = rng.uniform(0.05, 0.95, (2, 5, 88)).astype("float32")
    w = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], "float32")
    metric = FrameNLL()
    metric.update_state(y, p, sample_weight=w)
    assert float(metric.result()) == pytest.approx(float(NoteNLL()(y, p, sample_weight=w)), rel=1e-5)
    assert np.allclose(np.asarray(frame_nll(y, p)), _numpy_frame_nll(y, p), rtol=1e-5)


def test_frame_nll_metric_serializes():
    metric = FrameNLL(name="nll")
    assert metric.get_config() == {"name": "nll", "dtype": "float32"}
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric), safe_mode=True)
    assert isinstance(again, FrameNLL) and again.name == "nll"
    assert sorted(v.path.split("/")[-1] for v in again.variables) == ["count", "total"]


def test_model_saved_with_the_old_frame_nll_loads_and_evaluates():
    """rnn_compiled_old_framenll.keras was compiled (optim.compile_model), trained one step and saved with
    the earlier ``keras.metrics.Metric`` subclass; its .npz holds what it evaluated to then."""
    saved = np.load(LEGACY / "rnn_compiled_old_framenll.npz")
    model = keras.saving.load_model(LEGACY / "rnn_compiled_old_framenll.keras", safe_mode=True)
    np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved["pred"], atol=1e-6)
    result = model.evaluate(saved["x"], saved["y"], sample_weight=saved["w"], verbose=0, return_dict=True)
    assert result["nll"] == pytest.approx(float(saved["nll"]), rel=1e-5)
    found = []

    def walk(metrics):
        for m in metrics:
            found.append(m)
            walk(getattr(m, "metrics", []) if not isinstance(m, FrameNLL) else [])

    walk(model.metrics)
    assert [type(m) for m in found if m.name == "nll"] == [FrameNLL]
