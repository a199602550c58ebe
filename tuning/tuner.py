"""KerasTuner tuners (random, Bayesian, Hyperband) with resume and distribution support.

The tuners are KerasTuner's own, extended by :class:`TrialMixin` with

- a per-trial seed (``seed + trial number``) so a re-run trial repeats itself;
- a run log (``<project>/run_logs/<tuner_id>.log``, one line per trial
  start) that shows which tuner ran which trial and how often, and beside it
  ``<tuner_id>.seconds`` (one line per finished trial: id and wall seconds),
  so a search spread over sittings knows how long its trials took;
- a chief that only serves the oracle and exits as soon as every worker has
  been told to stop (KerasTuner's own chief polls every 20 s);
- repair of the oracle state after a crash (a trial written to disk but not to
  the oracle, or completed but still marked ongoing);
- atomic state files: ``oracle.json``, ``<tuner_id>.json`` and every
  ``trial_*/trial.json`` are written to a temporary file and renamed into
  place (:class:`AtomicOracleMixin`), so a kill at any instant leaves the
  previous or the new version, never an empty file;
- a seeded oracle for every ``seed``, 0 included (KerasTuner draws a random
  seed when its oracle gets 0): the oracle gets :func:`oracle_seed`;
- one line per finished trial on stderr (:func:`progress_line`; ``progress = 0``
  silences it), a failed one's instead of KerasTuner's traceback;
- a test hook forcing chosen trials to diverge (``force_nan_trials`` or the
  environment variable ``KERAS_RNNREG_TUNE_FORCE_NAN_TRIALS="0,2"``): their
  ``learning_rate`` is set to 1e38, which makes the loss NaN.

Distributed mode is KerasTuner's: processes with ``KERASTUNER_TUNER_ID``
(``chief`` or ``tunerN``), ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` set; see :mod:`.launch`.
"""

from __future__ import annotations

import math
import os
import sys
import time

import keras
import keras_tuner as kt
from keras_tuner.engine import trial as trial_module

from keras_rnnreg import private_api

from . import state as state_lib
from .hypermodel import objective

TUNERS = ("random", "bayesian", "hyperband")


def quiet_failed_trials():
    """Stop KerasTuner printing a full traceback for every failed trial.

    KerasTuner prints them while its debug flag is true (its default; there is
    no public switch: :func:`keras_rnnreg.private_api.set_kerastuner_debug`).
    The trial's message keeps the traceback and :meth:`TrialMixin.on_trial_end`
    prints one line. ``KERAS_RNNREG_DEBUG=1`` keeps KerasTuner's tracebacks.
    """
    if os.environ.get("KERAS_RNNREG_DEBUG", "") in ("", "0"):
        private_api.set_kerastuner_debug(False)


FORCE_NAN_ENV = "KERAS_RNNREG_TUNE_FORCE_NAN_TRIALS"
FORCED_LEARNING_RATE = 1e38


