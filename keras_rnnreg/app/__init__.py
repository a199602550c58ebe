"""The ``keras-rnnreg`` application: command line, run directories, training, export, sampling.

Built on the library (the layers at the package root, :mod:`keras_rnnreg.models`,
:mod:`keras_rnnreg.data_pipelines`, :mod:`keras_rnnreg.tuning`); nothing in the
library imports it. Its modules: :mod:`~keras_rnnreg.app.cli` (the commands),
:mod:`~keras_rnnreg.app.training` (``train``), :mod:`~keras_rnnreg.app.fitting`
(the one training loop, shared with the tuner), :mod:`~keras_rnnreg.app.evaluation`
(NLL on whole sequences), :mod:`~keras_rnnreg.app.export` (SavedModel export,
safe loading), :mod:`~keras_rnnreg.app.sampling`, :mod:`~keras_rnnreg.app.plots`,
:mod:`~keras_rnnreg.app.rundir` and :mod:`~keras_rnnreg.app.locking` (run
directories: atomic writes, locks), :mod:`~keras_rnnreg.app.callbacks`,
:mod:`~keras_rnnreg.app.faults` (fault injection for the kill tests), :mod:`~keras_rnnreg.app.signals` (SIGTERM handled as an interrupt) and
:mod:`~keras_rnnreg.app._startup`.
"""
