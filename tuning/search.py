"""One hyperparameter search, end to end: data, tuner, search, test evaluation, summary.

>>> from keras_rnnreg.tuning.search import SearchSettings, run_search
>>> summary = run_search(SearchSettings(model="rnn_mns", directory="runs/mns", trials=50))

``run_search`` resumes an existing ``directory`` (KerasTuner's
``overwrite=False`` reload): completed trials are kept, a trial interrupted
by a crash or SIGKILL is run again, and only the missing trials run. Inside a
KerasTuner distributed run (``KERASTUNER_*`` variables set) the same call acts
as the chief (serves the oracle, then evaluates the best trial and writes the
summary) or as a worker (runs trials, writes nothing else).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

from keras_rnnreg.app import evaluation, fitting, rundir
from keras_rnnreg import defaults, models

from . import state as state_lib
from . import summary as summary_lib
from . import tuner as tuner_lib
from .hypermodel import RNNHyperModel, TrialDiverged, build_model

FINAL_MODES = ("reload", "retrain", "none")
STRATEGIES = ("none", "mirrored")
CONFIG_FILE = "search_config.json"
# Settings that must not change when a search is resumed.
IDENTITY_KEYS = ("model", "dataset", "tuner", "seed", "fixed", "ranges", "batch_size", "window", "project_name",
                 "max_train_sequences", "max_valid_sequences", "hyperband_factor")


@dataclasses.dataclass
class SearchSettings:
    """Everything a search needs (the CLI flags of ``tune``).

    ``epochs`` caps the epochs of each trial (early stopping with
    ``patience`` ends most trials sooner). ``max_*_sequences`` keep only the
    first N sequences of a split (smoke tests). ``final`` chooses how the
    best configuration is evaluated on the test split: ``"reload"`` its
    best-epoch checkpoint, ``"retrain"`` it from scratch, or ``"none"``.
    """

    model: str
    directory: str
    dataset: str = "jsb_chorales"
    data_dir: str | None = None
    project_name: str | None = None
    trials: int = defaults.TRIALS
    epochs: int = defaults.TRAINING["epochs"]
    patience: int = defaults.TRAINING["patience"]
    seed: int = 0
    tuner: str = "random"
    batch_size: int = defaults.TRAINING["batch_size"]
    window: int = defaults.TRAINING["window"]
    fixed: dict = dataclasses.field(default_factory=dict)
    ranges: dict = dataclasses.field(default_factory=dict)
    final: str = "reload"
    max_consecutive_failed_trials: int = 10
    divergence_threshold: float | None = defaults.DIVERGENCE_THRESHOLD
    overwrite: bool = False
    repair: bool = False
    max_train_sequences: int | None = None
    max_valid_sequences: int | None = None
    max_test_sequences: int | None = None
    distribution_strategy: str = "none"
    hyperband_factor: int = 3
    hyperband_iterations: int = 1
    verbose: int = 1
    jit_compile: object = "auto"
    force_nan_trials: tuple = ()

    def __post_init__(self):
        models.spec(self.model)  # unknown model: error listing the valid names
        tuner_lib.check_available(self.tuner)
        if self.final not in FINAL_MODES:
            raise ValueError(f"unknown final mode {self.final!r}; valid: {', '.join(FINAL_MODES)}")
        if self.distribution_strategy not in STRATEGIES:
            raise ValueError(
                f"unknown distribution strategy {self.distribution_strategy!r}; valid: {', '.join(STRATEGIES)}"
            )
        for key in ("trials", "epochs", "batch_size", "window"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if int(self.seed) < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.project_name is None:
            self.project_name = f"{self.model}_{self.dataset}"
        state_lib.check_project_name(self.project_name)
        state_lib.check_directory(self.directory)

    @property
    def project_dir(self):
        return os.path.join(str(self.directory), self.project_name)

    def identity(self):
        # No ``ranges`` key for the table's own space, so searches recorded before
        # ``ranges`` existed still resume.
        return {k: getattr(self, k) for k in IDENTITY_KEYS if k != "ranges" or self.ranges}


def _load_splits(settings):
    return fitting.load_splits(settings.dataset, settings.data_dir, max_train_sequences=settings.max_train_sequences,
                               max_valid_sequences=settings.max_valid_sequences,
                               max_test_sequences=settings.max_test_sequences)


def make_strategy(name):
    if name == "mirrored":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy()
    return None


def _check_config(settings):
    """Refuse to resume a directory made with different settings; record them (atomically)."""
    path = os.path.join(str(settings.directory), CONFIG_FILE)
    current = json.loads(json.dumps(settings.identity()))
    if os.path.exists(path) and not settings.overwrite:
        found = rundir.differences(rundir.read_json(path), current, IDENTITY_KEYS)
        if found:
            detail = "; ".join(found)
            raise ValueError(
                f"{settings.directory} holds a search with other settings ({detail}); "
                "use the same flags to resume it, another --directory, or --overwrite"
            )
    os.makedirs(str(settings.directory), exist_ok=True)
    rundir.atomic_write_json(path, current)


def check_or_repair_state(settings, log=print):
    """Before KerasTuner reads the directory: every state file must be readable.

    With ``settings.repair`` the unreadable ones are rebuilt
    (:func:`.state.repair_state`); otherwise the first one is an error naming
    it and the way out (``SearchStateError``).
    """
    if settings.repair:
        template = tuner_lib.oracle_template(
            settings.tuner, settings.seed, settings.trials, settings.epochs, settings.hyperband_factor,
            settings.hyperband_iterations,
        )
        done = state_lib.repair_state(settings.directory, settings.project_name,
                                      json.loads(json.dumps(settings.identity())), template, settings.tuner)
        for path, what in done:
            log(f"repaired {path}: {what}")
        if not done:
            log(f"--repair: every state file in {settings.directory} is readable; nothing to repair")
    state_lib.check_state(settings.directory, settings.project_name)


def build_tuner(settings):
    """The (possibly reloaded) tuner of ``settings``."""
    hypermodel = RNNHyperModel(
        settings.model, fixed=settings.fixed, ranges=settings.ranges, seed=settings.seed, patience=settings.patience,
        divergence_threshold=settings.divergence_threshold, jit_compile=settings.jit_compile,
    )
    return tuner_lib.make_tuner(
        settings.tuner, hypermodel, settings.directory, settings.project_name,
        max_trials=settings.trials, max_epochs=settings.epochs, seed=settings.seed,
        distribution_strategy=make_strategy(settings.distribution_strategy),
        max_consecutive_failed_trials=settings.max_consecutive_failed_trials,
        overwrite=False, hyperband_factor=settings.hyperband_factor,
        hyperband_iterations=settings.hyperband_iterations, force_nan_trials=settings.force_nan_trials,
    )


def _final_model(settings, tuner, best, splits):
    if settings.final == "reload":
        import warnings

        with warnings.catch_warnings():  # the fresh optimizer has no slots yet; only weights matter here
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return tuner.load_model(tuner.oracle.get_trial(best["trial_id"]))
    import keras

    keras.utils.set_random_seed(settings.seed)
    config = dict(tuner.oracle.get_trial(best["trial_id"]).hyperparameters.values)
    config = {k: v for k, v in config.items() if not k.startswith("tuner/")}
    import contextlib

    strategy = tuner.distribution_strategy
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(settings.model, config, seed=settings.seed, jit_compile=settings.jit_compile)
    train, valid = fitting.window_datasets(splits, settings.window, settings.batch_size, settings.seed)
    fitting.fit(model, train, valid, epochs=settings.epochs, patience=settings.patience,
                divergence_threshold=settings.divergence_threshold, divergence_error=TrialDiverged)
    return model


def lock_path(settings):
    """``DIR/.<project_name>.<tuner_id>.lock``: one process per tuner id and search."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    return os.path.join(str(settings.directory), f".{settings.project_name}.{tuner_id}.lock")


