"""Shared pieces of export_model.py: protocol events, the stop flag, running the builder and Olive
as subprocesses with their output kept, and the explanations of their known failures.

Standalone like every script here: it never imports phi4studio (see README.md).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

EXIT_OK, EXIT_ERROR, EXIT_REFUSED, EXIT_DISK_FULL = 0, 1, 2, 4


class Refused(Exception):
    """The export cannot run as asked; `code`, a message and a hint for the user."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


class ToolFailed(Exception):
    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


class Cancelled(Exception):
    pass


# --- events ---------------------------------------------------------------------------------------
class Emitter:
    """Events on stdout, one flushed JSON line each, and into the export's log file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.log_file: IO[str] | None = None

    def open_log(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept for the run

    def __call__(self, type_: str, **fields: Any) -> None:
        line = json.dumps({"v": 1, "type": type_, **fields}, default=str, ensure_ascii=False)
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            if self.log_file is not None:
                try:
                    self.log_file.write(line + "\n")
                    self.log_file.flush()
                except OSError:
                    self.log_file = None

    def log(self, message: str, level: str = "info", **fields: Any) -> None:
        self("log", message=message, level=level, **fields)


emit = Emitter()


class StopFlag:
    """Set by {"cmd": "cancel"} on stdin, or when stdin closes (the app went away)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def is_set(self) -> bool:
        return self.event.is_set()

    def check(self) -> None:
        if self.event.is_set():
            raise Cancelled()

    def start_reader(self) -> None:
        def read() -> None:
            try:
                for line in sys.stdin:
                    with contextlib.suppress(ValueError):
                        cmd = json.loads(line)
                        if isinstance(cmd, dict) and cmd.get("cmd") == "cancel":
                            self.event.set()
            except (OSError, ValueError):
                pass
            self.event.set()

        threading.Thread(target=read, name="stdin-commands", daemon=True).start()


stop = StopFlag()


