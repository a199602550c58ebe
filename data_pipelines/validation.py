"""Checks that turn malformed data into :class:`DataError` with context.

Every check names the file, split, sequence index and offending value, so a
user can find the problem in their data without a debugger.
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import DataError, quote
from .registry import HIGHEST_NOTE, LOWEST_NOTE, NUM_KEYS, SPLITS


def validate_piano_roll(
    roll: Any,
    *,
    file: Any = None,
    split: str | None = None,
    index: int | None = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """Check one piano roll and return it as a float32 ``(T, 88)`` array.

    Args:
        roll: array-like of shape ``(T, 88)`` holding only 0 and 1.
        file, split, index: context for error messages.
        allow_empty: accept ``T == 0``.

    Raises:
        DataError: not numeric, not 2-D, width other than 88, no time steps,
            or a value other than 0/1 (the first offending value is named).
    """
    ctx = dict(file=file, split=split, index=index)
    try:
        arr = np.asarray(roll)
    except Exception as exc:  # ragged nested lists and the like
        raise DataError(f"piano roll is not an array ({exc})", **ctx) from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise DataError(f"piano roll has non-numeric dtype {arr.dtype}", value=str(arr.dtype), **ctx)
    if arr.ndim != 2:
        raise DataError(
            f"piano roll must be 2-D (T x {NUM_KEYS}), got shape {arr.shape}",
            value=arr.shape,
            **ctx,
        )
    if arr.shape[1] != NUM_KEYS:
        raise DataError(
            f"piano roll width is {arr.shape[1]}, expected {NUM_KEYS} keys",
            value=arr.shape[1],
            **ctx,
        )
    if arr.shape[0] == 0 and not allow_empty:
        raise DataError("sequence has no time steps", value=0, **ctx)
    if arr.dtype != np.bool_:
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            t, k = np.argwhere(bad)[0]
            value = arr[t, k].item()
            raise DataError(
                f"piano roll value {quote(value)} at time step {t}, key {k} is not 0 or 1",
                value=value,
                **ctx,
            )
    return arr.astype(np.float32)


def validate_note(
    note: Any,
    *,
    file: Any = None,
    split: str | None = None,
    index: int | None = None,
    step: int | None = None,
) -> int:
    """Check one MIDI note number (an integer in 21..108) and return it as ``int``.

    Accepts Python ints and numpy integer scalars; rejects bools, floats,
    strings and everything else.

    Raises:
        DataError: not an integer, or outside the piano range.
    """
    ctx = dict(file=file, split=split, index=index)
    at = "" if step is None else f" at time step {step}"
    if isinstance(note, (bool, np.bool_)) or not isinstance(note, (numbers.Integral, np.integer)):
        raise DataError(
            f"MIDI note{at} must be an integer, got {type(note).__name__} {quote(note)}",
            value=note,
            **ctx,
        )
    value = int(note)
    if not LOWEST_NOTE <= value <= HIGHEST_NOTE:
        raise DataError(
            f"MIDI note {quote(value)}{at} outside the piano range {LOWEST_NOTE}..{HIGHEST_NOTE}",
            value=value,
            **ctx,
        )
    return value


def notes_to_piano_roll(
    sequence: Any,
    *,
    file: Any = None,
    split: str | None = None,
    index: int | None = None,
) -> np.ndarray:
    """Convert one note-list sequence into a validated float32 ``(T, 88)`` roll.

    A sequence is a list (or tuple) of time steps; a time step is a list,
    tuple or set of sounding MIDI note numbers (possibly empty). Note ``n``
    sets column ``n - 21``.

    Raises:
        DataError: wrong container types, bad notes or an empty sequence.
    """
    ctx = dict(file=file, split=split, index=index)
    if not isinstance(sequence, (list, tuple)):
        raise DataError(
            f"sequence must be a list of time steps, got {type(sequence).__name__}",
            value=type(sequence).__name__,
            **ctx,
        )
    if len(sequence) == 0:
        raise DataError("sequence has no time steps", value=0, **ctx)
    roll = np.zeros((len(sequence), NUM_KEYS), dtype=np.float32)
    for t, step in enumerate(sequence):
        if not isinstance(step, (list, tuple, set, frozenset)):
            raise DataError(
                f"time step {t} must be a list of MIDI notes, got {type(step).__name__} {quote(step)}",
                value=step,
                **ctx,
            )
        for note in step:
            roll[t, validate_note(note, step=t, **ctx) - LOWEST_NOTE] = 1.0
    return roll


def validate_splits(
    splits: Any,
    *,
    file: Any = None,
    required: Iterable[str] = SPLITS,
) -> None:
    """Check that ``splits`` maps each required split name to a non-empty list.

    Raises:
        DataError: not a mapping, a split missing, or a split with no sequences.
    """
    if not isinstance(splits, Mapping):
        raise DataError(
            f"expected a mapping of splits {list(required)}, got {type(splits).__name__}",
            file=file,
            value=type(splits).__name__,
        )
    for split in required:
        if split not in splits:
            raise DataError(
                f"missing split {split!r} (found keys {sorted(map(str, splits))})",
                file=file,
                split=split,
                value=split,
            )
        seqs = splits[split]
        if not isinstance(seqs, (list, tuple, np.ndarray)):
            raise DataError(
                f"split must be a list of sequences, got {type(seqs).__name__}",
                file=file,
                split=split,
                value=type(seqs).__name__,
            )
        if len(seqs) == 0:
            raise DataError("split is empty (no sequences)", file=file, split=split, value=0)


def validate_sequences(sequences: Sequence[Any], *, what: str = "sequences") -> list[np.ndarray]:
    """Validate a list of piano rolls passed to a pipeline function.

    Raises:
        DataError: the list is empty or a roll is malformed (index named).
    """
    if len(sequences) == 0:
        raise DataError(f"no {what} given (empty list)", value=0)
    return [validate_piano_roll(s, index=i) for i, s in enumerate(sequences)]


#: A test sequence is scored on frames 2..T (predicted from frames 1..T-1).
MIN_TEST_STEPS = 2


def validate_scorable(splits: Mapping[str, Sequence[np.ndarray]], *, file: Any = None) -> None:
    """Check that every test sequence has at least :data:`MIN_TEST_STEPS` time steps.

    A one-step test sequence has nothing to score; found here, at load time,
    the error names it (instead of an evaluation failing after training).

    Raises:
        DataError: naming the file, split and sequence.
    """
    for i, seq in enumerate(splits.get("test", ())):
        if len(seq) < MIN_TEST_STEPS:
            raise DataError(
                f"test sequence has {len(seq)} time step(s); at least {MIN_TEST_STEPS} are needed "
                "(a test sequence is scored on frames 2..T)",
                file=file, split="test", index=i, value=len(seq),
            )
