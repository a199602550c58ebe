"""Keras callbacks of the training job: resumable state, history, spectral radius.

All of them write their files atomically (:mod:`keras_rnnreg.app.rundir`) and can
be restored from a previous, interrupted run:

* :class:`SpectralRadiusLogger` adds ``spectral_radius`` (of ``W_hh``) to the
  epoch logs (so it lands in the history) and writes it to a CSV file.
* :class:`DivergenceGuard` stops (or fails) a run whose loss is NaN, inf or
  exploding: the one divergence check of ``train``, tuner trials and sweeps.
* :class:`HistoryWriter` keeps ``history.csv`` and a "running" ``metrics.json``
  up to date after every epoch.
* :class:`ResumableEarlyStopping` is :class:`keras.callbacks.EarlyStopping`
  whose state (best value, best epoch, patience counter, best weights) survives
  a restart.
* :class:`AtomicBackupAndRestore` does what :class:`keras.callbacks.BackupAndRestore`
  does, writing its checkpoint atomically, with extra JSON state from the
  callbacks above, and never saving non-finite weights.
"""

from __future__ import annotations

import math
import os
import pathlib
import time

import keras
import numpy as np

from keras_rnnreg.app import faults, rundir
from keras_rnnreg import defaults
from keras_rnnreg.rnn.initializers import spectral_radius

HISTORY_FIELDS = ("epoch", "loss", "nll", "val_loss", "val_nll", "spectral_radius")


def _finite(value):
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def recurrent_kernel(model, layer_name="hidden"):
    """The ``W_hh`` variable of the model's recurrent layer ``layer_name``."""
    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        return None
    return getattr(layer, "recurrent_kernel", None)


class SpectralRadiusLogger(keras.callbacks.Callback):
    """Log the spectral radius of ``W_hh`` at every epoch end.

    Adds ``logs["spectral_radius"]`` (place this callback before the others so
    they see it) and writes ``epoch,spectral_radius`` rows to ``path``; row
    ``epoch=0`` is the initialization, row ``e`` the end of epoch ``e``.

    Args:
        path: CSV file (``None``: only the logs).
        layer_name: name of the recurrent layer.
        rows: rows of an interrupted run to continue from.
        deferred: only collect the rows at each epoch end; :meth:`flush` writes
            them (``train`` flushes once the epoch's checkpoint is committed, so
            the file is never ahead of it).
    """

    def __init__(self, path=None, layer_name="hidden", rows=None, deferred=False):
        super().__init__()
        self.path = None if path is None else pathlib.Path(path)
        self.layer_name = layer_name
        self.rows = [dict(r) for r in (rows or [])]
        self.deferred = deferred

    def flush(self):
        """Write the rows collected so far."""
        self._write()

    def _radius(self):
        kernel = recurrent_kernel(self.model, self.layer_name)
        if kernel is None:
            return None
        value = keras.ops.convert_to_numpy(kernel)
        if not np.all(np.isfinite(value)):
            return float("nan")
        return spectral_radius(value)

    def _write(self):
        if self.path is not None:
            rundir.atomic_write_csv(self.path, self.rows, ("epoch", "spectral_radius"))

    def on_train_begin(self, logs=None):
        if not self.rows:
            radius = self._radius()
            if radius is not None:
                self.rows.append({"epoch": 0, "spectral_radius": radius})
                self._write()

    def on_epoch_end(self, epoch, logs=None):
        radius = self._radius()
        if radius is None:
            return
        if logs is not None:
            logs["spectral_radius"] = radius
        self.rows = [r for r in self.rows if int(r["epoch"]) <= epoch]
        self.rows.append({"epoch": epoch + 1, "spectral_radius": radius})
        if not self.deferred:
            self._write()


DIVERGENCE_THRESHOLD = defaults.DIVERGENCE_THRESHOLD


