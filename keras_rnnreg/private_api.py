"""Every use of a private Keras or KerasTuner API, in one place.

The rest of the library (``keras_rnnreg``, ``models``, ``tuning``,
``data_pipelines``, ``benchmarks``) imports no ``keras.src`` /
``keras_tuner.src`` module and touches no private attribute of a Keras or
KerasTuner object; it calls the small functions and classes here instead.
``tests/test_private_api.py`` checks each of them against the installed
versions and fails naming the private API and the file that relies on it,
and scans the source for a ``keras.src`` / ``keras_tuner.src`` import
anywhere else.

Checked with Keras 3.15.1 and KerasTuner 1.4.8. Each entry says why no
public API does the job and what breaks if the private one changes.

Keras:

* :data:`DropoutRNNCell` (``keras.src.layers.rnn.dropout_rnn_cell``), used by
  ``keras_rnnreg/rnn/cells.py`` and ``keras_rnnreg/rnn/gated.py``. ``keras.layers.RNN`` calls
  ``get_dropout_mask`` before its loop and ``reset_dropout_mask`` after it
  only on instances of this class (an ``isinstance`` check), and it is not
  exported. ``NoisySimpleRNNCell`` inherits it for Keras's own ``dropout`` /
  ``recurrent_dropout`` masks (the same masks as ``SimpleRNNCell`` for the
  same seed), and to draw, once per pass and outside the loop (where the JAX
  backend needs random draws to be), its per-sequence noise and the seeds of
  its per-step noise. If it moves, importing this module fails; if
  ``keras.layers.RNN`` stops calling it, dropout masks and per-sequence noise
  inside a plain ``keras.layers.RNN`` are drawn in the loop (per step, or the
  same at every pass under JAX's scan).
* :func:`keras_rnn_loop` (``keras.src.backend.rnn``), used by
  ``keras_rnnreg/rnn/noisy_simple_rnn.py``. The backend loop
  ``keras.layers.RNN.inner_loop`` runs (masking, ``go_backwards``,
  ``unroll``, ``zero_output_for_mask``); no public op does all of that
  (``keras.ops.scan`` has no mask). The layers' cell loop (``unroll=True``,
  a non-tanh activation, ``recurrent_dropout``, ``fast_path=False``, the
  PyTorch backend) breaks if its signature changes. Its unrolled form takes
  a tensor or a flat tuple of them as ``inputs`` (it indexes each top-level
  entry by step), which is what the layers pass.

KerasTuner:

* :func:`set_kerastuner_debug` (``keras_tuner.src.config.DEBUG``), used by
  ``tuning/tuner.py``: KerasTuner prints a full traceback for every failed
  trial while it is true and has no public switch. If it goes, failed
  trials print tracebacks again (nothing else breaks).
* :func:`add_oracle_servicer` and :func:`chief_may_exit`
  (``keras_tuner.src.protos``, ``keras_tuner.src.distribute.oracle_chief``),
  used by ``tuning/tuner.py``'s ``serve_oracle``: the gRPC servicer the
  workers talk to. KerasTuner's public ``start_server`` polls every 20 s and
  reports no failed bind; the chief needs the same servicer with a faster
  poll. Distributed search breaks if they change.
* :func:`oracle_project_dir` and :func:`oracle_trial_dir` (``Oracle._project_dir``,
  ``Oracle._get_trial_dir``), used by ``tuning/tuner.py``: the oracle has no
  public accessor for where it keeps ``oracle.json`` and ``trial_*/``; using
  its own keeps the files where ``Oracle.reload`` looks for them. Resuming a
  search breaks if they change.
* :class:`OracleTrialWriteHook` (the hook ``Oracle._save_trial``, see
  :data:`ORACLE_SAVE_TRIAL_HOOK`), used by ``tuning/tuner.py``: the one place
  KerasTuner writes ``trial.json``, with a plain ``open(path, "w")``; a kill
  in the middle leaves an empty file no rerun can read. Overriding it is the
  only way to make that write atomic. The override lives here as a mixin that
  forwards to a public-named method, so ``tuning`` defines no private
  method. If KerasTuner renames the hook, ``trial.json`` is again written
  non-atomically (the test of the hook fails first).
* :func:`oracle_retry_queue` (``Oracle._retry_queue``), used by
  ``tuning/tuner.py``'s ``repair_oracle``: the queue of trials to run again,
  which a crash between KerasTuner's two writes leaves inconsistent; no
  public method edits it. If it goes, the repair after a hard kill is
  skipped (a trial may be lost or run twice).

Public now (no longer here): ``keras.src.random`` seed handling
(``keras_rnnreg/rng.py`` uses ``SeedGenerator.next``), the optimizer's
``_get_variable_index`` (``RMSpropNesterov`` keeps its own slot index),
``keras.callbacks.BackupAndRestore``'s private hooks
(``AtomicBackupAndRestore`` is a plain ``keras.callbacks.Callback``; the
resume epoch goes to ``fit(initial_epoch=...)``), KerasTuner's
``distribute.utils`` (the documented environment variables) and
``engine.trial`` (``keras_tuner.engine.trial``).
"""

