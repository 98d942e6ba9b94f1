"""Run the real window in a throw-away home (offscreen where there is no display).

Used by `selftest` and `bench ui`: the user's own settings and workspace are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi4studio.app import ExceptHook, build_window, ensure_display, make_loop, make_qapp
from phi4studio.core.studio import Studio


@dataclass
class Session:
    loop: asyncio.AbstractEventLoop
    studio: Studio
    window: Any
    hook: ExceptHook
    home: Path


@contextlib.contextmanager
def headless_session(home: Path | None = None) -> Iterator[Session]:
    ensure_display()
    tmp = None
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="phi4studio-selftest-")
        home = Path(tmp.name)
    old_home = os.environ.get("PHI4STUDIO_HOME")
    os.environ["PHI4STUDIO_HOME"] = str(home)
    app = make_qapp()
    loop = make_loop(app)
    asyncio.set_event_loop(loop)
    hook = ExceptHook()
    loop.set_exception_handler(hook.loop_handler)
    studio = Studio.open()
    window = build_window(studio)
    hook.show = window.show_error
    window.show()
    try:
        yield Session(loop, studio, window, hook, home)
    finally:
        loop.run_until_complete(studio.queue.shutdown(timeout=15))
        window.close()
        studio.close()
        loop.close()
        asyncio.set_event_loop(None)
        if old_home is None:
            os.environ.pop("PHI4STUDIO_HOME", None)
        else:
            os.environ["PHI4STUDIO_HOME"] = old_home
        if tmp is not None:
            tmp.cleanup()