def distributed():
    """True when KerasTuner's documented environment variables ask for a chief oracle.

    ``KERASTUNER_ORACLE_IP`` set means distributed; then ``KERASTUNER_ORACLE_PORT``
    and ``KERASTUNER_TUNER_ID`` must be set too (``RuntimeError`` otherwise, as
    KerasTuner raises).
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return False
    for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        if name not in os.environ:
            raise RuntimeError(f'Environment variable "KERASTUNER_ORACLE_IP" was set, but "{name}" was not')
    return True


def is_chief():
    """True in the KerasTuner chief process (it only serves the oracle)."""
    # KerasTuner's own test: the tuner id contains "chief".
    return distributed() and "chief" in os.environ["KERASTUNER_TUNER_ID"]


def is_worker():
    """True in a KerasTuner worker process (a tuner id other than ``chief``)."""
    return distributed() and not is_chief()


def _forced_from_env():
    text = os.environ.get(FORCE_NAN_ENV, "")
    return {t.strip() for t in text.split(",") if t.strip()}


def serve_oracle(oracle, poll_seconds=0.5):
    """Serve ``oracle`` over gRPC until the search is over (chief only).

    Same protocol as ``keras_tuner``'s ``oracle_chief.start_server`` but polls
    every ``poll_seconds`` and fails clearly when the port cannot be bound.
    Returns once a worker has been told to stop, no trial is ongoing and every
    worker has left.
    """
    from concurrent import futures

    import grpc

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = private_api.add_oracle_servicer(server, oracle)
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"the chief cannot listen on {address} (port in use?)")
    server.start()
    print(f"Oracle serving on {address}", flush=True)
    try:
        while not (servicer.stop_triggered and private_api.chief_may_exit(oracle)):
            time.sleep(poll_seconds)
    finally:
        server.stop(grace=2)


def oracle_seed(seed):
    """The seed the oracle gets for the search seed ``seed`` (>= 0): ``seed + 1``.

    KerasTuner's oracles replace a false seed (0) by a random one, so
    ``--seed 0`` would draw other configurations on every run.
    """
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return seed + 1


class AtomicOracleMixin(private_api.OracleTrialWriteHook):
    """Oracle state written atomically (``oracle.json``, ``trial_*/trial.json``).

    KerasTuner writes both with a plain ``open(path, "w")``; a kill in the
    middle leaves an empty file that no rerun can read. These write the same
    JSON through :func:`keras_rnnreg.app.rundir.atomic_write_text`, into the
    folders KerasTuner reloads them from.
    """

    def save(self):
        state_lib.atomic_json(os.path.join(private_api.oracle_project_dir(self), "oracle.json"), self.get_state())

    def write_trial(self, trial):
        # Called by KerasTuner wherever it writes trial.json (private_api.OracleTrialWriteHook).
        path = os.path.join(private_api.oracle_trial_dir(self, trial.trial_id), "trial.json")
        state_lib.atomic_json(path, trial.get_state())


class AtomicRandomSearchOracle(AtomicOracleMixin, kt.oracles.RandomSearchOracle):
    """``keras_tuner.oracles.RandomSearchOracle`` with atomic state files."""


class AtomicBayesianOracle(AtomicOracleMixin, kt.oracles.BayesianOptimizationOracle):
    """``keras_tuner.oracles.BayesianOptimizationOracle`` with atomic state files."""


class AtomicHyperbandOracle(AtomicOracleMixin, kt.oracles.HyperbandOracle):
    """``keras_tuner.oracles.HyperbandOracle`` with atomic state files."""


ORACLES = {"random": AtomicRandomSearchOracle, "bayesian": AtomicBayesianOracle,
           "hyperband": AtomicHyperbandOracle}


def oracle_template(kind, seed, max_trials=50, max_epochs=200, hyperband_factor=3, hyperband_iterations=1):
    """``get_state()`` of a fresh oracle of ``kind`` (used to rebuild a lost ``oracle.json``)."""
    kwargs = dict(objective=objective(), seed=oracle_seed(seed))
    if kind == "hyperband":
        kwargs.update(max_epochs=max_epochs, factor=hyperband_factor, hyperband_iterations=hyperband_iterations)
    else:
        kwargs.update(max_trials=max_trials)
    return ORACLES[kind](**kwargs).get_state()


def _format_value(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def progress_line(trial, max_trials=None, best=None, seconds=None):
    """The line :meth:`TrialMixin.on_trial_end` prints to stderr for a finished trial.

    ``trial 3/20 (id 02): val_nll 8.6123, best so far 8.5911 (trial 01); units=150, ...; 41 s``;
    a failed trial: ``trial 2/20 (id 01) failed: <last line of its error>``. ``n`` is the
    trial's number (its id + 1, ids being KerasTuner's 0-based counter), ``N`` the
    search's ``max_trials`` (left out when there is none, as with Hyperband).
    """
    prefix = trial_prefix(trial.trial_id, max_trials)
    if trial.status != trial_module.TrialStatus.COMPLETED:
        lines = [line for line in str(trial.message or "").strip().splitlines() if line.strip()]
        status = "failed" if trial.status == trial_module.TrialStatus.FAILED else str(trial.status).lower()
        return f"{prefix} {status}: {lines[-1] if lines else 'error'}"
    text = f"{prefix}: val_nll " + (f"{float(trial.score):.4f}" if trial.score is not None else "n/a")
    if best is not None and best.score is not None:
        text += f", best so far {float(best.score):.4f} (trial {best.trial_id})"
    values = {k: v for k, v in trial.hyperparameters.values.items()
              if not k.startswith("tuner/") or k == "tuner/epochs"}
    if values:
        text += "; " + ", ".join(f"{k}={_format_value(v)}" for k, v in values.items())
    if seconds is not None:
        text += f"; {seconds:.0f} s"
    return text


class TrialProgress(keras.callbacks.Callback):
    """One line on stderr per finished epoch of a trial, so a long trial is never silent.

    ``trial 3/20 (id 02) epoch 5/200: loss 8.9012, val_nll 8.7034 (best 8.7034); 41 s``.
    """

    def __init__(self, prefix, epochs):
        super().__init__()
        self.prefix, self.epochs = prefix, epochs
        self.started, self.best = time.monotonic(), None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"{k} {float(logs[k]):.4f}" for k in ("loss", "val_nll") if k in logs]
        if "val_nll" in logs and math.isfinite(float(logs["val_nll"])):
            self.best = min(float(logs["val_nll"]), self.best if self.best is not None else math.inf)
            parts[-1] += f" (best {self.best:.4f})"
        total = f"/{self.epochs}" if self.epochs else ""
        print(f"{self.prefix} epoch {epoch + 1}{total}: {', '.join(parts)}; {time.monotonic() - self.started:.0f} s",
              file=sys.stderr, flush=True)


def trial_prefix(trial_id, max_trials=None):
    """``trial n/N (id ..)``: ``n`` is the id + 1 (KerasTuner counts from 0)."""
    trial_id = str(trial_id)
    number = int(trial_id) + 1 if trial_id.isdigit() else trial_id
    return f"trial {number}/{max_trials} (id {trial_id})" if max_trials else f"trial {number} (id {trial_id})"


class TrialMixin:
    """Behaviour shared by the three tuners (see the module docstring)."""

    def _init_mixin(self, seed, force_nan_trials):
        quiet_failed_trials()
        self.base_seed = int(seed)
        self.progress = 1  # 0: no line per finished trial (search.run_search sets --verbose)
        self.force_nan_trials = set(force_nan_trials or ()) | _forced_from_env()
        if not is_worker():
            repair_oracle(self.oracle)

    def runs_log_path(self, suffix=".log"):
        folder = os.path.join(self.project_dir, "run_logs")
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"{self.tuner_id}{suffix}")

    def run_trial(self, trial, *args, **kwargs):
        with open(self.runs_log_path(), "a") as f:
            f.write(f"{trial.trial_id}\n")
        try:
            number = int(trial.trial_id)
        except ValueError:
            number = abs(hash(trial.trial_id)) % 100_000
        keras.utils.set_random_seed(self.base_seed * 100_003 + number)
        if trial.trial_id in self.force_nan_trials:
            trial.hyperparameters.values["learning_rate"] = FORCED_LEARNING_RATE
        if getattr(self, "progress", 1):
            prefix = trial_prefix(trial.trial_id, getattr(self.oracle, "max_trials", None))
            values = ", ".join(f"{k}={_format_value(v)}" for k, v in trial.hyperparameters.values.items()
                               if not k.startswith("tuner/"))
            print(f"{prefix} started: {values}", file=sys.stderr, flush=True)
            epochs = trial.hyperparameters.values.get("tuner/epochs") or kwargs.get("epochs")
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), TrialProgress(prefix, epochs)]
        return super().run_trial(trial, *args, **kwargs)

    def save(self):
        """KerasTuner's ``Tuner.save`` (oracle, then ``<tuner_id>.json``), atomically."""
        if not is_worker():
            self.oracle.save()
        state_lib.atomic_json(os.path.join(self.project_dir, f"{self.tuner_id}.json"), self.get_state())

    def on_trial_begin(self, trial):
        self._trial_started = getattr(self, "_trial_started", {})
        self._trial_started[trial.trial_id] = time.monotonic()
        return super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        # KerasTuner prints the full traceback of every failed trial; one line is enough
        # (the trial's message keeps the traceback, summary.json its last line).
        result = super().on_trial_end(trial)
        started = getattr(self, "_trial_started", {}).pop(trial.trial_id, None)
        seconds = time.monotonic() - started if started is not None else None
        if seconds is not None:
            # Kept beside the run log, so a search spread over sittings knows its trials' time.
            with open(self.runs_log_path(".seconds"), "a") as f:
                f.write(f"{trial.trial_id} {seconds:.1f}\n")
        if getattr(self, "progress", 1):
            best = None
            try:
                if trial.status == trial_module.TrialStatus.COMPLETED and trial.score is None:
                    trial = self.oracle.get_trial(trial.trial_id)  # a worker's copy has no score
                best = (self.oracle.get_best_trials(1) or [None])[0]
            except Exception:  # the line is informative only; never fail a search over it
                pass
            print(progress_line(trial, getattr(self.oracle, "max_trials", None), best, seconds),
                  file=sys.stderr, flush=True)
        return result

    def search(self, *fit_args, **fit_kwargs):
        if is_chief():
            self.save()
            serve_oracle(self.oracle)
            # KerasTuner saves the oracle before it pops the last ongoing trial:
            # save again so the directory shows no trial in progress.
            self.save()
            return
        super().search(*fit_args, **fit_kwargs)


