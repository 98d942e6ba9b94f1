"""The steps that create, repair and verify a training runtime (run inside the `runtime` worker).

    check   free disk at the target, a writable folder, a usable Python
    venv    `<python> -m venv TARGET` (kept on repair when its interpreter still runs)
    torch   `pip install torch` with the pin, from the index the plan chose
    packages `pip install -r runtime.txt -c constraints.txt`
    verify  training/verify_runtime.py: real imports and a tiny LoRA forward/backward pass

Every step reports progress through a `Reporter`; every failure is a `SetupError` with a code
(no_python, disk_full, permission, no_network, not_available, corrupt, pip_failed,
verify_failed, not_a_runtime, cancelled) and a message that says what to do. A manifest
(`phi4studio-runtime.json`) in the runtime folder records the plan, the state and the versions.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from phi4studio import __version__
from phi4studio.core.fileio import atomic_write_json
from phi4studio.core.jobs.protocol import parse_event
from phi4studio.core.runtime.pipout import PipProgress, classify_pip_failure
from phi4studio.core.runtime.plan import GB, RuntimePlan
from phi4studio.core.runtime.pythons import (
    best_python,
    find_pythons,
    no_python_message,
    probe_python,
    venv_python,
)

MANIFEST = "phi4studio-runtime.json"
WEIGHTS = {"check": 0.02, "venv": 0.06, "torch": 0.32, "packages": 0.45, "verify": 0.15}
EXPECTED = {"torch": 12, "packages": 110}  # packages each pip step collects (measured)
VERIFY_TIMEOUT_S = 900.0


class SetupError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Reporter(Protocol):
    def progress(self, fraction: float, message: str, step: str) -> None: ...
    def log(self, message: str) -> None: ...
    def cancelled(self) -> bool: ...


def free_bytes(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


@dataclass
class SetupRequest:
    action: str  # create | repair
    target: Path
    plan: RuntimePlan
    python: str | None = None  # the base interpreter; None: the best one found
    verify_script: Path | None = None
    min_free_bytes: int | None = None
    disk_free: Callable[[Path], int] = free_bytes
    env: dict[str, str] | None = None  # for pip (tests point it at an unreachable index)


@dataclass
class _Steps:
    rep: Reporter
    done: float = 0.0
    times: dict[str, float] = field(default_factory=dict)

    def at(self, step: str, within: float, message: str) -> None:
        order = list(WEIGHTS)
        before = sum(WEIGHTS[s] for s in order[: order.index(step)])
        frac = before + WEIGHTS[step] * max(0.0, min(1.0, within))
        self.done = max(self.done, frac)
        self.rep.progress(round(self.done, 4), message, step)


def read_manifest(target: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_manifest(target: Path, **fields: Any) -> dict[str, Any]:
    data = {**(read_manifest(target) or {}), **fields, "app_version": __version__,
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_json(target / MANIFEST, data)
    return data


def _child_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ if extra is None else extra)
    for var in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONNOUSERSITE"):
        env.pop(var, None)
    env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8", PIP_NO_INPUT="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_PROGRESS_BAR="off")
    return env


def stream(argv: Sequence[str], rep: Reporter, on_line: Callable[[str], None],
           env: dict[str, str] | None = None, timeout: float | None = None) -> tuple[int, str]:
    """Run a program, passing each output line to `on_line` and the log; stop it on cancel.
    Returns (exit code, the output's last 400 lines)."""
    rep.log("$ " + subprocess.list2cmdline(list(argv)))
    try:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=_child_env(env), text=True,
                                encoding="utf-8", errors="replace", bufsize=1)
    except OSError as exc:
        raise SetupError("no_python", f"Could not run {argv[0]}: {exc.strerror or exc}") from exc
    lines: queue.Queue[str | None] = queue.Queue()
    tail: deque[str] = deque(maxlen=400)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\r\n"))
        lines.put(None)

    threading.Thread(target=read, name="setup-output", daemon=True).start()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if rep.cancelled():
            _stop(proc)
            raise SetupError("cancelled", "Cancelled.")
        if deadline is not None and time.monotonic() > deadline:
            _stop(proc)
            raise SetupError("timeout", f"{Path(argv[0]).name} did not finish within "
                             f"{timeout:.0f} s")
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            break
        tail.append(line)
        rep.log(line)
        on_line(line)
    return proc.wait(), "\n".join(tail)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- steps ----------------------------------------------------------------------------------