def run_search(settings):
    """Run (or resume) the search of ``settings`` and write its summary.

    One process per tuner id (``tuner0`` on a single machine; ``chief``,
    ``tunerN`` in a distributed search) may work on a search at a time: a
    second one fails at once with :class:`keras_rnnreg.app.locking.LockedError`
    naming the holder. A lock left by a killed process is taken over.

    Returns:
        The summary dict written to ``directory/summary.json``, or ``None`` in
        a distributed worker. ``summary["error"]`` is set when the search
        stopped early (e.g. too many consecutive failed trials);
        ``summary["best"]["test_error"]`` when the test evaluation failed.
    """
    from keras_rnnreg.app import locking

    state_lib.check_directory(settings.directory)
    os.makedirs(str(settings.directory), exist_ok=True)
    with locking.hold(lock_path(settings), f"search {settings.project_dir!r}"):
        return _run_search(settings)


def _run_search(settings):
    worker = tuner_lib.is_worker()
    if settings.overwrite and not worker:
        # Only what a search wrote; never anything outside --directory (see .state).
        state_lib.clear_search(settings.directory, settings.project_name)
    if not worker:
        check_or_repair_state(settings, log=print if settings.verbose else (lambda msg: None))
        _check_config(settings)
    started = time.time()
    splits = None
    fit_args, fit_kwargs = (), {}
    if not tuner_lib.is_chief():
        splits = _load_splits(settings)
        train, valid = fitting.window_datasets(splits, settings.window, settings.batch_size, settings.seed)
        fit_args = (train,)
        fit_kwargs = dict(validation_data=valid, epochs=settings.epochs, verbose=0)
    tuner = build_tuner(settings)
    tuner.oracle.verbose = settings.verbose if not worker else 0
    tuner.progress = settings.verbose  # one line per finished trial on stderr (0: none)
    error = None
    try:
        tuner.search(*fit_args, **fit_kwargs)
    except RuntimeError as e:  # e.g. "Number of consecutive failures exceeded the limit"
        if worker:
            raise
        error = str(e).strip().splitlines()[0]
    if worker:
        return None

    records = summary_lib.oracle_records(tuner.oracle)
    best = summary_lib.best_record(records)
    best_entry = None
    if best is not None:
        best_entry = dict(best, final=settings.final, test_nll=None, test_error=None)
        if settings.final != "none":
            try:
                if splits is None:
                    splits = _load_splits(settings)
                model = _final_model(settings, tuner, best, splits)
                best_entry["test_nll"] = float(evaluation.evaluate_nll(model, splits["test"]))
            except Exception as e:  # keep the search's results even if the evaluation breaks
                best_entry["test_error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    summary = {
        "model": settings.model,
        "dataset": settings.dataset,
        "tuner": settings.tuner,
        "objective": {"name": "val_nll", "direction": "min"},
        "max_trials": settings.trials if settings.tuner != "hyperband" else None,
        "epochs": settings.epochs,
        "seed": settings.seed,
        "fixed": settings.fixed,
        "ranges": {k: list(v) for k, v in settings.ranges.items()},
        "project_dir": settings.project_dir,
        "status_counts": summary_lib.status_counts(records),
        "run_counts": summary_lib.run_counts(settings.project_dir),
        "best": best_entry,
        "error": error,
        "seconds_this_run": round(time.time() - started, 1),
        # Over every sitting of the search (trials' own time, see summary.trial_seconds).
        "trial_seconds": summary_lib.trial_seconds(settings.project_dir),
        "trials": records,
    }
    summary_lib.write_summary(summary, settings.directory)
    return summary
