"""The exception raised for bad benchmark data."""

from __future__ import annotations

from typing import Any


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
        super().__init__(f"{where}: {message}" if where else message)
