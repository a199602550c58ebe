"""The training job: train a zoo model on a benchmark into a run directory.

:func:`train` is the Python API behind ``python -m keras_rnnreg train``:

* the one training loop of train, tune and sweep (:func:`keras_rnnreg.app.fitting.fit`)
  with the shared defaults (:data:`keras_rnnreg.defaults.TRAINING`): Adam by default
  (``sgd`` with Nesterov momentum, the paper's, ``rmsprop`` and ``rmsprop_nesterov``
  selectable), gradient clipping by norm;
* early stopping on ``val_nll`` with the best weights restored;
* a divergence guard (:class:`~keras_rnnreg.app.callbacks.DivergenceGuard`: a run whose
  loss becomes NaN, inf or exceeds 1000 nats per frame ends with status ``"diverged"``);
* resumable: a checkpoint in ``<run_dir>/backup``
  (:class:`~keras_rnnreg.app.callbacks.AtomicBackupAndRestore`) is written
  (atomically) after every epoch; running the
  same call again after a crash or a kill continues from the last finished
  epoch;
* TensorBoard logs, Keras progress bars, the spectral radius of ``W_hh`` per
  epoch;
* reproducible: :func:`keras.utils.set_random_seed` plus the seed passed to the
  model and the data shuffling, so one seed on one machine gives identical
  numbers.

At the end the run directory holds ``model.keras`` (best weights), a
SavedModel export, ``history.csv``, ``spectral_radius.csv`` and
``metrics.json`` (see :mod:`keras_rnnreg.app.rundir`). The reported numbers are NLL
in nats per time step (docs/references.md): ``train_nll`` and ``valid_nll`` on the
100-step windows (padding masked, what early stopping watches), ``test_nll`` on
whole test sequences (the paper's number).
"""

from __future__ import annotations

import math
import os
import pathlib
import platform
import shutil
import time

import keras
import numpy as np

from keras_rnnreg.app import callbacks as cb
from keras_rnnreg.app import evaluation, export, fitting, locking, plots, rundir
from keras_rnnreg import defaults, models, optim

#: Defaults of :func:`train` (and of the ``train`` command), picked by measurement
#: on JSB Chorales with 2 CPU cores (test NLL in nats per time step, early
#: stopping on val_nll):
#:
#: ========================================  =========  ==========
#: setting (200 units, batch 8, clipnorm 5)  test NLL   wall time
#: ========================================  =========  ==========
#: rnn, adam 1e-3 (the defaults)              8.76       ~75 s
#: rnn, adam 5e-4                             8.78       ~2 min
#: rnn, sgd Nesterov 0.05, momentum 0.9       9.04       ~1.5 min
#: rnn, sgd Nesterov 0.01, momentum 0.9       9.05       ~2 min
#: rnn (100 units), sgd Nesterov 0.05         8.98       ~45 s
#: rnn_do, sgd Nesterov 0.05                  8.71       ~4 min
#: ========================================  =========  ==========
#:
#: SGD with Nesterov momentum (the paper's optimizer) overfits within ~15
#: epochs at step sizes that make progress in minutes; Adam reaches a better
#: minimum sooner. Pass ``optimizer="sgd"`` for the paper's setting.
DEFAULTS = defaults.TRAINING

#: Settings that must match for a run directory to be resumed or reused.
IDENTITY_KEYS = (
    "model",
    "dataset",
    "hyperparameters",
    "optimizer",
    "learning_rate",
    "momentum",
    "decay",
    "clipnorm",
    "batch_size",
    "window",
    "seed",
    "source",
    "max_train_sequences",
    "max_valid_sequences",
    "max_test_sequences",
)

STATUS_RUNNING = "running"
STATUS_COMPLETED = "completed"
STATUS_DIVERGED = "diverged"
STATUS_INTERRUPTED = "interrupted"


def default_run_dir(model, dataset, seed, cell="simple"):
    """``runs/<model>_<dataset>_seed<seed>``, ``runs/<model>_<cell>_<dataset>_seed<seed>`` for a gated cell.

    Relative to the working directory.
    """
    name = model if cell == "simple" else f"{model}_{cell}"
    return pathlib.Path("runs") / f"{name}_{dataset}_seed{seed}"