# --- packages -------------------------------------------------------------------------------------
def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def version_of(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


PACKAGES = {  # module -> (distribution, why it is needed)
    "torch": ("torch", "merging, de-quantizing and the PyTorch reference"),
    "transformers": ("transformers", "loading the source model"),
    "peft": ("peft", "LoRA adapters"),
    "onnxruntime_genai": ("onnxruntime-genai", "the model builder"),
    "onnx": ("onnx", "the model builder"),
    "onnx_ir": ("onnx-ir", "the model builder (onnxruntime-genai needs it but does not declare "
                           "it as a dependency, so it is often missing)"),
    "olive": ("olive-ai", "ONNX LoRA adapters (olive generate-adapter) and GPTQ/AWQ"),
    "gguf": ("gguf", "reading GGUF weights"),
}


def require(modules: list[str]) -> None:
    missing = [m for m in modules if not has_module(m)]
    if missing:
        dists = " ".join(PACKAGES[m][0] for m in missing)
        why = "; ".join(f"{PACKAGES[m][0]}: {PACKAGES[m][1]}" for m in missing)
        raise Refused("missing_package", f"The training runtime lacks {dists} ({why}).",
                      f"Install into it: {sys.executable} -m pip install {dists}")


def olive_model_builder_pass() -> tuple[bool, str]:
    """Olive's ModelBuilder pass patches onnxruntime_genai.models.quantized_model at run time;
    onnxruntime-genai builds without that module break it (olive-ai 0.13 + onnxruntime-genai
    0.18). The export never uses that pass; this says whether it would work."""
    if not has_module("olive"):
        return False, "olive-ai is not installed"
    if not has_module("onnxruntime_genai"):
        return False, "onnxruntime-genai is not installed"
    if not has_module("onnxruntime_genai.models.quantized_model"):
        return False, (f"olive-ai {version_of('olive-ai')}'s ModelBuilder pass needs "
                       "onnxruntime_genai.models.quantized_model, which onnxruntime-genai "
                       f"{version_of('onnxruntime-genai')} does not have: the studio's own "
                       "builder path is used")
    return True, "compatible"


# --- running a tool -------------------------------------------------------------------------------
PROGRESS_BAR = re.compile(r"(\d+%\|)|(\|\s*\d+/\d+ \[)|(^Progress: \[)|(it/s\]$)")


def run_tool(name: str, args: list[str], *, log_path: Path, cwd: Path | None = None,
             env: dict[str, str] | None = None,
             on_line: Callable[[str], None] | None = None,
             on_event: Callable[[dict[str, Any]], None] | None = None) -> deque[str]:
    """Run `python ARGS` (the runtime's interpreter), its output kept whole in `log_path` and
    passed on as log events (progress bars at most every 2 s). With `on_event`, the tool speaks
    the protocol too (training/merge.py): its events go there instead of the log. Stops it on
    cancel. Returns the last lines; raises ToolFailed on a non-zero exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, *args]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    tail: deque[str] = deque(maxlen=60)
    with open(log_path, "ab") as raw_log:
        raw_log.write(("$ " + subprocess.list2cmdline(argv) + "\n").encode())
        raw_log.flush()
        kw: dict[str, Any] = {}
        if sys.platform == "win32":
            kw["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        else:
            kw["start_new_session"] = True
        # stdin stays open: a tool that speaks the protocol (merge.py) reads a closed stdin as
        # "the app went away" and stops.
        proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
        assert proc.stdout is not None
        reader = threading.Thread(target=_pump, args=(name, proc.stdout, raw_log, tail, on_line,
                                                      on_event), daemon=True)
        reader.start()
        while proc.poll() is None:
            if stop.is_set():
                if on_event is not None:  # it speaks the protocol: ask it first
                    with contextlib.suppress(OSError, ValueError):
                        assert proc.stdin is not None
                        proc.stdin.write(b'{"cmd": "cancel"}\n')
                        proc.stdin.flush()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(10)
                _end(proc)
                reader.join(5)
                raise Cancelled()
            time.sleep(0.1)
        reader.join(10)
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
    if proc.returncode != 0:
        raise explain(tail, ToolFailed(f"{name}_failed",
                                       f"{name} exited with code {proc.returncode}.",
                                       f"Full log: {log_path}"))
    return tail


def _pump(name: str, stream: IO[bytes], raw_log: IO[bytes], tail: deque[str],
          on_line: Callable[[str], None] | None,
          on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
    last_bar = 0.0
    buf = b""
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        raw_log.write(chunk)
        raw_log.flush()
        buf += chunk
        parts = re.split(rb"[\r\n]", buf)
        buf = parts.pop()
        for part in parts:
            line = part.decode("utf-8", "replace").strip()
            if not line:
                continue
            if on_event is not None and line.startswith("{") and line.endswith("}"):
                ev = _event(line)
                if ev is not None:
                    if ev.get("type") in ("error", "log"):
                        tail.append(str(ev.get("message", "")))
                    on_event(ev)
                    continue
            tail.append(line)
            if on_line is not None:
                on_line(line)
            if PROGRESS_BAR.search(line):
                now = time.monotonic()
                if now - last_bar < 2.0:
                    continue
                last_bar = now
            emit.log(line[:2000], source=name)
    if buf.strip():
        line = buf.decode("utf-8", "replace").strip()
        tail.append(line)
        emit.log(line[:2000], source=name)


def _event(line: str) -> dict[str, Any] | None:
    try:
        ev = json.loads(line)
    except ValueError:
        return None
    return ev if isinstance(ev, dict) and ev.get("v") == 1 and "type" in ev else None


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the tool and its children; kill them if they are still there after 5 s."""
    import signal

    def group(sig: int) -> None:
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, sig)
        else:
            with contextlib.suppress(OSError):
                proc.kill() if sig == getattr(signal, "SIGKILL", 9) else proc.terminate()

    group(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        group(getattr(signal, "SIGKILL", 9))
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


# --- explanations ---------------------------------------------------------------------------------
KNOWN_FAILURES: list[tuple[str, str, str, str]] = [
    # (pattern in the tool's output, code, message, hint)
    (r"No module named '?onnx_ir", "missing_onnx_ir",
     "The model builder needs the package onnx-ir, which onnxruntime-genai does not declare.",
     "Install it into the training runtime: python -m pip install onnx-ir"),
    (r"model is not currently supported", "unsupported_architecture",
     "The installed model builder does not support this model's architecture.",
     "Update onnxruntime-genai in the training runtime, or export a supported model."),
    (r"rope_scaling|short_factor|long_factor", "longrope",
     "The model's config asks for LongRoPE (max_position_embeddings differs from "
     "original_max_position_embeddings) but lacks its rope scaling factors.",
     "Use the model's original config.json, which has them."),
    (r"(out of memory|Cannot allocate memory|MemoryError|std::bad_alloc)", "out_of_memory",
     "The build ran out of memory.",
     "Close other programs, or build a smaller precision (INT4) on a machine with more RAM."),
    (r"No space left on device", "disk_full", "The disk is full.",
     "Free some space or choose an output folder on another disk."),
    (r"(couldn't connect|Max retries exceeded|offline mode is enabled|LocalEntryNotFoundError)",
     "network", "The tool tried to download something, and the export never uses the network.",
     "Check that every path in the plan is a local folder."),
    (r"quantized_model", "olive_builder_incompatible",
     "Olive's ModelBuilder pass does not work with this onnxruntime-genai.",
     "The export uses its own builder path; this Olive step should not have used that pass."),
]


def explain(tail: deque[str] | list[str], default: ToolFailed) -> ToolFailed:
    text = "\n".join(tail)
    for pattern, code, message, hint in KNOWN_FAILURES:
        if re.search(pattern, text, re.IGNORECASE):
            return ToolFailed(code, message, f"{hint} ({default.hint})".strip())
    last = [ln for ln in tail if ln.strip()][-6:]
    detail = " | ".join(last)
    return ToolFailed(default.code, f"{default.message} Its last lines: {detail}", default.hint)


def folder_bytes(folder: Path, *, skip: tuple[str, ...] = ()) -> int:
    total = 0
    for p in folder.rglob("*"):
        if p.is_file() and not any(part in skip for part in p.relative_to(folder).parts):
            total += p.stat().st_size
    return total
