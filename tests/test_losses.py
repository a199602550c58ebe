"""FrameNLL (a MeanMetricWrapper around frame_nll) against NumPy, and through a saved model."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_rnnreg import NoisyDense, NoisySimpleRNN
from keras_rnnreg.losses import FrameNLL, NoteNLL, frame_nll
from keras_rnnreg.optim import compile_model


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


def test_saved_compiled_model_evaluates_frame_nll_in_a_fresh_process(tmp_path):
    """A model compiled with the library's loss and metric (optim.compile_model), trained one
    step and saved, loads with safe_mode=True in a fresh process importing only keras_rnnreg,
    predicts what it predicted and evaluates its weighted ``nll`` to the NumPy frame NLL."""
    rng = np.random.default_rng(3)
    x = (rng.random((4, 6, 88)) < 0.1).astype("float32")
    y = (rng.random((4, 6, 88)) < 0.1).astype("float32")
    w = np.ones((4, 6), "float32")
    w[1, 4:] = 0.0  # padding
    inputs = keras.Input((None, 88))
    hidden = NoisySimpleRNN(8, recurrent_noise="dropconnect", dropconnect_p=0.2, seed=0)(inputs)
    model = keras.Model(inputs, NoisyDense(88, activation="sigmoid", seed=1)(hidden))
    compile_model(model, optimizer="sgd", learning_rate=0.01)
    model.fit(x, y, sample_weight=w, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    np.savez(tmp_path / "data.npz", x=x, y=y, w=w)
    script = f"""
import json, keras, numpy as np
import keras_rnnreg
from keras_rnnreg.losses import FrameNLL
d = np.load({str(tmp_path / "data.npz")!r})
model = keras.saving.load_model({str(path)!r}, safe_mode=True)
result = model.evaluate(d["x"], d["y"], sample_weight=d["w"], verbose=0, return_dict=True)
found = [type(m).__name__ for m in model.metrics for m in [m, *getattr(m, "metrics", [])] if m.name == "nll"]
np.save({str(tmp_path / "pred.npy")!r}, model.predict(d["x"], verbose=0))
print(json.dumps({{"nll": result["nll"], "found": found}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    pred = np.load(tmp_path / "pred.npy")
    np.testing.assert_allclose(pred, model.predict(x, verbose=0), atol=1e-6)
    expected = (_numpy_frame_nll(y, pred) * w).sum() / w.sum()
    assert out["nll"] == pytest.approx(expected, rel=1e-4)
    assert "FrameNLL" in out["found"]
