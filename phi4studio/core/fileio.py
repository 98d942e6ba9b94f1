"""Atomic file writes: a temp file in the same folder, flushed and fsynced, then renamed in place.

A crash or a full disk leaves either the old file or the new one, never a half-written one.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from phi4studio.core.errors import path_error


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once, at import (changing the umask is process-wide: not something to do on every write).
_UMASK = _read_umask()


def _file_mode(target: Path) -> int:
    """The mode a plain `open(target, "w")` gives: the old file's, or 0o666 less the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file beside `path`; on success it replaces `path`, on error it is removed."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open supports 'w' and 'wb' only")
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise path_error("write", target, exc) from exc
    if mode == "w":
        kwargs.setdefault("encoding", "utf-8")
        kwargs.setdefault("newline", "\n")
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            if sys.platform != "win32":  # mkstemp makes it 0o600: give it the usual mode
                os.fchmod(fh.fileno(), _file_mode(target))
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise path_error("write", target, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")