from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

#: Checked with these versions (see the module docstring).
KERAS_VERSION_CHECKED = "3.15.1"
KERAS_TUNER_VERSION_CHECKED = "1.4.8"

#: The private ``Oracle`` method :class:`OracleTrialWriteHook` overrides.
ORACLE_SAVE_TRIAL_HOOK = "_save_trial"

__all__ = [
    "DropoutRNNCell",
    "keras_rnn_loop",
    "set_kerastuner_debug",
    "kerastuner_debug",
    "add_oracle_servicer",
    "chief_may_exit",
    "oracle_project_dir",
    "oracle_trial_dir",
    "oracle_retry_queue",
    "OracleTrialWriteHook",
    "ORACLE_SAVE_TRIAL_HOOK",
]


# -- Keras --------------------------------------------------------------------


def keras_rnn_loop(step_function, inputs, initial_states, **kwargs):
    """Keras's backend RNN loop, the one ``keras.layers.RNN.inner_loop`` runs.

    Args:
        step_function: ``fn(inputs_t, states) -> (output_t, new_states)``.
        inputs: ``(batch, time, ...)`` tensor or a nest of them.
        initial_states: list of ``(batch, ...)`` state tensors.
        **kwargs: ``go_backwards``, ``mask``, ``unroll``, ``input_length``,
            ``zero_output_for_mask``, ``return_all_outputs`` (as for
            ``keras.src.backend.rnn``).

    Returns:
        ``(last_output, outputs, new_states)``.
    """
    from keras.src import backend

    return backend.rnn(step_function, inputs, initial_states, **kwargs)


# -- KerasTuner: configuration and distribution --------------------------------


def _kerastuner_config():
    from keras_tuner.src import config

    return config


def kerastuner_debug():
    """Whether KerasTuner prints the traceback of each failed trial."""
    return bool(_kerastuner_config().DEBUG)


def set_kerastuner_debug(value):
    """Switch KerasTuner's traceback printing for failed trials on or off."""
    _kerastuner_config().DEBUG = bool(value)


def add_oracle_servicer(server, oracle):
    """Serve ``oracle`` on the gRPC ``server`` the way KerasTuner's chief does.

    Returns:
        The servicer; its ``stop_triggered`` turns true once a worker has
        been told the search is over.
    """
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    return servicer


def chief_may_exit(oracle):
    """KerasTuner's test for the chief to stop: no trial ongoing, no worker left."""
    from keras_tuner.src.distribute import oracle_chief

    return bool(oracle_chief.exit_chief(oracle))


# -- KerasTuner: the oracle's files and queues ----------------------------------


def oracle_project_dir(oracle):
    """The folder where ``oracle`` keeps ``oracle.json`` and ``trial_*/``."""
    return str(oracle._project_dir)


def oracle_trial_dir(oracle, trial_id):
    """The folder (created if missing) where ``oracle`` keeps ``trial_<id>/trial.json``."""
    return oracle._get_trial_dir(trial_id)


def oracle_retry_queue(oracle):
    """The oracle's list of trial ids to run again (mutable), or ``None`` if it has none."""
    return getattr(oracle, "_retry_queue", None)


class OracleTrialWriteHook:
    """Oracle mixin: KerasTuner's private ``_save_trial`` hook calls :meth:`write_trial`.

    Put it before the KerasTuner oracle class in the bases and implement
    ``write_trial(trial)``; it then writes every ``trial.json`` KerasTuner
    writes (the hook is named by :data:`ORACLE_SAVE_TRIAL_HOOK`).
    """

    def write_trial(self, trial):
        raise NotImplementedError("OracleTrialWriteHook subclasses implement write_trial(trial)")

    def _save_trial(self, trial):
        self.write_trial(trial)
