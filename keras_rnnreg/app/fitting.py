"""The one training loop: ``train``, every tuner trial and every sweep run fit through :func:`fit`.

It holds what all three share, so they cannot drift apart:

* the data: :func:`load_splits` (a benchmark's splits, optionally cut to their
  first N sequences) and :func:`window_datasets` (the 100-step window
  pipelines, training windows shuffled with the run's seed);
* the loop: :func:`fit` runs ``model.fit`` with one
  :class:`~keras_rnnreg.app.callbacks.DivergenceGuard` and early stopping on
  ``val_nll`` (:class:`keras.callbacks.EarlyStopping`, or the resumable one
  ``train`` passes), and returns a :class:`FitOutcome`;
* the defaults: :data:`keras_rnnreg.defaults.TRAINING`.

What differs stays with the caller: ``train`` adds its run-directory callbacks
(history, spectral radius, checkpoint, TensorBoard) and stops on divergence;
a tuner trial raises on divergence so KerasTuner records the trial as failed;
a sweep stops and records the row as diverged.
"""

from __future__ import annotations

import dataclasses
import math

import keras

from keras_rnnreg.app import callbacks as cb
from keras_rnnreg import defaults

#: The quantity early stopping and the searches watch: validation NLL, minimized.
MONITOR = "val_nll"


def _limit(sequences, maximum, split):
    if maximum is None or maximum >= len(sequences):
        return list(sequences)
    if maximum < 1:
        raise ValueError(f"max_{split}_sequences must be >= 1, got {maximum}")
    return list(sequences[:maximum])


def load_splits(dataset, data_dir=None, source="mat", max_train_sequences=None,
                max_valid_sequences=None, max_test_sequences=None):
    """Load a benchmark and keep at most the first ``max_*_sequences`` of each split.

    Returns ``{"train"|"valid"|"test": [array (T, 88)]}``.
    """
    from keras_rnnreg import data_pipelines

    splits = data_pipelines.load_dataset(dataset, data_dir, source=source)
    return {
        "train": _limit(splits["train"], max_train_sequences, "train"),
        "valid": _limit(splits["valid"], max_valid_sequences, "valid"),
        "test": _limit(splits["test"], max_test_sequences, "test"),
    }


def window_datasets(splits, window=defaults.TRAINING["window"], batch_size=defaults.TRAINING["batch_size"],
                    seed=defaults.TRAINING["seed"], epochs_from=None):
    """``(train, valid)`` window pipelines of ``splits``: training windows shuffled with ``seed``.

    ``epochs_from``: see :func:`keras_rnnreg.data_pipelines.make_window_dataset` (``train``
    passes the epoch it resumes after, so a resumed run sees the uninterrupted run's order).
    """
    from keras_rnnreg import data_pipelines

    train = data_pipelines.make_window_dataset(splits["train"], window, batch_size, shuffle=True, seed=seed,
                                               epochs_from=epochs_from)
    valid = data_pipelines.make_window_dataset(splits["valid"], window, batch_size, shuffle=False)
    return train, valid


@dataclasses.dataclass
class FitOutcome:
    """What :func:`fit` learned about the run.

    Attributes:
        history: the :class:`keras.callbacks.History` ``model.fit`` returned
            (``history.history``: one list per logged metric).
        divergence: why the run diverged (``None`` if it did not).
        diverged_epoch: the 1-based epoch it diverged in, or ``None``.
        best_epoch: the 1-based epoch of the best ``val_nll`` (``None`` without early stopping
            or before any finite value).
        best_valid_nll: that value.
    """

    history: keras.callbacks.History
    divergence: str | None
    diverged_epoch: int | None
    best_epoch: int | None
    best_valid_nll: float | None

    @property
    def diverged(self):
        return self.divergence is not None

    @property
    def epochs(self):
        """Epochs this call ran."""
        return len(self.history.history.get("loss", []))


#: The patience that stands for "never stop early" (``patience`` 0 or ``None``).
NEVER = 2**31 - 1


def early_stopping(patience, restore_best_weights=True, verbose=0, cls=None, **kwargs):
    """Early stopping on ``val_nll`` (``patience`` 0 or ``None``: never stops, keeps the best weights).

    Args:
        cls: the callback class (default :class:`keras.callbacks.EarlyStopping`;
            ``train`` passes :class:`~keras_rnnreg.app.callbacks.ResumableEarlyStopping`),
            given ``kwargs`` besides.
    """
    cls = keras.callbacks.EarlyStopping if cls is None else cls
    return cls(
        monitor=MONITOR, mode="min", patience=patience if patience else NEVER,
        restore_best_weights=restore_best_weights, verbose=verbose, **kwargs,
    )


def fit(model, x=None, validation_data=None, *, epochs=defaults.TRAINING["epochs"],
        patience=defaults.TRAINING["patience"], restore_best_weights=True, stopper=None, guard=None,
        divergence_threshold=defaults.DIVERGENCE_THRESHOLD, divergence_error=None, callbacks=(),
        verbose=0, **fit_kwargs):
    """Train a compiled model with early stopping on ``val_nll`` and a divergence guard.

    Args:
        model: a compiled model (its metrics include ``nll``).
        x, validation_data: the training and validation data (see :func:`window_datasets`).
        epochs: the epoch limit.
        patience: early-stopping patience in epochs (``0``: never stop early).
        restore_best_weights: end with the weights of the best ``val_nll`` epoch.
        stopper: an early-stopping callback to use instead of a new one
            (``train`` passes its resumable one; it must be among ``callbacks``
            where the caller wants it ordered).
        guard: a :class:`~keras_rnnreg.app.callbacks.DivergenceGuard` to use
            instead of a new one made from the next two arguments (``train``
            passes its own, which its checkpoint consults).
        divergence_threshold: a loss above this (nats per frame) counts as
            divergence (``None``: only NaN / inf).
        divergence_error: exception class raised on divergence (a tuner
            trial: ``TrialDiverged``); ``None`` stops training and reports it
            in the outcome.
        callbacks: more callbacks, after the guard.
        verbose, **fit_kwargs: passed to ``model.fit`` (e.g. ``initial_epoch``).

    Returns:
        A :class:`FitOutcome`.
    """
    if guard is None:
        guard = cb.DivergenceGuard(divergence_threshold, error=divergence_error)
    callbacks = [guard, *callbacks]
    if stopper is None:
        stopper = early_stopping(patience, restore_best_weights)
        callbacks.append(stopper)
    fit_kwargs.setdefault("shuffle", False)  # the window pipeline shuffles, reproducibly
    history = model.fit(x, validation_data=validation_data, epochs=epochs, verbose=verbose,
                        callbacks=callbacks, **fit_kwargs)
    best = stopper.best
    found = best is not None and math.isfinite(float(best))
    return FitOutcome(
        history=history,
        divergence=guard.divergence,
        diverged_epoch=guard.diverged_epoch,
        best_epoch=int(stopper.best_epoch) + 1 if found else None,
        best_valid_nll=float(best) if found else None,
    )