def _oracle_kwargs(kwargs):
    """Split the oracle's arguments off the tuner's ``kwargs``."""
    names = ("objective", "max_trials", "seed", "hyperparameters", "tune_new_entries", "allow_new_entries",
             "max_retries_per_trial", "max_consecutive_failed_trials", "max_epochs", "factor",
             "hyperband_iterations", "num_initial_points", "alpha", "beta")
    oracle_kwargs = {k: kwargs.pop(k) for k in names if k in kwargs}
    oracle_kwargs["seed"] = oracle_seed(oracle_kwargs.get("seed") or 0)
    return oracle_kwargs


class RandomSearchTuner(TrialMixin, kt.Tuner):
    """``keras_tuner.RandomSearch`` (a ``Tuner`` with a random-search oracle) with :class:`TrialMixin`."""

    def __init__(self, hypermodel=None, force_nan_trials=None, **kwargs):
        seed = kwargs.get("seed", 0) or 0
        oracle = AtomicRandomSearchOracle(**_oracle_kwargs(kwargs))
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        self._init_mixin(seed, force_nan_trials)


class BayesianTuner(TrialMixin, kt.Tuner):
    """``keras_tuner.BayesianOptimization`` with :class:`TrialMixin`."""

    def __init__(self, hypermodel=None, force_nan_trials=None, **kwargs):
        seed = kwargs.get("seed", 0) or 0
        oracle = AtomicBayesianOracle(**_oracle_kwargs(kwargs))
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        self._init_mixin(seed, force_nan_trials)


