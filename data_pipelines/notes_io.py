"""Reading and writing the note-list encoding (JSON and the original pickles).

The note-list encoding is ``{"train"|"valid"|"test": [sequence, ...]}``; a
sequence is a list of time steps and a time step is the list (or tuple) of MIDI
note numbers sounding at that step, possibly empty. Note ``n`` becomes column
``n - 21`` of the piano roll.

The original files of Boulanger-Lewandowski et al. are Python pickles. A plain
``pickle.load`` runs arbitrary code named in the file, so pickles are read only
through :class:`RestrictedUnpickler`, which admits containers, ints and numpy
integer scalars and refuses every other global.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import DataError
from .registry import LOWEST_NOTE, SPLITS
from .validation import notes_to_piano_roll, validate_piano_roll, validate_splits

#: numpy integer kinds/sizes a pickled scalar may have.
_INT_DTYPES = {
    f"{kind}{size}" for kind in ("i", "u") for size in (1, 2, 4, 8)
} | {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


class _PickledIntDType:
    """Inert stand-in for ``numpy.dtype`` while unpickling.

    The real ``numpy.dtype`` is never called on data from the file: this object
    only records an integer type code and the byte order that the pickle's
    ``BUILD`` state names, and :func:`_safe_scalar` turns it into a canonical
    dtype.
    """

    def __init__(self, code: str):
        self.dtype = np.dtype(code)  # code is from the closed set _INT_DTYPES
        self.byteorder = "="

    def __setstate__(self, state: Any) -> None:
        if (
            not isinstance(state, tuple)
            or len(state) < 2
            or state[1] not in ("<", ">", "|", "=")
        ):
            raise DataError(f"unexpected numpy dtype state in pickle: {state!r}", value=state)
        self.byteorder = state[1]


def _safe_dtype(code: Any, align: Any = False, copy: Any = True) -> _PickledIntDType:
    """Admit ``numpy.dtype(code, ...)`` only for integer type codes."""
    if not isinstance(code, str) or code not in _INT_DTYPES:
        raise DataError(
            f"pickle asks for numpy dtype {code!r}; only integer dtypes are allowed", value=code
        )
    return _PickledIntDType(code)


def _safe_scalar(dtype: Any, data: Any = None) -> np.integer:
    """Rebuild a numpy integer scalar from its raw bytes (``multiarray.scalar``)."""
    if not isinstance(dtype, _PickledIntDType):
        raise DataError(f"numpy scalar with disallowed dtype {dtype!r}", value=repr(dtype))
    if isinstance(data, str):  # Python 2 pickles: bytes come back as latin-1 str
        data = data.encode("latin1")
    canonical = dtype.dtype.newbyteorder(dtype.byteorder if dtype.byteorder != "|" else "=")
    if not isinstance(data, bytes) or len(data) != canonical.itemsize:
        raise DataError(
            f"numpy scalar of {canonical} needs {canonical.itemsize} bytes, got {data!r}",
            value=data,
        )
    return np.frombuffer(data, dtype=canonical)[0].astype(dtype.dtype.newbyteorder("="))


def _safe_codecs_encode(text: Any, encoding: str = "utf-8") -> bytes:
    """Admit ``_codecs.encode(str, 'latin1')``, which Python 3 pickles use for bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise DataError(f"disallowed _codecs.encode call in pickle: {encoding!r}", value=encoding)
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that admits only what the note-list pickles need.

    Lists, tuples, dicts, strings and ints are built by pickle opcodes without
    any global lookup. The only globals admitted are:

    * ``numpy.core.multiarray.scalar`` / ``numpy._core.multiarray.scalar`` and
      ``numpy.dtype``, replaced by inert stand-ins that only rebuild integer
      scalars from raw bytes;
    * ``_codecs.encode`` (for ``latin1`` only), used by Python 3 pickles at
      protocols 0-2 to store bytes;
    * ``builtins.set`` / ``builtins.frozenset`` (time steps stored as sets).

    Any other global (``os.system``, ``builtins.eval``, ...) raises
    :class:`DataError` before anything is called. Persistent ids are refused.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "scalar"): _safe_scalar,
        ("numpy._core.multiarray", "scalar"): _safe_scalar,
        ("numpy", "dtype"): _safe_dtype,
        ("_codecs", "encode"): _safe_codecs_encode,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("__builtin__", "set"): set,
        ("__builtin__", "frozenset"): frozenset,
    }

    def __init__(self, file, *, file_name: Any = None):
        super().__init__(file, encoding="latin1")
        self._file_name = file_name

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        """Return an allowed callable, or refuse with :class:`DataError`."""
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"pickle refers to the disallowed global {module}.{name}; only lists, "
                "tuples, ints and numpy integer scalars are accepted",
                file=self._file_name,
                value=f"{module}.{name}",
            ) from None

    def persistent_load(self, pid):
        """Refuse persistent ids (they would need a resolver)."""
        raise DataError("pickle uses persistent ids, which are not allowed", file=self._file_name, value=pid)


