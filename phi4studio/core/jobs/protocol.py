"""The JSON-lines protocol between the app and its subprocesses (documented in training/README.md).

stdout: one JSON object per line, `{"v": 1, "type": ...}`; any other stdout line is a log line.
stdin: JSON-line commands such as `{"cmd": "cancel"}`.

This module has both sides: `parse_event` for the app, `Emitter` and `CommandReader` for workers
written in this package (the standalone training scripts carry their own copy of the few lines).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

PROTOCOL_VERSION = 1

EVENT_TYPES = frozenset(
    {"start", "progress", "metric", "eval", "checkpoint", "log", "artifact", "result", "error",
     "token", "done"}
)


def parse_event(line: str) -> dict[str, Any] | None:
    """A protocol event, or None when the line is plain log text."""
    s = line.strip()
    if not (s.startswith("{") and s.endswith("}")):
        return None
    try:
        obj = json.loads(s)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        return None
    if obj.get("v") != PROTOCOL_VERSION:
        return None
    return obj


def encode(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


class Emitter:
    """Writes protocol events to stdout (one line each, flushed), thread-safe."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, type_: str, **fields: Any) -> None:
        line = encode({"v": PROTOCOL_VERSION, "type": type_, **fields})
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


class CommandReader:
    """Reads JSON-line commands from stdin on a daemon thread.

    `cancelled` is set by {"cmd": "cancel"} and also when stdin closes (the app went away).
    Other commands go to `on_command`.
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        on_command: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.cancelled = threading.Event()
        self.stdin_closed = threading.Event()
        self._stream = stream or sys.stdin
        self._on_command = on_command
        self._thread = threading.Thread(target=self._loop, name="stdin-commands", daemon=True)

    def start(self) -> CommandReader:
        self._thread.start()
        return self

    def _loop(self) -> None:
        try:
            for line in self._stream:
                try:
                    cmd = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(cmd, dict):
                    continue
                if cmd.get("cmd") == "cancel":
                    self.cancelled.set()
                elif self._on_command is not None:
                    self._on_command(cmd)
        except (OSError, ValueError):
            pass
        self.stdin_closed.set()
        self.cancelled.set()