class DivergenceGuard(keras.callbacks.Callback):
    """Stop training, or fail it, when the loss diverges.

    After every batch it checks the training loss, after every epoch the
    epoch's ``loss``, ``val_loss`` and ``val_nll``: a value that is NaN,
    infinite or above ``threshold`` (nats per frame) sets :attr:`divergence`
    (what happened) and :attr:`diverged_epoch` (1-based) for the first such
    value, and sets ``model.stop_training``. With ``error`` set it then also
    raises ``error(message)`` (a tuner trial raises ``TrialDiverged``, so
    KerasTuner records the trial as failed). It replaces
    :class:`keras.callbacks.TerminateOnNaN`, which neither catches an
    exploding finite loss nor says why training stopped.

    Args:
        threshold: the largest acceptable loss (``None``: only NaN / inf count).
        error: exception class to raise on divergence, or ``None``.
    """

    def __init__(self, threshold=DIVERGENCE_THRESHOLD, error=None):
        super().__init__()
        self.threshold = None if threshold is None else float(threshold)
        self.error = error
        self.divergence = None
        self.diverged_epoch = None
        self._epoch = 0

    def _check(self, key, value, where):
        if value is None:
            return
        try:
            value = float(keras.ops.convert_to_numpy(value))
        except (TypeError, ValueError):
            return
        if not math.isfinite(value):
            what = f"{key} is {value}"
        elif self.threshold is not None and value > self.threshold:
            what = f"{key} {value:.4g} exceeds the divergence threshold {self.threshold:g}"
        else:
            return
        if self.divergence is None:
            self.divergence, self.diverged_epoch = what, self._epoch + 1
        self.model.stop_training = True
        if self.error is not None:
            raise self.error(f"training diverged: {what} at {where}")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check("loss", (logs or {}).get("loss"), f"batch {batch} of epoch {self._epoch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch
        for key in ("loss", "val_loss", "val_nll"):
            self._check(key, (logs or {}).get(key), f"the end of epoch {epoch + 1}")


class HistoryWriter(keras.callbacks.Callback):
    """Write ``history.csv`` and a "running" ``metrics.json`` after every epoch.

    Not :class:`keras.callbacks.CSVLogger` (``append=True``): it appends a line
    in place, so a kill mid-write leaves a partial row, and after a resume the
    rows of epochs newer than the checkpoint would stay. This one rewrites the
    file atomically from rows the checkpoint carries (1-based epochs, like
    ``metrics.json``), so the file always matches the committed state.
    Likewise the best weights are kept by :class:`ResumableEarlyStopping` in
    epoch-named files rather than :class:`keras.callbacks.ModelCheckpoint`
    (``save_best_only``), which overwrites one file before the epoch is
    committed.

    Args:
        history_path: the CSV file.
        rows: history rows of an interrupted run (epochs are 1-based).
        on_epoch: optional ``fn(rows)`` called after writing (e.g. to refresh
            ``metrics.json``).
        deferred: only collect the row at each epoch end; :meth:`flush` writes
            the file and calls ``on_epoch`` (see :class:`SpectralRadiusLogger`).
    """

    def __init__(self, history_path, rows=None, on_epoch=None, deferred=False):
        super().__init__()
        self.history_path = pathlib.Path(history_path)
        self.rows = [dict(r) for r in (rows or [])]
        self.on_epoch = on_epoch
        self.deferred = deferred

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            try:
                row[key] = float(keras.ops.convert_to_numpy(value))
            except (TypeError, ValueError):
                continue
        self.rows = [r for r in self.rows if int(float(r["epoch"])) <= epoch]
        self.rows.append(row)
        if not self.deferred:
            self.flush()

    def flush(self):
        """Write ``history.csv`` from the rows collected so far, then call ``on_epoch``."""
        fields = list(HISTORY_FIELDS)
        for r in self.rows:
            fields.extend(k for k in r if k not in fields)
        rundir.atomic_write_csv(self.history_path, self.rows, fields)
        if self.on_epoch is not None:
            self.on_epoch(self.rows)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping whose state survives an interrupted run.

    Same arguments as :class:`keras.callbacks.EarlyStopping`, plus:

    Args:
        best_weights_path: ``.npz`` file name pattern for the best weights: at
            each improvement in epoch ``e`` they are written (atomically) to
            ``<stem>-<e>.npz`` next to it, and :meth:`get_state` names that
            file, so the state committed with a checkpoint always names the
            weights it means (a file of a newer, uncommitted epoch is never
            read).
        state: :meth:`get_state` of the interrupted run, or ``None``.
    """

    def __init__(self, *args, best_weights_path=None, state=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.best_weights_path = None if best_weights_path is None else pathlib.Path(best_weights_path)
        self._resume_state = state
        self._best_file = (state or {}).get("best_weights_file")

    def _resume_file(self):
        if self.best_weights_path is None:
            return None
        if self._best_file:
            return self.best_weights_path.parent / self._best_file
        return self.best_weights_path  # a checkpoint of an earlier version

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        state = self._resume_state
        if not state:
            return
        self.best = state.get("best")
        self.best_epoch = int(state.get("best_epoch", 0))
        self.wait = int(state.get("wait", 0))
        path = self._resume_file()
        if self.restore_best_weights and path is not None and path.is_file():
            with np.load(path) as data:
                self.best_weights = [data[f"w{i}"] for i in range(len(data.files))]

    def on_epoch_end(self, epoch, logs=None):
        before = self.best
        super().on_epoch_end(epoch, logs)
        improved = self.best is not None and self.best != before
        if improved and self.restore_best_weights and self.best_weights_path is not None:
            arrays = {f"w{i}": w for i, w in enumerate(self.best_weights)}
            name = f"{self.best_weights_path.stem}-{epoch + 1:05d}.npz"
            with rundir.atomic_path(self.best_weights_path.parent / name, suffix=".npz") as tmp:
                np.savez(tmp, **arrays)
            self._best_file = name

    def get_state(self):
        """JSON-able state: best value, best epoch (0-based), patience counter, best-weights file."""
        best = None if self.best is None else float(self.best)
        return {"best": best, "best_epoch": int(self.best_epoch), "wait": int(self.wait),
                "best_weights_file": self._best_file}


class AtomicBackupAndRestore(keras.callbacks.Callback):
    """Back up the training state every epoch and restore it, committing in one step.

    What :class:`keras.callbacks.BackupAndRestore` does, with public API only
    (``BackupAndRestore`` is extended through private hooks only). Each epoch's
    weights go to a new file, ``weights-<epoch>.weights.h5`` (written
    atomically); then ``training_metadata.json`` (atomically) names that file,
    together with ``extra_state()`` (history, early stopping state and its
    best-weights file, wall time...). The metadata rename is the commit: a kill
    before it leaves the previous checkpoint (metadata *and* the weights it
    names) intact, a kill after it the new one. Files no committed metadata
    names are removed after the commit. A checkpoint is not written when the
    epoch's loss is not finite (a diverged run must not resume from NaN
    weights). The checkpoint is kept after training.

    At the start of training the committed weights (if any) are loaded. A
    callback cannot move ``fit``'s first epoch with public API: pass
    ``initial_epoch=AtomicBackupAndRestore.resume_epoch(backup_dir)`` to
    ``fit``; the first epoch is checked against the checkpoint (``ValueError``
    when they differ).

    Args:
        backup_dir: the folder.
        extra_state: callable returning a JSON-able dict, or ``None``.
        skip_if: callable; when it returns true the epoch is not saved (e.g.
            the run diverged).
        after_epoch: callable run at each epoch end after the commit (or the
            skipped commit): ``train`` writes ``history.csv``,
            ``spectral_radius.csv`` and the running ``metrics.json`` there.
    """

    METADATA = "training_metadata.json"
    LEGACY_WEIGHTS = "latest.weights.h5"

    def __init__(self, backup_dir, extra_state=None, skip_if=None, after_epoch=None):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        self.backup_dir = os.fspath(backup_dir)
        self.extra_state = extra_state
        self.skip_if = skip_if
        self.after_epoch = after_epoch
        self.expected_first_epoch = None

    @classmethod
    def weights_file(cls, backup_dir, metadata):
        """The weights file a committed ``metadata`` names."""
        return pathlib.Path(backup_dir) / (metadata.get("weights_file") or cls.LEGACY_WEIGHTS)

    @classmethod
    def read_state(cls, backup_dir):
        """The committed metadata of the checkpoint in ``backup_dir`` (``None`` if there is none).

        Returns ``None`` too when the weights file it names is missing, so a
        half-made checkpoint is never trusted.
        """
        metadata = rundir.read_json(pathlib.Path(backup_dir) / cls.METADATA)
        if not isinstance(metadata, dict) or not cls.weights_file(backup_dir, metadata).is_file():
            return None
        return metadata

    @classmethod
    def resume_epoch(cls, backup_dir):
        """The ``initial_epoch`` for ``fit``: epochs the committed checkpoint holds (0 if none)."""
        metadata = cls.read_state(backup_dir)
        return 0 if metadata is None else int(metadata.get("epoch", 0))

    def on_train_begin(self, logs=None):
        metadata = self.read_state(self.backup_dir)
        self.expected_first_epoch = 0 if metadata is None else int(metadata.get("epoch", 0))
        if metadata is not None:
            self._restore_weights(self.weights_file(self.backup_dir, metadata))
            self._restore_random_state(metadata.get("random_state"))

    def _random_state_variables(self):
        # The model's variables that are not weights: the SeedGenerator states of its noise
        # (``save_weights`` leaves them out, so a resumed run would redraw epoch 1's noise).
        weights = {id(v) for v in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def _random_state(self):
        return [{"path": v.path, "value": np.asarray(v.numpy()).tolist()} for v in self._random_state_variables()]

    def _restore_random_state(self, saved):
        if saved is None:
            return
        variables = self._random_state_variables()
        # Matched by order and shape: the paths number the generators of the whole process
        # (seed_generator_16 in a process that built other models first).
        if [tuple(v.shape) for v in variables] != [np.shape(entry["value"]) for entry in saved]:
            raise ValueError(f"the checkpoint in {self.backup_dir} holds the random state of another model "
                             f"({[entry['path'] for entry in saved]}, this one has {[v.path for v in variables]})")
        for variable, entry in zip(variables, saved):
            variable.assign(np.asarray(entry["value"], dtype=variable.dtype))

    def _restore_weights(self, path):
        if not self.model.built:
            raise ValueError(f"AtomicBackupAndRestore: build the model before fit() (model {self.model.name!r})")
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)  # its variables are in the file
        self.model.load_weights(os.fspath(path))

    def on_epoch_begin(self, epoch, logs=None):
        expected, self.expected_first_epoch = self.expected_first_epoch, None
        if expected is not None and epoch != expected:
            raise ValueError(
                f"the checkpoint in {self.backup_dir} holds {expected} epoch(s) but fit() starts at epoch "
                f"{epoch}; call fit(initial_epoch=AtomicBackupAndRestore.resume_epoch(backup_dir))"
            )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        skip = any(k in logs and not _finite(logs[k]) for k in ("loss", "val_loss"))
        if not (skip or (self.skip_if is not None and self.skip_if())):
            self._commit(epoch + 1)
        # After the commit (or with none: a diverged epoch, which ends the run): files that
        # describe the run never get ahead of the checkpoint a resume starts from.
        if self.after_epoch is not None:
            self.after_epoch()

    def _commit(self, epochs_done):
        folder = pathlib.Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"weights-{epochs_done:05d}.weights.h5"
        rundir.atomic_save_weights(self.model, folder / name)
        faults.point("backup:weights_written")
        # "batch" as keras.callbacks.BackupAndRestore writes it (0: saved at an epoch end).
        metadata = {"epoch": epochs_done, "batch": 0, "saved_at": time.time(), "weights_file": name,
                    "random_state": self._random_state()}
        if self.extra_state is not None:
            metadata.update(self.extra_state())
        rundir.atomic_write_json(folder / self.METADATA, metadata)  # the commit
        faults.point("backup:committed")
        keep = {self.METADATA, *_file_names(metadata)}
        for entry in folder.iterdir():
            if entry.is_file() and entry.name not in keep and entry.suffix in (".h5", ".npz"):
                entry.unlink(missing_ok=True)


def _file_names(obj):
    """Every string in a (nested) JSON object: the file names a checkpoint refers to."""
    if isinstance(obj, dict):
        for value in obj.values():
            yield from _file_names(value)
    elif isinstance(obj, str):
        yield obj
