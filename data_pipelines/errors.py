"""The exception raised for bad benchmark data."""

from __future__ import annotations

import reprlib
from typing import Any

#: Longest error message :class:`DataError` produces (what it quotes is cut first).
MESSAGE_LIMIT = 500

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlong = 40
_repr.maxlist = _repr.maxtuple = _repr.maxdict = 6
_repr.maxlevel = 3


def quote(value: Any) -> str:
    """A short ``repr`` of ``value`` for an error message.

    Bounded in length and depth (:mod:`reprlib`), so a crafted file's
    multi-megabyte string or a list nested 100 000 deep is quoted in a few
    dozen characters (plain ``repr`` would print it all, or raise
    ``RecursionError``).
    """
    try:
        return _repr.repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr itself fails
        return f"<{type(value).__name__}>"


class DataError(ValueError):
    """Bad, missing or unreadable data.

    Subclasses :class:`ValueError` so callers that already catch ``ValueError``
    keep working. Besides the message, the instance carries the context of the
    problem as attributes (each ``None`` when it does not apply):

    Attributes:
        file: the file being read (``str``).
        split: ``"train"``, ``"valid"`` or ``"test"``.
        index: index of the offending sequence inside its split.
        value: the offending value (a width, a note number, a byte count...).
    """

    def __init__(
        self,
        message: str,
        *,
        file: Any = None,
        split: str | None = None,
        index: int | None = None,
        value: Any = None,
    ):
        self.file = None if file is None else str(file)
        self.split = split
        self.index = index
        self.value = value
        self.reason = message
        parts = []
        if self.file is not None:
            parts.append(f"file {self.file!r}")
        if split is not None:
            parts.append(f"split {split!r}")
        if index is not None:
            parts.append(f"sequence {index}")
        where = ", ".join(parts)
        text = f"{where}: {message}" if where else message
        if len(text) > MESSAGE_LIMIT:
            text = text[: MESSAGE_LIMIT - 3] + "..."
        super().__init__(text)
