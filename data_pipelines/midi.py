"""MIDI in and out with pretty_midi.

Piano rolls here are quantized on a grid of ``frames_per_beat`` frames per
quarter note (a "beat" is a quarter note, as in MIDI's ticks-per-quarter
resolution), over the 88 piano keys (MIDI notes 21..108, column = note - 21).

* :func:`piano_roll_to_midi` writes a roll: each run of consecutive 1s on a key
  becomes one note; a text event marks the end of the roll so trailing silent
  frames survive the round trip.
* :func:`midi_to_piano_roll` reads a file at a chosen quantization, following
  tempo changes (positions are measured in MIDI ticks, i.e. in beats).
* :func:`load_midi_folder` turns a folder of the user's own MIDI files into
  piano-roll sequences (optionally split into train / valid / test), ready for
  :func:`~keras_rnnreg.data_pipelines.make_window_dataset` or
  :func:`~keras_rnnreg.data_pipelines.save_mat`.

Reading and writing a roll at the same ``frames_per_beat`` gives the same roll
back.
"""

from __future__ import annotations

import os
import pathlib
import warnings
from typing import Any, Sequence

import numpy as np

from .errors import DataError
from .registry import HIGHEST_NOTE, LOWEST_NOTE, NUM_KEYS, SPLITS
from .validation import validate_piano_roll

#: Ticks per quarter note of written files; divisible by 1-6, 8, 10, 12, 16, 24, 32...
DEFAULT_RESOLUTION = 960
END_MARKER = "keras_rnnreg:end"
MIDI_SUFFIXES = (".mid", ".midi")


def _pretty_midi():
    with warnings.catch_warnings():  # pretty_midi warns about pkg_resources on import
        warnings.simplefilter("ignore")
        import pretty_midi
    return pretty_midi


def _check_fpb(frames_per_beat: Any) -> int:
    if isinstance(frames_per_beat, bool) or int(frames_per_beat) != frames_per_beat or frames_per_beat < 1:
        raise ValueError(f"frames_per_beat must be a positive integer, got {frames_per_beat!r}")
    return int(frames_per_beat)


def piano_roll_to_midi(
    roll: Any,
    path: str | os.PathLike | None,
    frames_per_beat: int = 4,
    tempo: float = 120.0,
    *,
    velocity: int = 80,
    program: int = 0,
    resolution: int = DEFAULT_RESOLUTION,
):
    """Write a ``(T, 88)`` 0/1 piano roll as a single-instrument MIDI file.

    Args:
        roll: the piano roll.
        path: output ``.mid`` file (``None`` to only build the object).
        frames_per_beat: frames per quarter note.
        tempo: quarter notes per minute.
        velocity: velocity of every note.
        program: General MIDI program (0 = acoustic grand piano).
        resolution: MIDI ticks per quarter note.

    Returns:
        The ``pretty_midi.PrettyMIDI`` object that was written.
    """
    pm_mod = _pretty_midi()
    arr = validate_piano_roll(roll, allow_empty=True)
    fpb = _check_fpb(frames_per_beat)
    if not tempo > 0:
        raise ValueError(f"tempo must be positive, got {tempo!r}")
    frame_seconds = 60.0 / (float(tempo) * fpb)
    pm = pm_mod.PrettyMIDI(resolution=int(resolution), initial_tempo=float(tempo))
    inst = pm_mod.Instrument(program=int(program), name="piano roll")
    padded = np.zeros((arr.shape[0] + 2, NUM_KEYS), dtype=np.int8)
    padded[1:-1] = arr > 0
    changes = np.diff(padded, axis=0)  # +1 at onsets, -1 at offsets
    for key in range(NUM_KEYS):
        onsets = np.flatnonzero(changes[:, key] == 1)
        offsets = np.flatnonzero(changes[:, key] == -1)
        for start, end in zip(onsets, offsets):
            inst.notes.append(
                pm_mod.Note(
                    velocity=int(velocity),
                    pitch=key + LOWEST_NOTE,
                    start=start * frame_seconds,
                    end=end * frame_seconds,
                )
            )
    inst.notes.sort(key=lambda n: (n.start, n.pitch))
    pm.instruments.append(inst)
    pm.text_events.append(pm_mod.Text(END_MARKER, arr.shape[0] * frame_seconds))
    if path is not None:
        pm.write(str(path))
    return pm


def _frame_of(pm, seconds: float, fpb: int) -> int:
    """Nearest grid frame of a time, via MIDI ticks (follows tempo changes)."""
    return int(round(pm.time_to_tick(seconds) * fpb / pm.resolution))


