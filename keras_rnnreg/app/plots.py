"""``learning_curves.png`` of a run directory: NLL and spectral radius per epoch."""

from __future__ import annotations

import csv
import io
import math

from keras_rnnreg.app import rundir


def _read_csv(path):
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _series(rows, key):
    """``(epochs, values)`` of the finite values of column ``key``."""
    epochs, values = [], []
    for row in rows:
        try:
            epoch, value = int(float(row["epoch"])), float(row.get(key) or "nan")
        except (KeyError, ValueError):
            continue
        if math.isfinite(value):
            epochs.append(epoch)
            values.append(value)
    return epochs, values


def write_learning_curves(run_dir, best_epoch=None):
    """Plot ``history.csv`` and ``spectral_radius.csv`` of ``run_dir`` into ``learning_curves.png``.

    Top: training and validation NLL (nats per time step) per epoch, the best
    epoch marked; bottom: the spectral radius of ``W_hh`` (epoch 0: at
    initialization). Written atomically; returns the path, or ``None`` when the
    run has no epoch yet.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rd = rundir.RunDir(run_dir)
    history = _read_csv(rd.history)
    if not history:
        return None
    radius = _read_csv(rd.spectral_radius)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=(2, 1))
    for key, label in (("nll", "train"), ("val_nll", "valid")):
        epochs, values = _series(history, key)
        if epochs:
            top.plot(epochs, values, label=label)
    if best_epoch:
        top.axvline(best_epoch, color="gray", linestyle=":", label=f"best epoch {best_epoch}")
    top.set_ylabel("NLL (nats per time step)")
    top.legend()
    top.grid(alpha=0.3)
    epochs, values = _series(radius, "spectral_radius")
    if epochs:
        bottom.plot(epochs, values, color="tab:green")
    bottom.set_ylabel("spectral radius of W_hh")
    bottom.set_xlabel("epoch")
    bottom.grid(alpha=0.3)
    config = rd.read_config() or {}
    fig.suptitle(f"{config.get('model', '?')} on {config.get('dataset', '?')}, seed {config.get('seed', '?')}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    path = rd.path / LEARNING_CURVES
    rundir.atomic_write_bytes(path, buf.getvalue())
    return path


LEARNING_CURVES = "learning_curves.png"