def check(req: SetupRequest, steps: _Steps) -> str:
    """Disk, folder and Python; returns the base interpreter to build from."""
    steps.at("check", 0.1, "checking free disk space")
    need = req.min_free_bytes
    if need is None:
        need = req.plan.required_bytes // (3 if req.action == "repair" else 1)
    free = req.disk_free(req.target)
    if free < need:
        raise SetupError("disk_full", f"Setting up the training runtime needs about "
                         f"{need / GB:.0f} GB free at {req.target}; {free / GB:.1f} GB are "
                         "free. Free some space (or move the data folder), then press Retry.")
    try:
        req.target.mkdir(parents=True, exist_ok=True)
        probe = req.target / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        code = "disk_full" if getattr(exc, "errno", None) == 28 else "permission"
        raise SetupError(code, f"Cannot write to {req.target}: {exc.strerror or exc}. Choose a "
                         "folder you can write to, then press Retry.") from exc
    steps.at("check", 0.4, "looking for Python")
    if req.python:
        cand = probe_python(req.python)
        if not cand.usable:
            raise SetupError("no_python", f"{req.python} cannot build the runtime: {cand.reason}")
        chosen = cand
    else:
        cands = find_pythons()
        best = best_python(cands)
        if best is None:
            raise SetupError("no_python", no_python_message(cands))
        for c in cands:
            steps.rep.log(f"found {c.label}: " + ("usable" if c.usable else c.reason))
        chosen = best
    steps.rep.log(f"building the runtime from {chosen.label}")
    return chosen.path


def make_venv(req: SetupRequest, base: str, steps: _Steps) -> Path:
    py = venv_python(req.target)
    if req.action == "repair" and py.exists() and probe_python(str(py)).usable:
        steps.rep.log(f"keeping the environment at {req.target}")
        return py
    manifest = read_manifest(req.target)
    others = [p for p in req.target.iterdir() if p.name != MANIFEST] if req.target.exists() else []
    if others and manifest is None:
        raise SetupError("not_a_runtime", f"{req.target} already holds files that Phi-4 Studio "
                         "did not put there; it is left untouched. Choose an empty folder.")
    steps.at("venv", 0.1, f"creating a Python environment in {req.target}")
    write_manifest(req.target, state="creating", base_python=base, plan=req.plan.to_json())
    argv = [base, "-m", "venv", *(["--clear"] if others else []), str(req.target)]
    rc, out = stream(argv, steps.rep, lambda _l: None, env=req.env, timeout=600)
    if rc != 0 or not py.exists():
        f = classify_pip_failure(out, what="the Python environment")
        if f.code in ("disk_full", "permission"):
            raise SetupError(f.code, f.message)
        raise SetupError("venv_failed", f"{base} could not create an environment in "
                         f"{req.target}: {out.strip().splitlines()[-1] if out.strip() else rc}. "
                         "Choose another Python, then press Retry.")
    return py


def pip_install(py: Path, args: list[str], step: str, what: str, req: SetupRequest,
                steps: _Steps) -> None:
    parser = PipProgress(EXPECTED.get(step, 40))

    def on_line(line: str) -> None:
        upd = parser.feed(line)
        if upd is not None:
            steps.at(step, upd.fraction, upd.message)

    steps.at(step, 0.0, f"installing {what}")
    argv = [str(py), "-m", "pip", "install", "--progress-bar", "off", *args]
    rc, out = stream(argv, steps.rep, on_line, env=req.env)
    if rc != 0:
        version = probe_python(str(py)).version
        f = classify_pip_failure(out, ".".join(map(str, version[:2])) if version else "", what)
        raise SetupError(f.code, f.message)


