"""Job: one unit of background work with a state, progress, message, log, result and error.

Jobs never touch widgets. They change their own fields on the event-loop thread and tell the queue,
which tells its listeners (the UI coalesces those notifications to ~10 Hz repaints).
"""

from __future__ import annotations

import asyncio
import enum
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

if TYPE_CHECKING:
    from phi4studio.core.jobs.queue import JobQueue

T = TypeVar("T")

LOG_LINES_IN_MEMORY = 2000


class JobState(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # was running when the app stopped; restored from history

    @property
    def finished(self) -> bool:
        return self not in (JobState.PENDING, JobState.RUNNING)


class JobCancelled(Exception):
    """Raised inside a job when it ended because cancel was requested."""


class JobLog:
    """The last lines in memory (the UI shows them) and every line in a file when one is set.

    Nothing is dropped silently: `dropped` counts the lines that only the file still holds.
    """

    def __init__(self, path: Path | None = None, max_lines: int = LOG_LINES_IN_MEMORY) -> None:
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.total = 0
        self.path = path
        self._fh: IO[str] | None = None

    @property
    def dropped(self) -> int:
        return self.total - len(self.lines)

    def append(self, text: str) -> None:
        self.extend(text.splitlines() or [""])

    def extend(self, lines: list[str]) -> None:
        for line in lines:
            self.lines.append(line)
            self.total += 1
            if self.path is not None:
                if self._fh is None:
                    try:
                        self.path.parent.mkdir(parents=True, exist_ok=True)
                        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
                    except OSError:
                        self.path = None
                        continue
                self._fh.write(line + "\n")

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def text(self) -> str:
        head = ""
        if self.dropped:
            where = f" (full log: {self.path})" if self.path else ""
            head = f"... {self.dropped} earlier lines not shown{where}\n"
        return head + "\n".join(self.lines)


class Job:
    """Base class. Subclasses implement `run()`; the queue calls it on the loop thread."""

    kind: ClassVar[str] = "coroutine"

    def __init__(
        self,
        name: str,
        *,
        resources: Mapping[str, int] | None = None,
        group: str | None = None,
        category: str = "general",
        long_lived: bool = False,
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        # A long-lived service (a loaded model, an MCP server, the local HTTP server): it runs
        # until stopped, so quitting does not ask about it; it is still stopped cleanly.
        self.long_lived = long_lived
        self.name = name
        self.resources: dict[str, int] = dict(resources or {})
        self.group = group
        self.category = category
        self.state = JobState.PENDING
        self.progress: float | None = None  # 0..1, None while indeterminate
        self.message = ""
        self.log = JobLog()
        self.result: Any = None
        self.error: str | None = None
        self.created_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._eta_s: float | None = None
        self.cancel_requested = False
        self._queue: JobQueue | None = None

    # --- reporting (loop thread) ------------------------------------------------------------
    def set_progress(
        self, fraction: float | None, message: str | None = None, eta_s: float | None = None
    ) -> None:
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        self.progress = fraction
        if message is not None:
            self.message = message
        self._eta_s = eta_s
        self._notify("progress")

    def set_message(self, message: str) -> None:
        self.message = message
        self._notify("progress")

    def add_log(self, text: str) -> None:
        self.log.append(text)
        self._notify("log")

    def add_log_lines(self, lines: list[str]) -> None:
        self.log.extend(lines)
        self._notify("log")

    # --- derived ----------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at

    @property
    def eta_s(self) -> float | None:
        if self.state is not JobState.RUNNING:
            return None
        if self._eta_s is not None:
            return self._eta_s
        p, el = self.progress, self.elapsed_s
        if p is None or el is None or p < 0.02:
            return None
        return el * (1.0 - p) / p

    @property
    def can_cancel(self) -> bool:
        return not self.state.finished and not self.cancel_requested

    # --- lifecycle --------------------------------------------------------------------------
    async def run(self) -> Any:
        raise NotImplementedError

    async def on_cancel(self, task: asyncio.Task[Any]) -> None:
        """Called by the queue to stop a running job; the default cancels its task."""
        task.cancel()

    def _notify(self, what: str) -> None:
        if self._queue is not None:
            self._queue._job_changed(self, what)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.state.value}>"


class CoroutineJob(Job, Generic[T]):
    """I/O work on the loop: `fn(job)` is awaited; it may call job.set_progress/add_log."""

    kind = "coroutine"

    def __init__(self, name: str, fn: Callable[[Job], Awaitable[T]], **kw: Any) -> None:
        super().__init__(name, **kw)
        self._fn = fn

    async def run(self) -> T:
        return await self._fn(self)


class ThreadContext:
    """What an executor function sees: thread-safe progress, log and a cancel flag."""

    def __init__(self, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        self._job = job
        self._loop = loop
        self._cancel = threading.Event()
        self._last = 0.0

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled()

    def progress(self, fraction: float | None, message: str | None = None) -> None:
        now = time.monotonic()
        if fraction is not None and fraction < 1.0 and now - self._last < 0.05:
            return  # coalesce: at most 20 updates a second cross threads
        self._last = now
        self._loop.call_soon_threadsafe(self._job.set_progress, fraction, message)

    def log(self, text: str) -> None:
        self._loop.call_soon_threadsafe(self._job.add_log, text)


class ExecutorJob(Job, Generic[T]):
    """CPU-bound pure Python in a worker thread: `fn(ctx)`; cancel is cooperative via ctx."""

    kind = "executor"

    def __init__(self, name: str, fn: Callable[[ThreadContext], T], **kw: Any) -> None:
        kw.setdefault("resources", {"cpu": 1})
        super().__init__(name, **kw)
        self._fn = fn
        self._ctx: ThreadContext | None = None

    async def run(self) -> T:
        loop = asyncio.get_running_loop()
        self._ctx = ThreadContext(self, loop)
        ctx = self._ctx
        result = await loop.run_in_executor(None, self._fn, ctx)
        if ctx.cancelled:
            raise JobCancelled()
        return result

    async def on_cancel(self, task: asyncio.Task[Any]) -> None:
        if self._ctx is not None:
            self._ctx._cancel.set()
            self.set_message("cancelling...")
        else:
            task.cancel()


class HistoricJob(Job):
    """A finished (or interrupted) job restored from the workspace catalog: shown, never run."""

    kind = "history"

    def __init__(self, record: Mapping[str, Any]) -> None:
        super().__init__(str(record["name"]), category=str(record.get("category") or "general"))
        self.id = str(record["id"])
        self.kind_name = str(record.get("kind") or "")
        state = JobState(record["state"])
        # Never pending or running here: nothing of this session runs it (nor could cancel it).
        self.state = state if state.finished else JobState.INTERRUPTED
        self.progress = record.get("progress")
        self.message = str(record.get("message") or "")
        self.error = record.get("error")
        self.created_at = float(record.get("created_at") or 0.0)
        self.started_at = record.get("started_at")
        self.finished_at = record.get("finished_at")
        log_path = record.get("log_path")
        self.log = JobLog(None)
        self.log_file = Path(log_path) if log_path else None

    def load_log(self, max_lines: int = LOG_LINES_IN_MEMORY) -> str:
        if self.log_file is None or not self.log_file.exists():
            return "(no log was kept for this job)"
        with open(self.log_file, encoding="utf-8", errors="replace") as fh:
            tail = deque(fh, maxlen=max_lines)
        return "".join(tail)

    async def run(self) -> Any:  # pragma: no cover - never scheduled
        raise RuntimeError("a job restored from history cannot run again")