class HyperbandTuner(TrialMixin, kt.Hyperband):
    """``keras_tuner.Hyperband`` with :class:`TrialMixin`.

    ``kt.Hyperband.__init__`` only builds its oracle and hands it to
    ``kt.Tuner.__init__``; this one does the same with the atomic oracle.
    """

    def __init__(self, hypermodel=None, force_nan_trials=None, **kwargs):
        seed = kwargs.get("seed", 0) or 0
        oracle = AtomicHyperbandOracle(**_oracle_kwargs(kwargs))
        kt.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)
        self._init_mixin(seed, force_nan_trials)


def repair_oracle(oracle):
    """Make a reloaded oracle consistent after a hard kill (no-op otherwise).

    KerasTuner writes ``trial_*/trial.json`` and ``oracle.json`` one after the
    other; a SIGKILL between the two can leave a trial that is ``RUNNING`` on
    disk but unknown to the oracle's queues (it would never run: the trial is
    put back into the retry queue), or a trial ``COMPLETED`` on disk that the
    oracle still meant to retry (it is not run again).
    """
    trials = getattr(oracle, "trials", None)
    queue = private_api.oracle_retry_queue(oracle)
    if trials is None or queue is None:
        return
    done = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED)
    for trial_id in list(queue):
        trial = trials.get(trial_id)
        if trial is not None and trial.status in done:
            queue.remove(trial_id)
            if trial_id not in oracle.end_order:
                oracle.end_order.append(trial_id)
    ongoing = {t.trial_id for t in oracle.ongoing_trials.values()}
    for trial_id, trial in trials.items():
        if trial.status == trial_module.TrialStatus.RUNNING and trial_id not in queue and trial_id not in ongoing:
            queue.append(trial_id)
            if trial_id not in oracle.start_order:
                oracle.start_order.append(trial_id)


