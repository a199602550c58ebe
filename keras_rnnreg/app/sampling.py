"""Sampling piano rolls from a trained model, and writing them as MIDI and PNG.

The model gives ``p(x_{t+1} | x_1..x_t)`` as 88 independent Bernoulli
probabilities. :func:`sample_piano_roll` draws a sequence frame by frame:
starting from the all-zero frame (the start frame the training windows use),
or from a primer, it feeds the frames drawn so far, draws every note of the
next frame from its Bernoulli distribution, and appends it. It works for every
zoo model (noise is off at inference), at the cost of re-running the prefix at
each step.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from keras_rnnreg.app import rundir

NUM_NOTES = 88


def sample_piano_roll(model, steps, seed=0, primer=None, max_notes=None):
    """Draw ``steps`` frames from ``model`` by ancestral Bernoulli sampling.

    Args:
        model: Keras model (or callable) mapping ``(1, t, 88)`` piano rolls
            to next-step note probabilities.
        steps: number of frames to draw, >= 1.
        seed: seed of the NumPy generator drawing the notes.
        primer: optional ``(K, 88)`` 0/1 array the sequence starts with; the
            drawn frames follow it.
        max_notes: if set, keep at most this many of the most probable drawn
            notes per frame (``None``: no limit).

    Returns:
        ``uint8`` array ``(K + steps, 88)``: the primer followed by the samples.
    """
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    steps = int(steps)
    rng = np.random.default_rng(seed)
    if primer is None:
        primer = np.zeros((0, NUM_NOTES), dtype=np.float32)
    primer = np.asarray(primer, dtype=np.float32)
    if primer.ndim != 2 or primer.shape[1] != NUM_NOTES:
        raise ValueError(f"primer must have shape (K, {NUM_NOTES}), got {primer.shape}")
    from keras_rnnreg.app.evaluation import make_predictor

    predict = make_predictor(model, bucket=32)
    k = primer.shape[0]
    # Row 0 is the all-zero start frame, then the primer, then the samples.
    frames = np.zeros((1, 1 + k + steps, NUM_NOTES), dtype=np.float32)
    frames[0, 1 : 1 + k] = primer
    for t in range(k, k + steps):
        probs = predict(frames[:, : t + 1])[0, -1].astype(np.float64)
        probs = np.clip(np.nan_to_num(probs, nan=0.0), 0.0, 1.0)
        frame = (rng.random(NUM_NOTES) < probs).astype(np.float32)
        if max_notes is not None and frame.sum() > max_notes:
            keep = np.argsort(-(probs * frame))[: int(max_notes)]
            frame = np.zeros_like(frame)
            frame[keep] = 1.0
        frames[0, t + 1] = frame
    return frames[0, 1:].astype(np.uint8)


def write_midi(roll, path, frames_per_beat=1, tempo=120.0):
    """Write ``roll`` as a MIDI file (atomically); see ``data_pipelines.midi.piano_roll_to_midi``."""
    from keras_rnnreg.data_pipelines import midi

    pm = midi.piano_roll_to_midi(roll, None, frames_per_beat=frames_per_beat, tempo=tempo)
    with rundir.atomic_path(path, suffix=".mid") as tmp:
        pm.write(os.fspath(tmp))
    return pathlib.Path(path)


def write_piano_roll_png(roll, path, title=None):
    """Plot ``roll`` (time on x, MIDI note on y) to a PNG file (atomically), with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    roll = np.asarray(roll)
    fig, ax = plt.subplots(figsize=(max(6.0, min(24.0, roll.shape[0] / 12.0)), 4.0), dpi=100)
    try:
        ax.imshow(
            roll.T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
            extent=(0, roll.shape[0], 20.5, 20.5 + NUM_NOTES),
        )
        ax.set_xlabel("time step")
        ax.set_ylabel("MIDI note")
        if title:
            ax.set_title(title)
        fig.tight_layout()
        with rundir.atomic_path(path, suffix=".png") as tmp:
            fig.savefig(os.fspath(tmp), format="png")
    finally:
        plt.close(fig)
    return pathlib.Path(path)
