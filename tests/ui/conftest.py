"""UI tests: the real window on a real qasync loop, offscreen, in a throw-away home.

Every test fails if it leaks asyncio tasks, non-daemon threads, or leaves the Jobs dock's timer
running after the window closed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("PHI4STUDIO_HOME", str(h))
    return h


@pytest.fixture
def qloop(qapp) -> Iterator[asyncio.AbstractEventLoop]:  # type: ignore[no-untyped-def]
    from phi4studio.app import make_loop

    threads_before = {t.ident for t in threading.enumerate()}
    loop = make_loop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    loop.close()
    asyncio.set_event_loop(None)
    assert not pending, f"leaked asyncio tasks: {pending}"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        leaked = [t for t in threading.enumerate()
                  if t.ident not in threads_before and t.is_alive() and not t.daemon]
        if not leaked:
            break
        time.sleep(0.05)
    assert not leaked, f"leaked threads: {leaked}"


def run(loop: asyncio.AbstractEventLoop, coro, timeout: float = 60):  # type: ignore[no-untyped-def]
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


@pytest.fixture
def window(qloop, home, qtbot):  # type: ignore[no-untyped-def]
    from phi4studio.app import build_window, make_qapp
    from phi4studio.core.studio import Studio

    make_qapp()
    studio = Studio.open()
    w = build_window(studio)  # closed here, not by qtbot: the checks below need it alive
    w.show()
    try:
        yield w
    finally:
        run(qloop, studio.queue.shutdown(timeout=15))
        w.close()
        timer_active = w.jobs_panel.model._timer.isActive()
        w.deleteLater()
        studio.close()
    assert not timer_active, "jobs dock timer still running after close"
