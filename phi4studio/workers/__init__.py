"""Subprocess entry points with no Qt. Each is started as `phi4studio --worker NAME [ARGS]`."""

from __future__ import annotations

import importlib

WORKERS: dict[str, str] = {
    "selfcheck": "phi4studio.workers.selfcheck",
    "probe": "phi4studio.workers.probe",
    "runtime": "phi4studio.workers.runtime",
    "inference": "phi4studio.workers.inference",
    "serve": "phi4studio.workers.serve",
    "eval": "phi4studio.workers.evaluation",
}


def run_worker(name: str, argv: list[str]) -> int:
    module = WORKERS.get(name)
    if module is None:
        known = ", ".join(sorted(WORKERS))
        print(f"unknown worker {name!r}; known workers: {known}")
        return 2
    main = importlib.import_module(module).main
    rc = main(argv)
    return int(rc or 0)