def _check_int(name, value, minimum, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    try:
        ok = float(value) > 0 and math.isfinite(float(value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _resolve_hyperparameters(model, hyperparameters, seed):
    """Defaults of ``model`` updated with ``hyperparameters`` (unknown names rejected)."""
    hyperparameters = dict(hyperparameters or {})
    if "seed" in hyperparameters:
        raise ValueError("pass the seed as train(seed=...), not as a model hyperparameter")
    for key, value in hyperparameters.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"hyperparameter {key} must be a finite number, got {value}")
    full = models.resolve_hyperparameters(model, hyperparameters)
    full["seed"] = seed
    return full


#: The benchmark's splits, cut to their first N sequences (the one loader of train, tune and sweep).
load_splits = fitting.load_splits


# Identity settings added after run directories existed: an old config without
# them was made with this value.
_IDENTITY_DEFAULTS = {"decay": DEFAULTS["decay"]}


def _identity(config):
    return {k: config.get(k, _IDENTITY_DEFAULTS.get(k)) for k in IDENTITY_KEYS}


def _difference(old, new):
    """A short description of the first identity setting that differs, or ``None``."""
    found = rundir.differences(_identity(old), _identity(new), IDENTITY_KEYS,
                               labels={"hyperparameters": "hyperparameter"})
    return found[0] if found else None


def _refuse_changed_budget(rd, old_config, old_metrics, epochs, patience):
    """A finished run asked for again with another ``epochs`` / ``patience``: a clear error.

    Those two are not part of a run's identity (an interrupted run may resume
    with a new budget), but a finished run cannot silently stand for a budget
    it was not trained with.
    """
    for key, new in (("epochs", epochs), ("patience", patience)):
        old = old_config.get(key)
        if old is not None and old != new:
            raise rundir.RunDirError(
                f"run_dir {str(rd.path)!r} holds this run, finished with {key}={old} "
                f"({old_metrics.get('message', 'completed')}); {key}={new} now is not applied to a finished "
                "run: use another run_dir, or overwrite=True (--overwrite) to train again"
            )


def _normalize(obj):
    """JSON round trip, so configs compare equal to what was read back from disk."""
    import json

    return json.loads(json.dumps(rundir._json_safe(obj)))


def _versions():
    import importlib.metadata

    try:  # not imported: under JAX training may run without TensorFlow
        tf_version = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        tf_version = None
    return {"python": platform.python_version(), "tensorflow": tf_version, "keras": keras.__version__,
            "backend": keras.backend.backend()}


def train(model=DEFAULTS["model"], dataset=DEFAULTS["dataset"], run_dir=None, *, hyperparameters=None,
          epochs=DEFAULTS["epochs"], batch_size=DEFAULTS["batch_size"], optimizer=DEFAULTS["optimizer"],
          learning_rate=DEFAULTS["learning_rate"], momentum=DEFAULTS["momentum"], decay=DEFAULTS["decay"],
          clipnorm=DEFAULTS["clipnorm"], patience=DEFAULTS["patience"], seed=DEFAULTS["seed"],
          window=DEFAULTS["window"], data_dir=None, source="mat", max_train_sequences=None,
          max_valid_sequences=None, max_test_sequences=None, verbose=1, jit_compile="auto",
          export_saved_model=True, tensorboard=True, overwrite=False, log=print):
    """Train zoo model ``model`` on benchmark ``dataset`` into ``run_dir``.

    Calling it again with the same settings and ``run_dir`` after an
    interruption resumes from the last finished epoch; on a finished run it
    trains nothing and returns the saved metrics.

    Args:
        model: a name of :func:`keras_rnnreg.models.names`.
        dataset: a name of ``keras_rnnreg.data_pipelines.DATASETS``.
        run_dir: output folder; default :func:`default_run_dir`.
        hyperparameters: model hyperparameters to override (names of
            :func:`keras_rnnreg.models.default_hyperparameters`, except ``seed``).
        epochs: maximum number of epochs, >= 1.
        batch_size: training windows per batch, >= 1.
        optimizer: ``"sgd"`` (Nesterov momentum), ``"rmsprop"``,
            ``"rmsprop_nesterov"`` (climin's, the authors') or ``"adam"``.
        learning_rate: step size, > 0.
        momentum: in [0, 1) (``sgd``, ``rmsprop``, ``rmsprop_nesterov``).
        decay: decay of the squared-gradient average, in [0, 1)
            (``rmsprop``, ``rmsprop_nesterov``; the authors' notebook: 0.8).
        clipnorm: clip each gradient to this norm (``None``: no clipping).
        patience: early-stopping patience in epochs on ``val_nll``; 0 never
            stops early. The weights of the best epoch are restored either way.
        seed: seeds Python, NumPy, TensorFlow, the model and the shuffling.
        window: training/validation window length (100 in the paper).
        data_dir: data folder (default ``$KERAS_RNNREG_DATA_DIR``, else the
            packaged files, else a download).
        source: ``"mat"`` or ``"notes"`` encoding of the data.
        max_train_sequences, max_valid_sequences, max_test_sequences: use only
            the first N sequences of a split (quick runs and tests).
        verbose: 0 silent, 1 progress bars, 2 one line per epoch.
        jit_compile: passed to :func:`keras_rnnreg.optim.compile_model`.
        export_saved_model: also write ``saved_model/``.
        tensorboard: write TensorBoard logs to ``tensorboard/``.
        overwrite: discard an existing run in ``run_dir`` instead of resuming
            it or refusing a different one.
        log: function printing one-line messages (``None``: silent).

    Returns:
        The ``metrics.json`` content as a dict, with ``status`` one of
        ``"completed"`` or ``"diverged"`` (then ``message`` says why).

    Raises:
        ValueError: a bad setting (its message names the value);
            :class:`keras_rnnreg.app.rundir.RunDirError` for an unusable run
            directory; ``DataError`` (a ``ValueError``) for missing data.
    """
    say = (lambda msg: log(msg)) if (log is not None and verbose) else (lambda msg: None)
    config = _check_settings(model, dataset, hyperparameters, epochs, batch_size, optimizer, learning_rate,
                             momentum, decay, clipnorm, patience, seed, window, data_dir, source,
                             max_train_sequences, max_valid_sequences, max_test_sequences, verbose)
    rd = _open_run_dir(run_dir if run_dir is not None else default_run_dir(
        model, dataset, seed, cell=(hyperparameters or {}).get("cell", "simple")))
    with locking.hold(rd.lock, f"run_dir {str(rd.path)!r}"):
        say(f"{model} on {dataset}: run_dir {os.path.abspath(rd.path)}")
        finished, state = _resume_or_start(rd, config, overwrite, say)
        if finished is not None:
            return finished
        rd.prepare()
        rundir.atomic_write_json(rd.config, config)
        keras.utils.set_random_seed(config["seed"])
        splits = load_splits(dataset, data_dir, source, config["max_train_sequences"],
                             config["max_valid_sequences"], config["max_test_sequences"])
        net = _build_model(config, jit_compile)
        run = _Run(rd, config, net, state or {}, say)
        run.fit(splits, verbose, tensorboard)
        if run.divergence() is not None:
            return run.write_diverged()
        return run.write_completed(splits, export_saved_model)


def _check_settings(model, dataset, hyperparameters, epochs, batch_size, optimizer, learning_rate, momentum,
                    decay, clipnorm, patience, seed, window, data_dir, source, max_train_sequences,
                    max_valid_sequences, max_test_sequences, verbose):
    """Validate every setting before touching the disk or the data; the run's config (JSON-normalized)."""
    from keras_rnnreg import data_pipelines

    models.spec(model)
    if dataset not in data_pipelines.DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid names: {', '.join(data_pipelines.DATASETS)}")
    epochs = _check_int("epochs", epochs, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    patience = _check_int("patience", patience, 0)
    seed = _check_int("seed", seed, 0)
    window = _check_int("window", window, 1)
    max_train_sequences = _check_int("max_train_sequences", max_train_sequences, 1, allow_none=True)
    max_valid_sequences = _check_int("max_valid_sequences", max_valid_sequences, 1, allow_none=True)
    max_test_sequences = _check_int("max_test_sequences", max_test_sequences, 1, allow_none=True)
    learning_rate = _check_positive("learning_rate", learning_rate)
    clipnorm = _check_positive("clipnorm", clipnorm, allow_none=True)
    optim.make_optimizer(optimizer, learning_rate, momentum, clipnorm, decay)  # validates name / momentum / decay
    hp = _resolve_hyperparameters(model, hyperparameters, seed)
    models.get(model, **hp)  # validates the values (ValueError naming the bad one)
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    return _normalize({
        "model": model,
        "dataset": dataset,
        "hyperparameters": hp,
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "momentum": float(momentum),
        "decay": float(decay),
        "clipnorm": clipnorm,
        "batch_size": batch_size,
        "window": window,
        "seed": seed,
        "source": source,
        "max_train_sequences": max_train_sequences,
        "max_valid_sequences": max_valid_sequences,
        "max_test_sequences": max_test_sequences,
        "epochs": epochs,
        "patience": patience,
        "data_dir": None if data_dir is None else os.fspath(data_dir),
    })


def _open_run_dir(path):
    """The run directory, created if absent (one that cannot be used raises ``RunDirError``)."""
    rd = rundir.RunDir(path)
    rd.check_usable()
    try:
        rd.path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise rundir.RunDirError(f"cannot create run_dir {str(rd.path)!r}: {e.strerror or e}") from None
    return rd


def _never_trained(state, metrics):
    """A run that stopped before finishing its first epoch (bad data, a kill while building)."""
    return state is None and not metrics.get("epochs_completed") and metrics.get("status") not in (
        STATUS_COMPLETED, STATUS_DIVERGED)


def _resume_or_start(rd, config, overwrite, say):
    """Decide what the run directory's contents mean for this run.

    Returns ``(metrics, None)`` when it already holds this run, finished (nothing to
    train), else ``(None, state)``: the checkpoint state to resume from, or ``None``
    to start fresh. A different run that finished at least one epoch is refused;
    one that never trained is replaced.
    """
    rd.clean_temporaries()
    old_config = rd.read_config()
    old_metrics = rd.read_metrics() or {}
    state = cb.AtomicBackupAndRestore.read_state(rd.backup)
    if overwrite:
        rd.clear()
        return None, None
    if old_config is None:
        if any((rd.path / name).exists() for name in rundir.RUN_FILES):
            raise rundir.RunDirError(
                f"run_dir {str(rd.path)!r} holds files of an unknown run; "
                "use another run_dir or overwrite=True (--overwrite)"
            )
        return None, state
    diff = _difference(old_config, config)
    if diff is not None:
        if _never_trained(state, old_metrics):
            say(f"run_dir {str(rd.path)} holds a run that never finished an epoch ({diff}); replacing it")
            rd.clear()
            return None, None
        raise rundir.RunDirError(
            f"run_dir {str(rd.path)!r} holds a different run ({diff}); "
            "use another run_dir or overwrite=True (--overwrite)"
        )
    if state is None and old_metrics.get("status") == STATUS_COMPLETED and rd.model.is_file():
        _refuse_changed_budget(rd, old_config, old_metrics, config["epochs"], config["patience"])
        say(f"run_dir {str(rd.path)} already holds this completed run; "
            "nothing to train (use --overwrite to train again)")
        if not (rd.path / plots.LEARNING_CURVES).exists():  # runs finished before it existed
            plots.write_learning_curves(rd.path, old_metrics.get("best_epoch"))
        return old_metrics, None
    if state is None:
        rd.clear()  # an unfinished run without a checkpoint: start over
    return None, state


def _build_model(config, jit_compile):
    """The zoo model of ``config``, compiled with its optimizer."""
    net = models.get(config["model"], **config["hyperparameters"])
    net_optimizer = optim.make_optimizer(config["optimizer"], config["learning_rate"], config["momentum"],
                                         config["clipnorm"], config["decay"])
    optim.compile_model(net, net_optimizer, jit_compile=jit_compile)
    return net


class _Run:
    """One training run in its run directory: the callbacks, the fit and the final metrics."""

    def __init__(self, rd, config, net, state, say):
        self.rd, self.config, self.net, self.state, self.say = rd, config, net, state, say
        self.resumed_from = int(state.get("epoch", 0))
        self.previous_wall = float(state.get("wall_time_s", 0.0))
        self.started = time.monotonic()
        self.resumes = list(state.get("resumed_from_epochs", []))
        if self.resumed_from > 0:
            self.resumes.append(self.resumed_from)
            say(f"resuming {str(rd.path)} after epoch {self.resumed_from}")
        self.base_metrics = {
            "model": config["model"],
            "dataset": config["dataset"],
            "hyperparameters": config["hyperparameters"],
            "seed": config["seed"],
            "training": {k: config[k] for k in (
                "optimizer", "learning_rate", "momentum", "decay", "clipnorm", "batch_size", "window",
                "epochs", "patience", "max_train_sequences", "max_valid_sequences", "max_test_sequences")},
            "parameter_count": int(net.count_params()),
            "nll_unit": "nats per time step",
            "versions": _versions(),
        }
        self.guard = cb.DivergenceGuard(cb.DIVERGENCE_THRESHOLD)

    def elapsed(self):
        return self.previous_wall + (time.monotonic() - self.started)

    def _write_running(self, rows):
        vals = [float(r["val_nll"]) for r in rows if "val_nll" in r and math.isfinite(float(r["val_nll"]))]
        rundir.atomic_write_json(self.rd.metrics, {
            **self.base_metrics,
            "status": STATUS_RUNNING,
            "epochs_completed": len(rows),
            "best_valid_nll_so_far": min(vals) if vals else None,
            "wall_time_s": self.elapsed(),
            "resumed_from_epochs": self.resumes,
        })

    def _callbacks(self, verbose, tensorboard):
        rd, state, net = self.rd, self.state, self.net
        self.sr_logger = cb.SpectralRadiusLogger(rd.spectral_radius, rows=state.get("spectral_radius"), deferred=True)
        self.history = cb.HistoryWriter(rd.history, rows=state.get("history"), on_epoch=self._write_running,
                                        deferred=True)
        self.stopper = fitting.early_stopping(
            self.config["patience"], verbose=1 if verbose else 0, cls=cb.ResumableEarlyStopping,
            best_weights_path=rd.backup / "best_weights.npz", state=state.get("early_stopping"),
        )

        def extra_state():
            return {
                "history": self.history.rows,
                "spectral_radius": self.sr_logger.rows,
                "early_stopping": self.stopper.get_state(),
                "wall_time_s": self.elapsed(),
                "resumed_from_epochs": self.resumes,
                "finished": bool(net.stop_training),
            }

        def after_epoch():
            self.sr_logger.flush()
            self.history.flush()  # history.csv, then the running metrics.json

        backup = cb.AtomicBackupAndRestore(rd.backup, extra_state=extra_state, after_epoch=after_epoch,
                                           skip_if=lambda: self.guard.divergence is not None)
        callbacks = [self.sr_logger, self.history, self.stopper]
        if tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=os.fspath(rd.tensorboard), write_graph=False))
        return callbacks + [backup]

    def fit(self, splits, verbose, tensorboard):
        """Train from the checkpoint (or the start) to the end or an early stop."""
        config, net, state = self.config, self.net, self.state
        from keras_rnnreg import data_pipelines

        # Epoch e's order depends on the seed and e alone: a resumed run trains on what the
        # uninterrupted one did (an order counted from the start would repeat epoch 1's).
        train_ds, valid_ds = fitting.window_datasets(splits, config["window"], config["batch_size"], config["seed"],
                                                     epochs_from=self.resumed_from)
        windows = sum(data_pipelines.window_count(len(s), config["window"]) for s in splits["train"])
        steps = data_pipelines.batches_per_epoch(windows, config["batch_size"])
        self.valid_ds = valid_ds
        callbacks = self._callbacks(verbose, tensorboard)
        if self.resumed_from == 0:
            self._write_running([])
        if state.get("finished", False) or self.resumed_from >= config["epochs"]:
            # Killed after the last epoch but before the results were written.
            net.optimizer.build(net.trainable_variables)
            net.load_weights(os.fspath(cb.AtomicBackupAndRestore.weights_file(self.rd.backup, state)))
            self.stopper.set_model(net)
            self.stopper.on_train_begin()
            if self.stopper.best_weights is not None:
                net.set_weights(self.stopper.best_weights)
            self.history.rows = [dict(r) for r in state.get("history", [])]
            return
        try:
            # The backup restores the committed weights; the epoch to go on from is fit's argument.
            fitting.fit(net, train_ds, valid_ds, epochs=config["epochs"], initial_epoch=self.resumed_from,
                        steps_per_epoch=steps, verbose=verbose, stopper=self.stopper, guard=self.guard,
                        callbacks=callbacks)
        except KeyboardInterrupt:
            metrics = {**(self.rd.read_metrics() or {}), "status": STATUS_INTERRUPTED,
                       "message": "interrupted; run the same command again to resume"}
            rundir.atomic_write_json(self.rd.metrics, metrics)
            raise

    def divergence(self):
        """Why training diverged, or ``None``."""
        if self.guard.divergence is not None:
            return self.guard.divergence
        if not all(np.all(np.isfinite(w)) for w in self.net.get_weights()):
            return "the weights are not finite"
        return None

    def _commit(self, metrics, best_epoch=None):
        rundir.atomic_write_json(self.rd.metrics, metrics)
        shutil.rmtree(self.rd.backup, ignore_errors=True)
        if best_epoch is None:
            plots.write_learning_curves(self.rd.path)
        else:
            plots.write_learning_curves(self.rd.path, best_epoch)
        return metrics

    def write_diverged(self):
        epochs_done = len(self.history.rows)
        epoch = self.guard.diverged_epoch or epochs_done
        config = self.config
        message = (
            f"training diverged in epoch {epoch} ({self.divergence()}) with "
            f"learning_rate={config['learning_rate']:g}, clipnorm={config['clipnorm']}; try a smaller "
            "--learning_rate or a --clipnorm"
        )
        return self._commit({
            **self.base_metrics,
            "status": STATUS_DIVERGED,
            "message": message,
            "epochs_completed": epochs_done,
            "train_nll": None,
            "valid_nll": None,
            "test_nll": None,
            "wall_time_s": self.elapsed(),
            "resumed_from_epochs": self.resumes,
        })

    def write_completed(self, splits, export_saved_model):
        """The final numbers with the best weights; ``model.keras``, the export and ``metrics.json``."""
        from keras_rnnreg import data_pipelines

        net, config, rd = self.net, self.config, self.rd
        epochs_done = len(self.history.rows)
        train_eval = data_pipelines.make_window_dataset(splits["train"], config["window"], config["batch_size"],
                                                        shuffle=False)
        train_nll = float(net.evaluate(train_eval, verbose=0, return_dict=True)["nll"])
        valid_nll = float(net.evaluate(self.valid_ds, verbose=0, return_dict=True)["nll"])
        test_nll = evaluation.evaluate_nll(net, splits["test"])
        best_epoch = self.stopper.best_epoch + 1 if self.stopper.best is not None else epochs_done
        stopped_early = epochs_done < config["epochs"]

        rundir.atomic_save_model(net, rd.model)
        export_error = None
        if export_saved_model:
            try:
                export.export_saved_model(net, rd.saved_model)
            except Exception as e:  # noqa: BLE001  (the trained model.keras is kept either way)
                export_error = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
                self.say(f"warning: SavedModel export failed ({export_error}); model.keras is saved")
        radii = [float(r["spectral_radius"]) for r in self.sr_logger.rows]
        metrics = {
            **self.base_metrics,
            "status": STATUS_COMPLETED,
            "message": (f"stopped early after epoch {epochs_done} (no val_nll improvement for "
                        f"{config['patience']} epochs)" if stopped_early else f"trained {epochs_done} epochs"),
            "epochs_completed": epochs_done,
            "best_epoch": best_epoch,
            "stopped_early": stopped_early,
            "train_nll": train_nll,
            "valid_nll": valid_nll,
            "test_nll": test_nll,
            "spectral_radius_init": radii[0] if radii else None,
            "spectral_radius_final": spectral_radius_of(net),
            "wall_time_s": self.elapsed(),
            "resumed_from_epochs": self.resumes,
        }
        if export_error is not None:
            metrics["export_error"] = export_error
        return self._commit(metrics, best_epoch)


def spectral_radius_of(model, layer_name="hidden"):
    """Spectral radius of the model's ``W_hh`` (``None`` if it has none)."""
    from keras_rnnreg.rnn.initializers import spectral_radius

    kernel = cb.recurrent_kernel(model, layer_name)
    return None if kernel is None else spectral_radius(kernel)


def load_trained_model(run_dir):
    """The trained ``model.keras`` of a run directory (loaded with ``safe_mode=True``)."""
    return export.load_keras_model(rundir.RunDir(run_dir).require_model())
