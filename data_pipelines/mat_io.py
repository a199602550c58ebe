"""Reading and writing the ``.mat`` (MATLAB v5) encoding.

A benchmark ``.mat`` file holds the variables ``traindata``, ``validdata`` and
``testdata``; each is a 1 x N cell array whose cells are T x 88 ``uint8`` piano
rolls. :func:`scipy.io.loadmat` returns a cell as an ``object`` ndarray of
shape ``(1, N)`` whose elements are the numeric arrays.

A file whose sha256 is that of one of the four benchmark files goes straight
to :func:`scipy.io.loadmat`. Any other file (a user's own, a corrupted copy
passed to :func:`load_mat` directly) is first walked by
:func:`~.mat_structure.check_mat_v5`, because SciPy's compiled reader trusts
the sizes written in the file and can crash the interpreter on a corrupt one
(see that module for the measurements).
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
from typing import Mapping, Sequence

import numpy as np

from .errors import DataError
from .mat_structure import check_mat_v5
from .registry import DATASETS, MAT_KEYS, SPLITS, get_info
from .validation import validate_piano_roll

#: sha256 of the four benchmark files: known-good input for SciPy's reader.
_BENCHMARK_SHA256 = frozenset(get_info(name).mat.sha256 for name in DATASETS)


def _read_raw(path: pathlib.Path) -> tuple[dict, list[str]]:
    """``scipy.io.loadmat`` with every failure turned into :class:`DataError`.

    Returns the loaded variables and the names of all variables in the file
    (empty for a benchmark file, which holds exactly the three expected ones).
    A file that is not a known benchmark file is first checked by
    :func:`check_mat_v5` (pure Python), because SciPy's compiled reader can
    crash on corrupt sizes instead of raising.
    """
    import scipy.io

    if not path.is_file():
        raise DataError("file not found", file=path, value=str(path))
    size = path.stat().st_size
    if size == 0:
        raise DataError("file is empty (0 bytes), not a .mat file", file=path, value=0)
    data = path.read_bytes()
    names = []
    if hashlib.sha256(data).hexdigest() not in _BENCHMARK_SHA256:
        names = check_mat_v5(data, file=path, variables=MAT_KEYS.values())
    try:
        raw = scipy.io.loadmat(
            io.BytesIO(data),
            variable_names=list(MAT_KEYS.values()),
            squeeze_me=False,
            struct_as_record=True,
        )
    except NotImplementedError as exc:  # MATLAB v7.3 (HDF5) files
        raise DataError(f"unsupported .mat version ({exc}); save it as v5 or v7", file=path) from None
    except Exception as exc:  # noqa: BLE001 - any parser failure means a bad file
        raise DataError(
            f"not a readable MATLAB v5 .mat file (truncated or corrupt?): "
            f"{type(exc).__name__}: {exc}",
            file=path,
            value=size,
        ) from None
    return raw, names


def load_mat(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Load a benchmark ``.mat`` file.

    Args:
        path: file with the variables ``traindata``, ``validdata``, ``testdata``.

    Returns:
        ``{"train"|"valid"|"test": [float32 array (T, 88), ...]}``.

    Raises:
        DataError: missing file, not a .mat file, truncated or corrupt, a
            missing variable, a variable that is not a cell array, an empty
            split, or a malformed piano roll (width, values).
    """
    path = pathlib.Path(path)
    raw, names = _read_raw(path)
    out: dict[str, list[np.ndarray]] = {}
    for split in SPLITS:
        key = MAT_KEYS[split]
        if key not in raw:
            found = [n for n in names if n]
            raise DataError(
                f"missing variable {key!r} (found {found})", file=path, split=split, value=key
            )
        cell = raw[key]
        if not isinstance(cell, np.ndarray) or cell.dtype != object:
            raise DataError(
                f"variable {key!r} must be a cell array of piano rolls, got "
                f"{type(cell).__name__} of dtype {getattr(cell, 'dtype', None)}",
                file=path,
                split=split,
                value=str(getattr(cell, "dtype", type(cell).__name__)),
            )
        items = cell.ravel(order="F")
        if items.size == 0:
            raise DataError("split is empty (no sequences)", file=path, split=split, value=0)
        out[split] = [
            validate_piano_roll(item, file=path, split=split, index=i)
            for i, item in enumerate(items)
        ]
    return out


def save_mat(
    splits: Mapping[str, Sequence[np.ndarray]],
    path: str | os.PathLike,
    *,
    compress: bool = True,
) -> pathlib.Path:
    """Write piano-roll splits in the benchmark ``.mat`` layout.

    Args:
        splits: ``{"train"|"valid"|"test": [array (T, 88), ...]}``; every
            roll is validated and stored as ``uint8``.
        path: output file.
        compress: zlib-compress the variables (as the public files are).

    Returns:
        The path written.
    """
    import scipy.io

    path = pathlib.Path(path)
    variables = {}
    for split in SPLITS:
        seqs = splits[split]
        cell = np.empty((1, len(seqs)), dtype=object)
        for i, seq in enumerate(seqs):
            cell[0, i] = validate_piano_roll(seq, split=split, index=i).astype(np.uint8)
        variables[MAT_KEYS[split]] = cell
    scipy.io.savemat(str(path), variables, do_compression=compress, format="5")
    return path
