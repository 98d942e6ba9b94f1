"""User-facing errors: every one says what went wrong and, where there is one, how to fix it."""

from __future__ import annotations

from pathlib import Path


class StudioError(Exception):
    """An error meant for the user: a specific message plus an optional fix in words."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class WorkspaceError(StudioError):
    """The workspace folder cannot be used (missing, unwritable, full, or from a newer version)."""


class CatalogVersionError(WorkspaceError):
    """The catalog was written by a newer Phi-4 Studio; it is refused, never overwritten."""


class SettingsError(StudioError):
    """Settings could not be read or written."""


class JobError(StudioError):
    """A job failed with a known cause (the job's own error event or a non-zero exit)."""


def path_error(action: str, path: Path, exc: OSError) -> WorkspaceError:
    """Turn an OSError into a message that names the path and the likely fix."""
    import errno

    reason = exc.strerror or str(exc)
    hint = None
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "Choose a folder you can write to (File > New workspace), or fix its permissions."
    elif exc.errno == errno.ENOSPC:
        hint = "The disk is full: free some space or choose a workspace on another disk."
    return WorkspaceError(f"Cannot {action} {path}: {reason}", hint=hint)
