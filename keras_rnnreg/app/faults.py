"""Fault injection for the kill tests: make this process SIGKILL itself at a named point.

``KERAS_RNNREG_KILL_AT=NAME`` kills the process the first time :func:`point`
is called with ``NAME``; ``KERAS_RNNREG_KILL_AT=NAME:N`` on the ``N``-th time
(1-based). Names used by the project:

* ``backup:weights_written`` - the epoch's weights are on disk, their metadata not yet;
* ``backup:committed`` - the epoch's checkpoint is committed;
* ``replace:<file name>`` - an atomic write has its temporary file complete,
  just before it is renamed over ``<file name>`` (``trial.json``,
  ``oracle.json``, ``tuner0.json``, ``search_config.json``, ``metrics.json``, ...);
* ``replace_dir:<folder name>`` - an existing folder (``saved_model``) has been
  moved aside, the new one not yet moved in.

Unset (the normal case) it costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal

ENV = "KERAS_RNNREG_KILL_AT"
_hits = {}


def point(name):
    """SIGKILL this process if ``$KERAS_RNNREG_KILL_AT`` names this point (and its count is reached)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, count = spec.rpartition(":") if spec.rsplit(":", 1)[-1].isdigit() else (spec, "", "1")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
