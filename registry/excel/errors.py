"""The error a whole file is refused with, shared by the limits and the importer."""

from __future__ import annotations

__all__ = ["ImportRefusedError"]


class ImportRefusedError(ValueError):
    """The file as a whole cannot be imported (not an .xlsx, wrong headers, too many rows, too large).

    ``message`` is in the active language and fit to show to the uploader as it is.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
