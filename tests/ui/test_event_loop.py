"""The window's event loop: qasync processes the pending Qt events once more after
`run_until_complete` stops; a callback that runs in that pass must still see the running loop (a
job's first step there failed with "no running event loop")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest


def _left_for_the_last_pass(loop: asyncio.AbstractEventLoop) -> list[Any]:
    seen: list[Any] = []

    def check() -> None:
        try:
            seen.append(asyncio.get_running_loop() is loop)
        except RuntimeError as exc:
            seen.append(str(exc))

    async def parent() -> None:
        # scheduled before the stop callback, it schedules `check` after it: `check` runs in
        # the pass qasync makes after the Qt loop exits
        loop.call_soon(lambda: loop.call_soon(check))

    loop.run_until_complete(parent())
    loop.run_until_complete(asyncio.sleep(0.02))  # whatever was left runs here at the latest
    return seen


def test_a_callback_in_the_last_pass_sees_the_running_loop(qloop: Any) -> None:
    assert _left_for_the_last_pass(qloop) == [True]
    with pytest.raises(RuntimeError):  # and outside run_until_complete no loop is running
        asyncio.get_running_loop()


def test_plain_qasync_runs_it_without_a_loop(qapp: Any) -> None:
    """The reason for make_loop: if qasync changes this, the subclass can go."""
    import qasync

    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        assert _left_for_the_last_pass(loop) == ["no running event loop"]
    finally:
        loop.close()
        asyncio.set_event_loop(None)
