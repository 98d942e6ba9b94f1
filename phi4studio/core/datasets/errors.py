"""Errors of the datasets feature: each names what went wrong and, where there is one, the fix."""

from __future__ import annotations

from phi4studio.core.errors import StudioError


class DatasetError(StudioError):
    """A dataset cannot be opened, read, written or changed as asked."""


class ImportFormatError(DatasetError):
    """A file is not in a recognised (or the requested) dataset format.

    `line` is the 1-based line (or record) number the message is about, when there is one.
    """

    def __init__(self, message: str, *, hint: str | None = None, line: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.line = line


class SynthesisError(DatasetError):
    """Synthetic examples cannot be generated from the given tool catalog."""
