"""Bernoulli sampling from a model, MIDI and piano-roll PNG output."""

import keras
import numpy as np
import pytest

from keras_rnnreg.app import sampling
from keras_rnnreg import models


class _Constant(keras.layers.Layer):
    """Outputs fixed probabilities whatever the input (to check the sampler's statistics)."""

    def __init__(self, probs, **kwargs):
        super().__init__(**kwargs)
        self.probs = np.asarray(probs, dtype=np.float32)

    def call(self, x):
        return keras.ops.zeros_like(x) + self.probs


def _constant_model(probs):
    inputs = keras.Input(shape=(None, 88))
    return keras.Model(inputs, _Constant(probs)(inputs))


def test_sampling_follows_the_probabilities():
    probs = np.zeros(88, np.float32)
    probs[40] = 1.0
    probs[50] = 0.5
    roll = sampling.sample_piano_roll(_constant_model(probs), steps=400, seed=0)
    assert roll.shape == (400, 88) and roll.dtype == np.uint8
    assert roll[:, 40].all()
    assert roll[:, 50].mean() == pytest.approx(0.5, abs=0.08)
    assert roll.sum() == roll[:, 40].sum() + roll[:, 50].sum()


def test_sampling_is_seeded_and_keeps_the_primer():
    model = models.get("rnn", units=8, seed=0, output_bias_init=-1.0)
    a = sampling.sample_piano_roll(model, steps=12, seed=5)
    b = sampling.sample_piano_roll(model, steps=12, seed=5)
    c = sampling.sample_piano_roll(model, steps=12, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    primer = np.zeros((3, 88), np.uint8)
    primer[:, 60] = 1
    primed = sampling.sample_piano_roll(model, steps=5, seed=5, primer=primer)
    assert primed.shape == (8, 88)
    np.testing.assert_array_equal(primed[:3], primer)
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        sampling.sample_piano_roll(model, steps=0)


def test_midi_and_png_written(tmp_path):
    from keras_rnnreg.data_pipelines import midi

    rng = np.random.default_rng(0)
    roll = rng.binomial(1, 0.05, size=(32, 88)).astype(np.uint8)
    out = sampling.write_midi(roll, tmp_path / "song.mid", frames_per_beat=1, tempo=100)
    back = midi.midi_to_piano_roll(out, frames_per_beat=1)
    np.testing.assert_array_equal(np.asarray(back)[: len(roll)], roll)
    png = sampling.write_piano_roll_png(roll, tmp_path / "song.png", title="test")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.mid", "song.png"]


def test_sampling_and_evaluation_work_for_every_layer_kind():
    """Fast dropout's recurrence needs static shapes: the bucketed predictor provides them."""
    from keras_rnnreg.app import evaluation

    model = models.get("rnn_fd", units=8, seed=0)
    roll = sampling.sample_piano_roll(model, steps=40, seed=0)
    assert roll.shape == (40, 88)
    rng = np.random.default_rng(0)
    sequences = [rng.binomial(1, 0.05, size=(n, 88)).astype(np.float32) for n in (30, 71, 130)]
    assert np.isfinite(evaluation.evaluate_nll(model, sequences))
