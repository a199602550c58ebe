"""Data pipelines for the four polyphonic music benchmarks.

Piano rolls (``T x 88`` 0/1 arrays over MIDI notes 21..108) of JSB Chorales,
Nottingham, Piano-midi.de and MuseData, and ``tf.data`` pipelines for the
model zoo.

Quick start::

    from keras_rnnreg import data_pipelines as dp
    splits = dp.load_dataset("jsb_chorales")          # {"train": [...], ...}
    train, valid, test = dp.make_datasets("jsb_chorales", batch_size=32)
    model.fit(train, validation_data=valid)

Modules: :mod:`.registry` (names, files, origins, sha256), :mod:`.sources`
(finding and downloading files), :mod:`.mat_io` and :mod:`.notes_io` (the two
encodings), :mod:`.validation`, :mod:`.windows` (``tf.data``), :mod:`.stats`,
:mod:`.midi` (pretty_midi I/O) and :mod:`.tfds_builder` (TFDS builder,
imported on demand because it pulls in ``tensorflow_datasets``).
"""

from .errors import DataError
from .loaders import SOURCES, load_dataset
from .mat_io import load_mat, save_mat
from .notes_io import (
    RestrictedUnpickler,
    load_notes,
    load_notes_json,
    load_notes_pickle,
    restricted_loads,
    save_notes_json,
)
from .pipelines import make_datasets
from .registry import DATASETS, SPLITS, get_info
from .sources import fetch_file, locate_file, resolve_data_dir
from .stats import dataset_stats, format_stats
from .validation import notes_to_piano_roll, validate_piano_roll
from .windows import batches_per_epoch, make_sequence_dataset, make_window_dataset, window_arrays, window_count

__all__ = [
    "DATASETS",
    "SPLITS",
    "SOURCES",
    "DataError",
    "batches_per_epoch",
    "RestrictedUnpickler",
    "dataset_stats",
    "fetch_file",
    "format_stats",
    "get_info",
    "load_dataset",
    "load_mat",
    "load_notes",
    "load_notes_json",
    "load_notes_pickle",
    "locate_file",
    "make_datasets",
    "make_sequence_dataset",
    "make_window_dataset",
    "notes_to_piano_roll",
    "resolve_data_dir",
    "restricted_loads",
    "save_mat",
    "save_notes_json",
    "validate_piano_roll",
    "window_arrays",
    "window_count",
]


def __getattr__(name):
    """Import the heavier submodules (``midi``, ``tfds_builder``) on first use."""
    if name in ("midi", "tfds_builder"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
