"""Helpers shared by the JobQueue tests (test_jobs_queue.py, test_jobs_history.py)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from phi4studio.core.jobs import CoroutineJob, Job

CAPS = {"gpu": 1, "cpu": 2}


class Recorder:
    """A listener that keeps every (event, job name, state) it is told about."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, str | None]] = []
        self.threads: set[int] = set()

    def __call__(self, what: str, job: Job | None) -> None:
        self.threads.add(threading.get_ident())
        self.events.append(
            (what, job.name if job else None, job.state.value if job else None)
        )

    def states(self, name: str) -> list[str]:
        return [s for w, n, s in self.events if w == "state" and n == name and s]


def gate_job(name: str, gate: asyncio.Event, started: asyncio.Event | None = None,
             result: Any = None, **kw: Any) -> CoroutineJob[Any]:
    """A coroutine job that runs until `gate` is set."""

    async def fn(job: Job) -> Any:
        if started is not None:
            started.set()
        await gate.wait()
        return result

    return CoroutineJob(name, fn, **kw)


def returning(value: Any, delay: float = 0.0, **kw: Any) -> CoroutineJob[Any]:
    async def fn(job: Job) -> Any:
        await asyncio.sleep(delay)
        return value

    return CoroutineJob(f"return {value!r}", fn, **kw)