def verify(py: Path, script: Path | None, rep: Reporter, env: dict[str, str] | None = None,
           on_fraction: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Run the verification script with the runtime's interpreter; its `result` data."""
    if script is None:
        return {"ok": True, "python": str(py), "verified": False}
    found: dict[str, Any] = {}
    last_error: list[str] = []

    def on_line(line: str) -> None:
        ev = parse_event(line)
        if ev is None:
            return
        if ev["type"] == "result" and isinstance(ev.get("data"), dict):
            found.update(ev["data"])
        elif ev["type"] == "error":
            last_error.append(str(ev.get("message")))
        elif ev["type"] == "progress" and on_fraction is not None:
            frac = ev.get("fraction")
            on_fraction(float(frac) if isinstance(frac, (int, float)) else 0.5,
                        str(ev.get("message") or "verifying"))

    rc, out = stream([str(py), str(script)], rep, on_line, env=env, timeout=VERIFY_TIMEOUT_S)
    if rc != 0 or not found.get("ok"):
        missing = found.get("missing") or []
        if missing:
            why = "missing " + ", ".join(map(str, missing))
        elif last_error:
            why = last_error[-1]
        else:
            why = (out.strip().splitlines() or [f"exit code {rc}"])[-1]
        raise SetupError("verify_failed", f"The runtime at {py} did not pass its check: {why}")
    return found


def run_setup(req: SetupRequest, rep: Reporter) -> dict[str, Any]:
    """Create or repair the runtime; returns the result data (with `python`, `runtime`)."""
    t0 = time.monotonic()
    steps = _Steps(rep)

    def timed(name: str, t: float) -> None:
        steps.times[name] = round(time.monotonic() - t, 2)

    t = time.monotonic()
    for note in req.plan.notes:
        rep.log(note)
    base = check(req, steps)
    timed("check", t)
    t = time.monotonic()
    py = make_venv(req, base, steps)
    timed("venv", t)
    try:
        if req.plan.torch_step:
            t = time.monotonic()
            extra = ["--extra-index-url", req.plan.torch_index] if req.plan.torch_index else []
            pip_install(py, ["torch", "-c", str(req.plan.constraints), *extra], "torch",
                        "torch", req, steps)
            timed("torch", t)
        else:
            steps.times["torch"] = 0.0
        t = time.monotonic()
        pip_install(py, ["-r", str(req.plan.requirements), "-c", str(req.plan.constraints)],
                    "packages", "the training packages", req, steps)
        timed("packages", t)
        t = time.monotonic()
        steps.at("verify", 0.05, "verifying: imports and a tiny forward pass")
        data = verify(py, req.verify_script, rep, req.env,
                      lambda f, m: steps.at("verify", 0.05 + 0.9 * f, m))
        timed("verify", t)
    except SetupError as exc:
        write_manifest(req.target, state="cancelled" if exc.code == "cancelled" else "failed",
                       error={"code": exc.code, "message": exc.message})
        raise
    total = round(time.monotonic() - t0, 1)
    write_manifest(req.target, state="ready", python=str(py), channel=req.plan.channel,
                   torch_index=req.plan.torch_index, packages=data.get("packages", {}),
                   cuda=data.get("cuda", {}), setup_s=total, steps_s=steps.times, error=None)
    steps.at("verify", 1.0, "ready")
    return {"ok": True, "python": str(py), "target": str(req.target), "action": req.action,
            "channel": req.plan.channel, "setup_s": total, "steps_s": steps.times,
            "runtime": data}


def run_verify(python: str, script: Path | None, rep: Reporter) -> dict[str, Any]:
    """Check an existing environment (the user's own, or the managed one)."""
    rep.progress(0.02, f"checking {python}", "check")
    cand = probe_python(python)
    if cand.version is None:
        raise SetupError("no_python", f"{python} {cand.reason}")
    if cand.version[:2] < (3, 10):
        raise SetupError("no_python", f"{python}: {cand.reason}")
    data = verify(Path(python), script, rep,
                  on_fraction=lambda f, m: rep.progress(0.05 + 0.9 * f, m, "verify"))
    rep.progress(1.0, "ready", "verify")
    return {"ok": True, "python": python, "action": "verify", "runtime": data}


def remove_runtime(target: Path) -> None:
    """Delete a runtime folder that Phi-4 Studio made (refuses any other folder)."""
    if not target.exists():
        return
    if read_manifest(target) is None:
        raise SetupError("not_a_runtime", f"{target} is not a runtime that Phi-4 Studio made; "
                         "it is left untouched.")
    aside = target.with_name(f"{target.name}.removing-{os.getpid()}")
    target.rename(aside)  # gone from its place at once, even if deleting takes a while
    shutil.rmtree(aside, ignore_errors=sys.platform == "win32")
