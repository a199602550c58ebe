"""Pure-Python structural check of a MATLAB v5 file before SciPy reads it.

Why it exists: SciPy's MAT v5 reader is compiled code that trusts the sizes
written in the file; some byte-level corruptions make it read out of bounds
and crash the interpreter with a segmentation fault instead of raising.
Measured with SciPy 1.17.1, calling :func:`scipy.io.loadmat` directly on
random corruptions (byte flips, truncations, insertions) of the benchmark
files: 7 of 6000 mutations of the four compressed originals and 6 of 1750 of
an uncompressed rewrite killed the process (in ``read_var_array``).

Where it is still needed: only for files that are not one of the four
benchmark files. :func:`~.mat_io.load_mat` skips it for a file whose sha256 is
a benchmark's, and :func:`~.sources.locate_file` refuses a file under a
benchmark's name whose sha256 does not match, so it never runs when loading
a benchmark by name. It stays for what :func:`~.mat_io.load_mat` accepts
besides: a user's own ``.mat`` file, which may be truncated or corrupt.

:func:`check_mat_v5` walks the file in Python and accepts only the layout the
benchmarks use:

* a 128-byte header with version ``0x0100`` and endian mark ``IM``/``MI``;
* top-level ``miMATRIX`` or ``miCOMPRESSED`` (zlib, holding one
  ``miMATRIX``) elements that exactly fill the file;
* for the variables that will be loaded: cell arrays whose cells are real
  numeric (or logical) matrices, every tag's byte count agreeing with the
  matrix dimensions and fitting inside its parent element.

Anything else raises :class:`DataError` without calling SciPy.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Collection

from .errors import DataError

MI_INT8, MI_UINT8, MI_INT32, MI_UINT32 = 1, 2, 5, 6
MI_MATRIX, MI_COMPRESSED = 14, 15
#: Numeric data-element types and their item sizes.
MI_NUMERIC_SIZES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8}
MX_CELL = 1
#: mxDOUBLE .. mxUINT64 classes (numeric matrices, including logical).
MX_NUMERIC = frozenset(range(6, 16))
_COMPLEX_FLAG = 0x0800
_MAX_DEPTH = 16
#: Largest decompressed size accepted for one variable (zip-bomb guard).
MAX_DECOMPRESSED = 1 << 31


class _Bad(Exception):
    """Internal: structural problem, turned into DataError by check_mat_v5."""


class _Walker:
    """Reads tags of one byte buffer in the file's byte order."""

    def __init__(self, buf: bytes, endian: str):
        self.buf = buf
        self.endian = endian

    def tag(self, pos: int, end: int) -> tuple[int, int, int, int]:
        """Return ``(type, nbytes, data_start, next_pos)`` of the tag at ``pos``."""
        if pos + 8 > end:
            raise _Bad(f"truncated data element tag at byte {pos}")
        word0, word1 = struct.unpack_from(self.endian + "II", self.buf, pos)
        if word0 >> 16:  # small data element: type and size packed in 4 bytes
            nbytes, mtype = word0 >> 16, word0 & 0xFFFF
            if nbytes > 4:
                raise _Bad(f"small data element of {nbytes} bytes at byte {pos}")
            return mtype, nbytes, pos + 4, pos + 8
        mtype, nbytes = word0, word1
        start = pos + 8
        if start + nbytes > end:
            raise _Bad(
                f"element at byte {pos} claims {nbytes} bytes but only {end - start} remain"
            )
        if mtype in (MI_MATRIX, MI_COMPRESSED):
            return mtype, nbytes, start, start + nbytes
        padded = start + nbytes + (-nbytes % 8)
        if padded > end:
            raise _Bad(f"padding of element at byte {pos} runs past its parent")
        return mtype, nbytes, start, padded

    def matrix(self, start: int, nbytes: int, depth: int, full: bool) -> bytes:
        """Check the body of an ``miMATRIX`` element; return its variable name."""
        if depth > _MAX_DEPTH:
            raise _Bad("cell arrays nested too deeply")
        end = start + nbytes
        if nbytes == 0:  # MATLAB's encoding of an empty matrix
            return b""
        mtype, size, data, pos = self.tag(start, end)
        if mtype != MI_UINT32 or size != 8:
            raise _Bad(f"bad array-flags element (type {mtype}, {size} bytes) at byte {start}")
        flags = struct.unpack_from(self.endian + "I", self.buf, data)[0]
        mclass = flags & 0xFF
        mtype, size, data, pos = self.tag(pos, end)
        if mtype != MI_INT32 or size < 8 or size % 4:
            raise _Bad(f"bad dimensions element (type {mtype}, {size} bytes)")
        dims = struct.unpack_from(self.endian + "%di" % (size // 4), self.buf, data)
        if any(d < 0 for d in dims):
            raise _Bad(f"negative dimension in {dims}")
        mtype, size, data, pos = self.tag(pos, end)
        if mtype not in (MI_INT8, MI_UINT8):
            raise _Bad(f"bad array-name element (type {mtype})")
        name = bytes(self.buf[data : data + size])
        if not full:
            return name
        count = math.prod(dims)
        if mclass == MX_CELL:
            for i in range(count):
                mtype, size, data, pos = self.tag(pos, end)
                if mtype != MI_MATRIX:
                    raise _Bad(f"cell {i} is not a matrix element (type {mtype})")
                self.matrix(data, size, depth + 1, True)
        elif mclass in MX_NUMERIC:
            if flags & _COMPLEX_FLAG:
                raise _Bad("complex matrix (piano rolls are real)")
            mtype, size, data, pos = self.tag(pos, end)
            if mtype not in MI_NUMERIC_SIZES:
                raise _Bad(f"numeric data of unknown type {mtype}")
            if size != count * MI_NUMERIC_SIZES[mtype]:
                raise _Bad(f"matrix of dims {dims} holds {size} bytes of type {mtype}")
        else:
            raise _Bad(f"unsupported MATLAB class {mclass} (expected cells of numeric matrices)")
        if pos != end:
            raise _Bad(f"matrix element has {end - pos} unexpected trailing bytes")
        return name


def check_mat_v5(buf: bytes, *, file=None, variables: Collection[str] = ()) -> list[str]:
    """Raise :class:`DataError` unless ``buf`` is a well-formed MAT v5 file.

    Returns the names of all variables in the file, in file order.

    Args:
        buf: the whole file.
        file: file name for error messages.
        variables: names whose contents are checked completely; other
            variables only have their headers checked (SciPy skips them).
    """
    targets = {v.encode("latin1") for v in variables}
    if len(buf) < 128:
        raise DataError(f"too short for a MATLAB v5 .mat file ({len(buf)} bytes)", file=file, value=len(buf))
    mark = bytes(buf[126:128])
    if mark not in (b"IM", b"MI") or 0 in buf[:4]:
        raise DataError("not a MATLAB v5 .mat file (bad header)", file=file, value=mark)
    endian = "<" if mark == b"IM" else ">"
    version = struct.unpack_from(endian + "H", buf, 124)[0]
    if version == 0x0200:
        raise DataError("MATLAB v7.3 (HDF5) .mat files are not supported; save as v7", file=file, value=version)
    if version != 0x0100:
        raise DataError(f"unknown .mat version 0x{version:04x}", file=file, value=version)
    top = _Walker(buf, endian)
    pos = 128
    names: list[str] = []
    try:
        while pos < len(buf):
            mtype, size, data, nxt = top.tag(pos, len(buf))
            if mtype == MI_COMPRESSED:
                inflater = zlib.decompressobj()
                try:
                    inner = inflater.decompress(bytes(buf[data : data + size]), MAX_DECOMPRESSED)
                except zlib.error as exc:
                    raise _Bad(f"corrupt compressed element at byte {pos}: {exc}") from None
                if not inflater.eof or inflater.unconsumed_tail:
                    raise _Bad(f"truncated or oversized compressed element at byte {pos}")
                walker = _Walker(inner, endian)
                itype, isize, idata, _ = walker.tag(0, len(inner))
                if itype != MI_MATRIX:
                    raise _Bad(f"compressed element at byte {pos} does not hold a matrix")
            elif mtype == MI_MATRIX:
                walker, isize, idata = top, size, data
            else:
                raise _Bad(f"top-level element of type {mtype} at byte {pos} (expected a matrix)")
            name = walker.matrix(idata, isize, 0, False)
            names.append(name.decode("latin1"))
            if name in targets:
                walker.matrix(idata, isize, 0, True)
            pos = nxt
    except _Bad as exc:
        raise DataError(f"corrupt .mat file: {exc}", file=file) from None
    return names
