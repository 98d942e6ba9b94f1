"""The JSON-lines protocol for the training scripts (see README.md), and what they share.

Standalone like the scripts themselves: it never imports phi4studio. Only the main process (rank
0 under `accelerate launch`) writes events and reads stdin; the others stay silent.
"""

from __future__ import annotations

import errno
import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

PROTOCOL_VERSION = 1
T0 = time.time()  # process start (before torch is imported): "time to first step" counts from here

EXIT_OK, EXIT_ERROR, EXIT_REFUSED, EXIT_OOM, EXIT_DISK_FULL, EXIT_NAN = 0, 1, 2, 3, 4, 5


def rank() -> int:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_main() -> bool:
    return rank() == 0


class Emitter:
    """Writes events to stdout (one flushed line each) and, once set, to the run's log file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.log_file: TextIO | None = None
        self.last_error: str | None = None

    def open_log(self, path: Path) -> None:
        if not is_main():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept for the run

    def __call__(self, type_: str, **fields: Any) -> None:
        if type_ == "error":
            self.last_error = str(fields.get("message"))
        if not is_main():
            return
        line = json.dumps({"v": PROTOCOL_VERSION, "type": type_, **fields}, default=str,
                          ensure_ascii=False, allow_nan=False)
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            if self.log_file is not None:
                try:
                    self.log_file.write(line + "\n")
                    self.log_file.flush()
                except OSError:
                    self.log_file = None

    def log(self, message: str, level: str = "info") -> None:
        self("log", message=message, level=level)


emit = Emitter()


class StopFlag:
    """Set by {"cmd": "cancel"} on stdin, or when stdin closes (the app went away)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    def start_reader(self) -> None:
        if not is_main():
            return

        def read() -> None:
            try:
                while True:
                    line = sys.stdin.readline(1 << 16)  # bounded: a line never grows without end
                    if not line:
                        break
                    try:
                        cmd = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(cmd, dict) and cmd.get("cmd") == "cancel":
                        self.set("cancelled")
            except (OSError, ValueError):
                pass
            self.set("stdin closed")

        threading.Thread(target=read, name="stdin-commands", daemon=True).start()


def finite(x: Any) -> float | None:
    """A float for JSON, or None for NaN/inf/missing (the protocol never carries NaN)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# --- memory -----------------------------------------------------------------------------------


def memory_now() -> dict[str, float]:
    """Current and peak memory in GB: the GPU's when training on CUDA, else the process RSS."""
    out: dict[str, float] = {}
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            out["memory_gb"] = round(torch.cuda.memory_allocated() / 2**30, 3)
            out["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
            out["reserved_gb"] = round(torch.cuda.memory_reserved() / 2**30, 3)
            return out
    except Exception:  # noqa: BLE001 - memory figures are best effort
        pass
    rss, peak = _rss_bytes()
    if rss is not None:
        out["memory_gb"] = round(rss / 2**30, 3)
    if peak is not None:
        out["peak_memory_gb"] = round(peak / 2**30, 3)
    return out


def _rss_bytes() -> tuple[int | None, int | None]:
    rss = peak = None
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
        return rss, peak
    except OSError:
        pass
    try:
        import psutil

        info = psutil.Process().memory_info()
        return int(info.rss), int(getattr(info, "peak_wset", 0) or info.rss)
    except Exception:  # noqa: BLE001
        return None, None


# --- failures ---------------------------------------------------------------------------------


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    text = str(exc).lower()
    return name in ("OutOfMemoryError", "OutOfMemoryException") or (
        isinstance(exc, RuntimeError)
        and ("out of memory" in text or "can't allocate memory" in text
             or "cannot allocate memory" in text)
    )


def is_disk_full(exc: BaseException) -> bool:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "no space left on device" in str(e).lower():
            return True
        e = e.__cause__ or e.__context__
    return False


def free_gb(path: Path) -> float | None:
    import shutil

    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return round(shutil.disk_usage(p).free / 2**30, 1)
    except OSError:
        return None


def load_config(path: Path) -> dict[str, Any]:
    """A JSON or YAML config file; relative paths in it are relative to its folder."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the config must be a mapping of settings")
    return data
