"""Detects what inference can use here: onnxruntime-genai's version and execution providers.

Runs as a worker process so that importing onnxruntime_genai never slows the app's start-up.
Emits one `result` event: {"onnxruntime_genai": version|None, "package": the distribution,
"flavour": cpu|cuda|directml, "providers": [...], "build": build_info.json when frozen, "error"}.
"""

from __future__ import annotations

import json
from typing import Any

from phi4studio.core.jobs.protocol import Emitter
from phi4studio.core.paths import bundle_dir, is_frozen

FLAVOURS = {"onnxruntime-genai": "cpu", "onnxruntime-genai-cuda": "cuda",
            "onnxruntime-genai-directml": "directml"}


def build_info() -> dict[str, Any] | None:
    """What the installed build says about itself (build_info.json, written by the spec)."""
    if not is_frozen():
        return None
    try:
        data = json.loads((bundle_dir() / "build_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def detect() -> dict[str, Any]:
    info: dict[str, Any] = {"onnxruntime_genai": None, "package": None, "providers": ["cpu"]}
    try:
        import onnxruntime_genai as og
    except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
        info["error"] = f"onnxruntime-genai is not importable: {exc}"
        info["providers"] = []
        return info
    info["onnxruntime_genai"] = getattr(og, "__version__", "unknown")
    from importlib import metadata

    for dist in ("onnxruntime-genai-cuda", "onnxruntime-genai-directml", "onnxruntime-genai"):
        try:
            metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        info["package"] = dist
        break
    if info["package"] is None:  # a build without the package's metadata: the module says
        info["package"] = getattr(og, "__id__", None)
    info["flavour"] = FLAVOURS.get(str(info["package"]), "cpu")
    build = build_info()
    if build is not None:
        info["build"] = build
    for name, fn in (("cuda", "is_cuda_available"), ("dml", "is_dml_available")):
        check = getattr(og, fn, None)
        try:
            if check is not None and check():
                info["providers"].insert(0, name)
        except Exception:  # noqa: BLE001 - a failing probe means "not available"
            pass
    return info


def main(argv: list[str]) -> int:
    emit = Emitter()
    emit("start", message="detecting inference devices")
    info = detect()
    found = info.get("onnxruntime_genai")
    summary = f"onnxruntime-genai {found}: {', '.join(info['providers'])}" if found else info.get(
        "error", "onnxruntime-genai not found")
    emit("result", data=info, message=summary)
    return 0