def midi_to_piano_roll(
    path: str | os.PathLike,
    frames_per_beat: int = 4,
    *,
    include_drums: bool = False,
    out_of_range: str = "drop",
) -> np.ndarray:
    """Read a MIDI file as a float32 ``(T, 88)`` 0/1 piano roll.

    Note onsets and offsets are rounded to the nearest frame of a grid of
    ``frames_per_beat`` frames per quarter note; a note shorter than a frame
    still occupies one frame. All (non-drum) instruments are merged. ``T``
    covers the file up to its last event.

    Args:
        path: a ``.mid`` file.
        frames_per_beat: frames per quarter note.
        include_drums: also use drum tracks.
        out_of_range: ``"drop"`` notes outside 21..108, or ``"error"``.

    Raises:
        DataError: unreadable MIDI file, no notes, or (with
            ``out_of_range="error"``) a note outside the piano range.
    """
    if out_of_range not in ("drop", "error"):
        raise ValueError("out_of_range must be 'drop' or 'error'")
    fpb = _check_fpb(frames_per_beat)
    pm_mod = _pretty_midi()
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError("file not found", file=path, value=str(path))
    try:
        pm = pm_mod.PrettyMIDI(str(path))
    except Exception as exc:  # noqa: BLE001 - mido/pretty_midi raise many types
        raise DataError(f"not a readable MIDI file: {type(exc).__name__}: {exc}", file=path) from None
    spans = []
    for inst in pm.instruments:
        if inst.is_drum and not include_drums:
            continue
        for note in inst.notes:
            if not LOWEST_NOTE <= note.pitch <= HIGHEST_NOTE:
                if out_of_range == "error":
                    raise DataError(
                        f"MIDI note {note.pitch} at {note.start:.3f}s outside the piano range "
                        f"{LOWEST_NOTE}..{HIGHEST_NOTE}",
                        file=path,
                        value=note.pitch,
                    )
                continue
            start = _frame_of(pm, note.start, fpb)
            end = max(_frame_of(pm, note.end, fpb), start + 1)
            spans.append((note.pitch - LOWEST_NOTE, start, end))
    if not spans:
        raise DataError("MIDI file has no notes on the 88 piano keys", file=path, value=0)
    length = max(max(e for _, _, e in spans), _frame_of(pm, pm.get_end_time(), fpb))
    roll = np.zeros((length, NUM_KEYS), dtype=np.float32)
    for key, start, end in spans:
        roll[start:end, key] = 1.0
    return roll


def find_midi_files(folder: str | os.PathLike, recursive: bool = True) -> list[pathlib.Path]:
    """Sorted ``.mid``/``.midi`` files (any case) under ``folder``."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise DataError("MIDI folder does not exist", file=folder, value=str(folder))
    walker = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in walker if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)


def load_midi_folder(
    folder: str | os.PathLike,
    frames_per_beat: int = 4,
    *,
    recursive: bool = True,
    split: Sequence[float] | None = None,
    seed: int = 0,
    min_frames: int = 2,
    on_error: str = "raise",
    include_drums: bool = False,
    return_paths: bool = False,
):
    """Build a dataset from a folder of the user's own MIDI files.

    Args:
        folder: folder to search (sub-folders too if ``recursive``).
        frames_per_beat: quantization, frames per quarter note (JSB Chorales
            uses 1; 4 means sixteenth notes).
        recursive: search sub-folders.
        split: ``None`` to return one list; or fractions ``(train, valid,
            test)`` (e.g. ``(0.6, 0.2, 0.2)``, normalized) to return a dict of
            splits, files being shuffled with ``seed`` first. Each split gets
            at least one file when there are enough files.
        seed: shuffle seed for ``split``.
        min_frames: skip pieces shorter than this (a test sequence needs 2).
        on_error: ``"raise"`` a :class:`DataError` on an unreadable file, or
            ``"skip"`` it (with a warning).
        include_drums: also use drum tracks.
        return_paths: also return the source path of every sequence.

    Returns:
        ``[roll, ...]`` or ``{"train"|"valid"|"test": [roll, ...]}``
        (float32 ``(T, 88)`` arrays); with ``return_paths``, a pair
        ``(sequences, paths)`` with the same structure.

    Raises:
        DataError: no MIDI files, no usable piece, or a bad file with
            ``on_error="raise"``.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError("on_error must be 'raise' or 'skip'")
    files = find_midi_files(folder, recursive)
    if not files:
        raise DataError("no .mid/.midi files found", file=folder, value=0)
    rolls, paths = [], []
    for path in files:
        try:
            roll = midi_to_piano_roll(path, frames_per_beat, include_drums=include_drums)
        except DataError as exc:
            if on_error == "raise":
                raise
            warnings.warn(f"skipping {path}: {exc.reason}", stacklevel=2)
            continue
        if len(roll) < min_frames:
            continue
        rolls.append(roll)
        paths.append(path)
    if not rolls:
        raise DataError("no usable MIDI piece (all empty, too short or unreadable)", file=folder, value=0)
    if split is None:
        return (rolls, paths) if return_paths else rolls
    fractions = np.asarray(split, dtype=float)
    if fractions.shape != (3,) or (fractions < 0).any() or fractions.sum() <= 0:
        raise ValueError(f"split must be three non-negative fractions, got {split!r}")
    fractions = fractions / fractions.sum()
    order = np.random.default_rng(seed).permutation(len(rolls))
    n = len(rolls)
    counts = np.floor(fractions * n).astype(int)
    for i in np.argsort(-(fractions * n - counts)):  # distribute the remainder
        if counts.sum() < n:
            counts[i] += 1
    for i in range(3):  # give every requested split a piece when possible
        if fractions[i] > 0 and counts[i] == 0 and n >= 3:
            donor = int(np.argmax(counts))
            counts[donor] -= 1
            counts[i] += 1
    bounds = np.concatenate([[0], np.cumsum(counts)])
    out = {s: [rolls[j] for j in order[bounds[i] : bounds[i + 1]]] for i, s in enumerate(SPLITS)}
    out_paths = {s: [paths[j] for j in order[bounds[i] : bounds[i + 1]]] for i, s in enumerate(SPLITS)}
    return (out, out_paths) if return_paths else out
