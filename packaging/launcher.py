"""Entry point of the frozen app (PyInstaller): the same dispatch as `python -m phi4studio`.

`phi4studio --worker NAME ...` runs a worker, anything else is the command line / the window.
Before that, the library search path the bootloader set for this process is taken out of the
environment, so that programs the app starts (the training runtime's Python, pip, nvidia-smi, MCP
servers) load their own libraries, not the bundle's. The app's own workers get it back from
their bootloader.
"""

from __future__ import annotations

import os
import sys


def restore_library_path() -> None:
    bundle = getattr(sys, "_MEIPASS", None)
    for var in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "LIBPATH"):
        orig = os.environ.pop(f"{var}_ORIG", None)
        if orig is not None:
            os.environ[var] = orig
            continue
        value = os.environ.get(var)
        if value and bundle:
            kept = [p for p in value.split(os.pathsep) if p and not p.startswith(bundle)]
            if kept:
                os.environ[var] = os.pathsep.join(kept)
            else:
                os.environ.pop(var, None)


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()
    restore_library_path()
    from phi4studio.__main__ import main

    sys.exit(main())