def check_available(kind):
    """``ValueError`` for an unknown tuner or one whose dependencies are missing."""
    if kind not in TUNERS:
        raise ValueError(f"unknown tuner {kind!r}; valid tuners: {', '.join(TUNERS)}")
    if kind == "bayesian":
        import importlib.util

        missing = [m for m in ("sklearn", "scipy") if importlib.util.find_spec(m) is None]
        if missing:
            raise ValueError(
                f"--tuner bayesian needs {' and '.join(missing)} (pip install 'keras-tuner[bayesian]' "
                "or scikit-learn); use --tuner random or hyperband meanwhile"
            )


def make_tuner(kind, hypermodel, directory, project_name, max_trials=50, max_epochs=200, seed=0,
               distribution_strategy=None, max_consecutive_failed_trials=10, overwrite=False,
               hyperband_factor=3, hyperband_iterations=1, force_nan_trials=None):
    """Create (or reload, when ``directory/project_name`` exists) a tuner.

    Args:
        kind: ``"random"`` (the paper's random search), ``"bayesian"`` or
            ``"hyperband"`` (``max_trials`` is ignored: Hyperband's budget is
            ``max_epochs``, ``hyperband_factor`` and ``hyperband_iterations``).
        hypermodel: a :class:`~.hypermodel.RNNHyperModel`.
        directory, project_name: where KerasTuner keeps its state.
        max_trials: number of configurations.
        max_epochs: Hyperband's maximum epochs per trial.
        seed: seed of the oracle (and, via :class:`TrialMixin`, of each trial).
        distribution_strategy: a ``tf.distribute.Strategy`` each trial runs
            under (e.g. ``MirroredStrategy`` over the GPUs of one machine).
        max_consecutive_failed_trials: the search aborts after this many
            consecutive failed trials.
        overwrite: delete an existing project instead of resuming it (never
            in a worker).
        force_nan_trials: trial ids forced to diverge (test hook).

    Raises:
        ValueError: unknown ``kind`` (the message lists the valid ones).
    """
    check_available(kind)
    common = dict(
        hypermodel=hypermodel,
        objective=objective(),
        seed=seed,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
        directory=str(directory),
        project_name=project_name,
        overwrite=bool(overwrite) and not is_worker(),
        distribution_strategy=distribution_strategy,
        force_nan_trials=force_nan_trials,
    )
    if kind == "random":
        return RandomSearchTuner(max_trials=max_trials, **common)
    if kind == "bayesian":
        return BayesianTuner(max_trials=max_trials, **common)
    return HyperbandTuner(max_epochs=max_epochs, factor=hyperband_factor,
                          hyperband_iterations=hyperband_iterations, **common)
