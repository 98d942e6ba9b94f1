"""What this machine offers: inference devices, the training runtime, the workspace, disk space.

Used by `phi4studio doctor`, the status bar and the Train/Export tabs. The probes run as
subprocesses (the inference probe through the app's own worker dispatch, the runtime probe with
the training runtime's interpreter), so nothing heavy is ever imported into the app process.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phi4studio.core.jobs.protocol import parse_event
from phi4studio.core.jobs.workers import worker_argv
from phi4studio.core.paths import is_frozen, training_scripts_dir

LOW_DISK_BYTES = 10 * 1024**3  # fine-tuning and export need room for models


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "missing" if self.required else "warning"


def training_python(configured: str | None) -> str | None:
    """The interpreter that runs training scripts: the configured one, else (from source) ours."""
    if configured:
        return configured
    return None if is_frozen() else sys.executable


def inference_probe_argv() -> list[str]:
    return worker_argv("probe")


def runtime_probe_argv(python: str) -> list[str]:
    return [python, str(training_scripts_dir() / "probe_runtime.py")]


def result_from_output(stdout: str) -> dict[str, Any] | None:
    """The `data` of the last protocol `result` event in a probe's stdout."""
    found: dict[str, Any] | None = None
    for line in stdout.splitlines():
        ev = parse_event(line)
        if ev is not None and ev["type"] == "result" and isinstance(ev.get("data"), dict):
            found = ev["data"]
    return found


def _run_probe(argv: list[str], timeout: float) -> tuple[dict[str, Any] | None, str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    data = result_from_output(proc.stdout)
    tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
    return data, tail


def describe_inference(info: dict[str, Any] | None) -> str:
    if not info or not info.get("onnxruntime_genai"):
        return "inference unavailable"
    devices = " / ".join(p.upper() if p != "dml" else "DirectML" for p in info["providers"])
    package = info.get("package") or "onnxruntime-genai"
    return f"{devices} · {package} {info['onnxruntime_genai']}"


def describe_runtime(info: dict[str, Any] | None) -> str:
    if info is None:
        return "training runtime: not set up"
    if not info.get("ok"):
        return "training runtime: missing " + ", ".join(info.get("missing", []))
    torch_v = info.get("packages", {}).get("torch")
    cuda = info.get("cuda", {})
    where = "CUDA" if cuda.get("available") else "CPU"
    return f"training: torch {torch_v} ({where})"


def check_inference(timeout: float = 60.0) -> Check:
    info, err = _run_probe(inference_probe_argv(), timeout)
    if info is None or not info.get("onnxruntime_genai"):
        reason = (info or {}).get("error") or err or "the probe gave no answer"
        return Check(
            "inference runtime", False, f"onnxruntime-genai is not usable: {reason}",
            fix="Install one flavour: pip install 'phi4studio[cpu]' (or [cuda] on an NVIDIA "
            "machine, [directml] on Windows). They are alternatives: never install two.",
            data=info or {},
        )
    return Check("inference runtime", True, describe_inference(info), data=info)


def check_training_runtime(configured: str | None, timeout: float = 180.0) -> Check:
    python = training_python(configured)
    if python is None:
        return Check(
            "training runtime", False, "no training runtime is set up", required=False,
            fix="Open the Train tab and choose 'Set up training runtime', or point "
            "Preferences > Training runtime at a Python with torch, transformers, peft and trl.",
        )
    info, err = _run_probe(runtime_probe_argv(python), timeout)
    if info is None:
        return Check(
            "training runtime", False, f"{python} could not be probed: {err}", required=False,
            fix="Check the interpreter path in Preferences > Training runtime.",
        )
    if not info.get("ok"):
        missing = ", ".join(info.get("missing", []))
        return Check(
            "training runtime", False, f"{python} lacks {missing}", required=False,
            fix=f"{python} -m pip install 'phi4studio[train]' (or repair it from the Train tab).",
            data=info,
        )
    cuda = info.get("cuda", {})
    gpus = ", ".join(d["name"] for d in cuda.get("devices", [])) or "no CUDA GPU"
    return Check("training runtime", True, f"{describe_runtime(info)}; {gpus}", required=False,
                 data=info)


def check_workspace(root: Path) -> Check:
    from phi4studio.core.errors import WorkspaceError
    from phi4studio.core.workspace.workspace import check_writable

    try:
        check_writable(root)
    except WorkspaceError as exc:
        return Check("workspace", False, exc.message, fix=exc.hint)
    return Check("workspace", True, str(root))


def check_disk(root: Path) -> Check:
    probe = root if root.exists() else root.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    gb = free / 1024**3
    if free < LOW_DISK_BYTES:
        return Check("free disk", False, f"{gb:.1f} GB free at {probe}", required=False,
                     fix="Fine-tuning and export need tens of GB: free space or move the "
                     "workspace (File > New workspace).")
    return Check("free disk", True, f"{gb:.1f} GB free at {probe}")


def check_python() -> Check:
    ok = sys.version_info >= (3, 10)
    return Check("python", ok, f"{platform.python_version()} ({sys.executable})",
                 fix=None if ok else "Phi-4 Studio needs Python 3.10 or newer.")


def doctor(workspace: Path, training_runtime: str | None, extra: list[Check] | None = None
           ) -> list[Check]:
    checks = [check_python(), *(extra or [])]
    checks += [check_inference(), check_training_runtime(training_runtime),
               check_workspace(workspace), check_disk(workspace)]
    return checks


def format_report(checks: list[Check]) -> str:
    marks = {"ok": "OK  ", "warning": "WARN", "missing": "FAIL"}
    lines = []
    width = max(len(c.name) for c in checks)
    for c in checks:
        lines.append(f"[{marks[c.status]}] {c.name.ljust(width)}  {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"       {' ' * width}  fix: {c.fix}")
    return "\n".join(lines)


def report_json(checks: list[Check]) -> str:
    ok = all(c.ok or not c.required for c in checks)
    return json.dumps({"ok": ok, "checks": [asdict(c) | {"status": c.status} for c in checks]},
                      indent=2, default=str)
