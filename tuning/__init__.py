"""Hyperparameter search for the zoo (the paper's random search, issue 6).

- :mod:`.search_space`: the ranges (the paper's missing Table 2), documented
  in one table; ``SEARCH_SPACE.md`` is its markdown rendering.
- :mod:`.hypermodel`: :class:`~.hypermodel.RNNHyperModel`, a
  ``keras_tuner.HyperModel`` for every zoo model; trials train through
  :func:`keras_rnnreg.app.fitting.fit`, the training loop of ``train``.
- :mod:`.tuner`: random search / Bayesian optimization / Hyperband tuners with
  per-trial seeds, crash repair and a chief that only serves the oracle.
- :mod:`.search`: one search end to end (:func:`~.search.run_search`).
- :mod:`.summary`: ``summary.json`` / ``summary.md``.
- :mod:`.launch`: a chief and N workers on one machine.
- :mod:`.sweep`: test NLL against one hyperparameter (figures 8-10), CSV and plot.
- :mod:`.cli`: ``python -m keras_rnnreg tune ...``.

Submodules are imported on first use (``keras_rnnreg.tuning.sweep`` etc.), so
importing this package does not import TensorFlow.
"""

import importlib

_SUBMODULES = ("cli", "hypermodel", "launch", "search", "search_space", "summary", "sweep", "tuner")

__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
