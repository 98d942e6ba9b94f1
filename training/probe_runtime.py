"""Report what this Python environment offers for training, as one protocol `result` event.

    python training/probe_runtime.py

Run by Phi-4 Studio with the configured training runtime's interpreter. Standalone: it must not
import phi4studio (the runtime may not have it installed). Always exits 0; a missing package is
reported in the result, not raised.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys

REQUIRED = ("torch", "transformers", "peft", "trl", "accelerate", "datasets")
OPTIONAL = ("bitsandbytes", "gguf", "huggingface_hub")


def emit(type_: str, **fields: object) -> None:
    print(json.dumps({"v": 1, "type": type_, **fields}, default=str), flush=True)


def version_of(name: str) -> str | None:
    try:
        mod = importlib.import_module(name)
    except Exception:  # noqa: BLE001 - report, don't raise
        return None
    return str(getattr(mod, "__version__", "unknown"))


def main() -> int:
    emit("start", message="checking the training runtime")
    packages = {name: version_of(name) for name in (*REQUIRED, *OPTIONAL)}
    cuda = {"available": False, "devices": []}
    if packages["torch"]:
        import torch

        if torch.cuda.is_available():
            cuda["available"] = True
            cuda["version"] = torch.version.cuda
            for i in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(i)
                gb = round(p.total_memory / 2**30, 1)
                cuda["devices"].append({"name": p.name, "memory_gb": gb})
    missing = [n for n in REQUIRED if not packages[n]]
    summary = "missing " + ", ".join(missing) if missing else (
        f"torch {packages['torch']} ({'CUDA' if cuda['available'] else 'CPU'})")
    emit(
        "result",
        message=summary,
        data={
            "python": sys.executable,
            "python_version": platform.python_version(),
            "packages": packages,
            "missing": missing,
            "cuda": cuda,
            "ok": not missing,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