def restricted_loads(data: bytes, *, file_name: Any = None) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`.

    Raises:
        DataError: a disallowed global, or a truncated/corrupt pickle.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), file_name=file_name).load()
    except DataError as exc:
        if exc.file is None and file_name is not None:
            raise DataError(exc.reason, file=file_name, value=exc.value) from None
        raise
    except RecursionError:
        raise DataError("pickle nesting too deep", file=file_name) from None
    except Exception as exc:  # noqa: BLE001 - UnpicklingError, EOFError, ValueError, ...
        raise DataError(
            f"not a readable pickle (truncated or corrupt?): {type(exc).__name__}: {exc}",
            file=file_name,
        ) from None


def _splits_to_rolls(obj: Any, path: pathlib.Path) -> dict[str, list[np.ndarray]]:
    """Validate a decoded note-list mapping and convert it to piano rolls."""
    validate_splits(obj, file=path)
    return {
        split: [
            notes_to_piano_roll(seq, file=path, split=split, index=i)
            for i, seq in enumerate(obj[split])
        ]
        for split in SPLITS
    }


def _read_bytes(path: pathlib.Path) -> bytes:
    if not path.is_file():
        raise DataError("file not found", file=path, value=str(path))
    data = path.read_bytes()
    if not data:
        raise DataError("file is empty (0 bytes)", file=path, value=0)
    return data


def load_notes_json(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Load a note-list JSON file into float32 ``(T, 88)`` piano rolls per split.

    Raises:
        DataError: unreadable JSON, missing/empty splits, bad notes.
    """
    path = pathlib.Path(path)
    data = _read_bytes(path)
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DataError(f"not valid JSON: {exc}", file=path) from None
    return _splits_to_rolls(obj, path)


def load_notes_pickle(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Load an original note-list pickle through :class:`RestrictedUnpickler`.

    Raises:
        DataError: disallowed content, corrupt pickle, missing/empty splits, bad notes.
    """
    path = pathlib.Path(path)
    obj = restricted_loads(_read_bytes(path), file_name=path)
    return _splits_to_rolls(obj, path)


def load_notes(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Load a note-list file, JSON (``.json``) or pickle (any other suffix)."""
    path = pathlib.Path(path)
    if path.suffix.lower() == ".json":
        return load_notes_json(path)
    return load_notes_pickle(path)


def piano_roll_to_notes(roll: Any) -> list[list[int]]:
    """Convert a ``(T, 88)`` 0/1 piano roll to a list of sorted MIDI note lists."""
    arr = validate_piano_roll(roll, allow_empty=True)
    return [[int(k) + LOWEST_NOTE for k in np.flatnonzero(step)] for step in arr]


def save_notes_json(
    splits: Mapping[str, Sequence[Any]], path: str | os.PathLike
) -> pathlib.Path:
    """Write piano-roll splits in the note-list JSON encoding.

    Args:
        splits: ``{"train"|"valid"|"test": [array (T, 88), ...]}``.
        path: output file.
    """
    path = pathlib.Path(path)
    obj = {split: [piano_roll_to_notes(r) for r in splits[split]] for split in SPLITS}
    from keras_rnnreg.app import rundir

    rundir.atomic_write_text(path, json.dumps(obj, separators=(",", ":")))
    return path
