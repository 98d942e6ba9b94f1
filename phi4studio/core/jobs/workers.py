"""Command lines for the app's own worker processes, frozen-safe.

From source: `python -m phi4studio --worker NAME ...`. In a PyInstaller build `sys.executable` is
the app itself, so the command is `<app> --worker NAME ...` (never `sys.executable -m`); on
Windows `<app>` is the console twin `phi4studio-cli.exe`, so that the worker's stdout is a pipe.
"""

from __future__ import annotations

import sys
from pathlib import Path

from phi4studio.core.paths import is_frozen


def frozen_console_exe() -> str:
    """The frozen app's executable for processes whose stdout is a pipe. On Windows the app
    itself is a windowed program; the build puts `phi4studio-cli.exe` (console) beside it."""
    exe = Path(sys.executable)
    if sys.platform == "win32":
        cli = exe.with_name("phi4studio-cli.exe")
        if cli.exists():
            return str(cli)
    return str(exe)


def app_argv(*args: str) -> list[str]:
    """The app's own command line (`phi4studio ARGS`), from source or frozen."""
    if is_frozen():
        return [frozen_console_exe(), *args]
    return [sys.executable, "-m", "phi4studio", *args]


def worker_argv(name: str, *args: str) -> list[str]:
    return app_argv("--worker", name, *args)
