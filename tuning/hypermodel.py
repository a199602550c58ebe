"""KerasTuner ``HyperModel`` for every zoo model, and the trial callbacks."""

from __future__ import annotations

import math

import keras
import keras_tuner as kt

from keras_rnnreg import models
from keras_rnnreg.optim import compile_model

from . import search_space

OBJECTIVE_NAME = "val_nll"


def objective():
    """The search objective: validation NLL (nats per time step), minimized."""
    return kt.Objective(OBJECTIVE_NAME, "min")


class TrialDiverged(kt.errors.FailedTrialError):
    """Raised from ``fit`` when the training loss is NaN / inf / absurdly large.

    A ``FailedTrialError``: KerasTuner records the trial as ``FAILED`` (no
    retry) and the search goes on with the next trial.
    """


class DivergenceGuard(keras.callbacks.Callback):
    """``TerminateOnNaN`` that *raises*, so the trial is recorded as failed.

    Checks the training loss after every batch and the validation NLL after
    every epoch. A value that is NaN, infinite or larger than ``threshold``
    (nats per frame; ``None`` disables the threshold) raises
    :class:`TrialDiverged`.
    """

    def __init__(self, threshold=1e3):
        super().__init__()
        self.threshold = threshold

    def _check(self, name, value, where):
        if value is None:
            return
        value = float(value)
        if math.isfinite(value) and (self.threshold is None or value <= self.threshold):
            return
        self.model.stop_training = True
        raise TrialDiverged(f"training diverged: {name} = {value} at {where} (threshold {self.threshold})")

    def on_train_batch_end(self, batch, logs=None):
        self._check("loss", (logs or {}).get("loss"), f"batch {batch}")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self._check("loss", logs.get("loss"), f"epoch {epoch}")
        self._check(OBJECTIVE_NAME, logs.get(OBJECTIVE_NAME), f"epoch {epoch}")


def trial_callbacks(patience=10, divergence_threshold=1e3, restore_best_weights=False):
    """Early stopping on ``val_nll`` plus the :class:`DivergenceGuard`."""
    callbacks = [DivergenceGuard(divergence_threshold)]
    if patience is not None and patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=OBJECTIVE_NAME, mode="min", patience=patience,
                restore_best_weights=restore_best_weights,
            )
        )
    return callbacks


def build_model(model_name, config, seed=0, jit_compile="auto", steps_per_execution=1):
    """Build and compile a zoo model from a configuration dict.

    ``config`` holds zoo hyperparameters and optimizer settings (``optimizer``,
    ``learning_rate``, ``momentum``, ``clipnorm``), as returned by
    :func:`search_space.declare` or :func:`search_space.defaults`.
    """
    model_kwargs, compile_kwargs = search_space.split_config(model_name, config)
    model_kwargs.setdefault("seed", seed)
    model = models.get(model_name, **model_kwargs)
    compile_model(model, jit_compile=jit_compile, steps_per_execution=steps_per_execution, **compile_kwargs)
    return model


class RNNHyperModel(kt.HyperModel):
    """Search space and training of one zoo model (KerasTuner's HyperModel pattern).

    ``build(hp)`` declares the model's rows of :mod:`.search_space` (pinned
    ones with ``hp.Fixed``) and returns the compiled model; ``fit(hp, model,
    *args, **kwargs)`` trains it with early stopping on ``val_nll`` and a
    :class:`DivergenceGuard` (a diverging trial raises and is recorded as
    failed).

    Args:
        model_name: a zoo name (``keras_rnnreg.models.names()``).
        fixed: ``{name: value}`` pinned hyperparameters.
        seed: seed of the model's initializers and noise.
        patience: early-stopping patience in epochs (``0``: none).
        divergence_threshold: see :class:`DivergenceGuard`.
        jit_compile, steps_per_execution: passed to ``compile_model``.
    """

    def __init__(self, model_name, fixed=None, seed=0, patience=10, divergence_threshold=1e3,
                 jit_compile="auto", steps_per_execution=1):
        models.spec(model_name)  # clear error listing the valid names
        super().__init__(name=model_name, tunable=True)
        self.model_name = model_name
        self.fixed = dict(fixed or {})
        unknown = sorted(set(self.fixed) - set(search_space.tunable_names(model_name)))
        if unknown:
            raise ValueError(
                f"model {model_name!r} has no hyperparameter {', '.join(unknown)}; "
                f"valid names: {', '.join(search_space.tunable_names(model_name))}"
            )
        self.seed = seed
        self.patience = patience
        self.divergence_threshold = divergence_threshold
        self.jit_compile = jit_compile
        self.steps_per_execution = steps_per_execution

    def config(self, hp):
        """Declare the space on ``hp`` and return the trial's configuration."""
        return search_space.declare(hp, self.model_name, self.fixed)

    def build(self, hp):
        return build_model(self.model_name, self.config(hp), seed=self.seed,
                           jit_compile=self.jit_compile, steps_per_execution=self.steps_per_execution)

    def fit(self, hp, model, *args, **kwargs):
        callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks += trial_callbacks(self.patience, self.divergence_threshold)
        kwargs.setdefault("verbose", 0)
        kwargs.setdefault("shuffle", False)  # the window pipeline shuffles, reproducibly
        return model.fit(*args, callbacks=callbacks, **kwargs)
