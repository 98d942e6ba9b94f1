"""Command lines for the app's own worker processes, frozen-safe.

From source: `python -m phi4studio --worker NAME ...`. In a PyInstaller build `sys.executable` is
the app itself, so the command is `<app> --worker NAME ...` (never `sys.executable -m`).
"""

from __future__ import annotations

import sys

from phi4studio.core.paths import is_frozen


def app_argv(*args: str) -> list[str]:
    """The app's own command line (`phi4studio ARGS`), from source or frozen."""
    if is_frozen():
        return [sys.executable, *args]
    return [sys.executable, "-m", "phi4studio", *args]


def worker_argv(name: str, *args: str) -> list[str]:
    return app_argv("--worker", name, *args)
