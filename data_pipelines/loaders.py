"""Loading a benchmark by name as piano rolls."""

from __future__ import annotations

import os

import numpy as np

from .mat_io import load_mat
from .notes_io import load_notes
from .registry import get_info
from .sources import locate_file
from .validation import validate_scorable

SOURCES = ("mat", "notes")


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    source: str = "mat",
    *,
    cache_dir: str | os.PathLike | None = None,
    origin: str | None = None,
) -> dict[str, list[np.ndarray]]:
    """Load the train / valid / test splits of a benchmark as piano rolls.

    Args:
        name: one of ``DATASETS`` (``"jsb_chorales"``, ``"nottingham"``,
            ``"piano_midi"``, ``"musedata"``).
        data_dir: folder with the files; default ``$KERAS_RNNREG_DATA_DIR``,
            else the files shipped in the package (the ``.mat`` files), else
            the Keras cache (downloading with a pinned sha256).
        source: ``"mat"`` (the ``.mat`` files) or ``"notes"`` (note lists:
            ``<Name>.notes.json`` or the original ``.pickle``, whichever is
            present; pickles are read with a restricted unpickler).
        cache_dir, origin: see :func:`~keras_rnnreg.data_pipelines.sources.locate_file`.

    Returns:
        ``{"train"|"valid"|"test": [float32 array (T, 88) of 0/1, ...]}``.

    Raises:
        ValueError: unknown dataset (the message lists the valid names) or source.
        DataError: missing, unreadable or malformed data.
    """
    get_info(name)  # ValueError listing the valid names
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {SOURCES}")
    path = locate_file(name, source, data_dir, cache_dir=cache_dir, origin=origin)
    splits = load_mat(path) if source == "mat" else load_notes(path)
    validate_scorable(splits, file=path)
    return splits
