"""KerasTuner ``HyperModel`` for every zoo model; its trials train through :mod:`keras_rnnreg.app.fitting`."""

from __future__ import annotations

import keras_tuner as kt

from keras_rnnreg.app import fitting
from keras_rnnreg import defaults, models
from keras_rnnreg.optim import compile_model

from . import search_space

OBJECTIVE_NAME = fitting.MONITOR


def objective():
    """The search objective: validation NLL (nats per time step), minimized."""
    return kt.Objective(OBJECTIVE_NAME, "min")


class TrialDiverged(kt.errors.FailedTrialError):
    """Raised from ``fit`` when the training loss is NaN / inf / absurdly large.

    A ``FailedTrialError``: KerasTuner records the trial as ``FAILED`` (no
    retry) and the search goes on with the next trial.
    """


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
    *args, **kwargs)`` trains it through the training loop of ``train``
    (:func:`keras_rnnreg.app.fitting.fit`: early stopping on ``val_nll``, the
    divergence guard, raising :class:`TrialDiverged` so a diverging trial is
    recorded as failed). KerasTuner keeps the best epoch's checkpoint itself,
    so the trial does not restore weights.

    Args:
        model_name: a zoo name (``keras_rnnreg.models.names()``).
        fixed: ``{name: value}`` pinned hyperparameters.
        ranges: ``{name: (low, high)}`` bounds replacing those of
            ``tuning/SEARCH_SPACE.md`` (see :func:`.search_space.space`).
        seed: seed of the model's initializers and noise.
        patience: early-stopping patience in epochs (``0``: none).
        divergence_threshold: see :class:`keras_rnnreg.app.callbacks.DivergenceGuard`.
        jit_compile, steps_per_execution: passed to ``compile_model``.
    """

    def __init__(self, model_name, fixed=None, seed=0, ranges=None, patience=defaults.TRAINING["patience"],
                 divergence_threshold=defaults.DIVERGENCE_THRESHOLD,
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
        self.ranges = dict(ranges or {})
        search_space.space(model_name, self.ranges)  # clear error on a name without a numeric row
        self.seed = seed
        self.patience = patience
        self.divergence_threshold = divergence_threshold
        self.jit_compile = jit_compile
        self.steps_per_execution = steps_per_execution

    def config(self, hp):
        """Declare the space on ``hp`` and return the trial's configuration."""
        return search_space.declare(hp, self.model_name, self.fixed, self.ranges)

    def build(self, hp):
        return build_model(self.model_name, self.config(hp), seed=self.seed,
                           jit_compile=self.jit_compile, steps_per_execution=self.steps_per_execution)

    def fit(self, hp, model, *args, **kwargs):
        outcome = fitting.fit(
            model, *args, patience=self.patience, restore_best_weights=False,
            divergence_threshold=self.divergence_threshold, divergence_error=TrialDiverged,
            callbacks=list(kwargs.pop("callbacks", None) or []), **kwargs,
        )
        return outcome.history  # a History: KerasTuner reads the best epoch's val_nll from it
