"""JobQueue: the one way background work runs. Lives on the (qasync) event-loop thread.

- Keeps strong references to every task it starts.
- Turns every exception into a failed job carrying its message; never lets one escape.
- Resource slots: a job asks for e.g. {"gpu": 1}; training, export and inference share the single
  GPU slot, CPU-bound jobs share the CPU pool. A job waits (pending) until its slots are free.
- Exclusive groups: submitting a job of group G cancels a still-pending job of group G (the newer
  request replaces the older one; a running one is left to finish).
- Listeners get (event, job) with event in {"added", "state", "progress", "log", "reset"}
  ("reset": the list of jobs changed other than by appending; job is None). Progress and log
  events can be frequent: listeners must be cheap and coalesce their own repaints.
- An optional history (the workspace catalog) records every state change.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from phi4studio.core.errors import StudioError
from phi4studio.core.jobs.model import HistoricJob, Job, JobCancelled, JobLog, JobState

log = logging.getLogger(__name__)

Listener = Callable[[str, "Job | None"], None]  # job is None for "reset"


class JobHistory(Protocol):
    def record_job(self, job: Job) -> None: ...


def default_capacities(cpu_slots: int | None = None) -> dict[str, int]:
    return {"gpu": 1, "cpu": cpu_slots or max(1, (os.cpu_count() or 2) - 1)}


class JobQueue:
    def __init__(
        self,
        capacities: Mapping[str, int] | None = None,
        *,
        history: JobHistory | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.capacities = dict(capacities or default_capacities())
        self._in_use = dict.fromkeys(self.capacities, 0)
        self.jobs: list[Job] = []
        self._by_id: dict[str, Job] = {}
        self._pending: list[Job] = []
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._done: dict[str, asyncio.Future[JobState]] = {}
        self._listeners: list[Listener] = []
        self.history = history
        self.log_dir = log_dir
        self._closed = False

    # --- observation ------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def get(self, job_id: str) -> Job | None:
        return self._by_id.get(job_id)

    def active(self) -> list[Job]:
        return [j for j in self.jobs if not j.state.finished]

    def resources_in_use(self) -> dict[str, int]:
        return dict(self._in_use)

    # --- history ----------------------------------------------------------------------------
    def restore(self, records: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Show jobs of earlier sessions (oldest first). They are never run again."""
        restored: list[Job] = []
        for rec in records:
            if rec["id"] in self._by_id:
                continue
            old = HistoricJob(rec)
            self.jobs.append(old)
            self._by_id[old.id] = old
            restored.append(old)
        for job in restored:
            self._emit("added", job)
        return restored

    def clear_finished(self) -> None:
        """Forget finished jobs (their catalog history stays until cleared there)."""
        keep = [j for j in self.jobs if not j.state.finished]
        if len(keep) == len(self.jobs):
            return
        self.jobs = keep
        self._by_id = {j.id: j for j in keep}
        self._done = {k: f for k, f in self._done.items() if k in self._by_id}
        self._emit("reset", None)

    # --- submission and cancel --------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        if self._closed:
            raise StudioError("The job queue is shut down; no new jobs can start.")
        if job._queue is not None:
            raise ValueError(f"{job!r} was already submitted")
        unknown = set(job.resources) - set(self.capacities)
        if unknown:
            raise ValueError(f"unknown resource(s) {sorted(unknown)} for job {job.name!r}")
        for res, n in job.resources.items():
            if n > self.capacities[res]:
                raise ValueError(
                    f"job {job.name!r} needs {n} {res} slot(s); only {self.capacities[res]} exist"
                )
        if job.group is not None:
            for other in list(self._pending):
                if other.group == job.group:
                    self._pending.remove(other)
                    other.message = f"replaced by a newer job: {job.name}"
                    self._finish(other, JobState.CANCELLED)
        job._queue = self
        if self.log_dir is not None:
            job.log = JobLog(self.log_dir / f"{job.id}.log")
        self.jobs.append(job)
        self._by_id[job.id] = job
        self._done[job.id] = self._loop().create_future()
        self._pending.append(job)
        self._emit("added", job)
        self._record(job)
        self._schedule()
        return job

    def cancel(self, job: Job) -> bool:
        """Ask a job to stop. Pending jobs end at once; running ones escalate in their own way."""
        if job.state is JobState.PENDING and job in self._pending:
            self._pending.remove(job)
            job.cancel_requested = True
            self._finish(job, JobState.CANCELLED)
            return True
        if job.state is not JobState.RUNNING or job.cancel_requested:
            return False
        job.cancel_requested = True
        job.message = "cancelling..."
        self._emit("progress", job)
        task = self._tasks.get(job.id)
        if task is not None:
            t = self._loop().create_task(self._cancel_running(job, task))
            self._tasks[f"cancel:{job.id}"] = t
            t.add_done_callback(lambda _t: self._tasks.pop(f"cancel:{job.id}", None))
        return True

    async def _cancel_running(self, job: Job, task: asyncio.Task[Any]) -> None:
        try:
            await job.on_cancel(task)
        except Exception as exc:
            log.exception("cancel of %s failed", job)
            job.add_log(f"cancel failed: {exc}")
            task.cancel()

    async def wait(self, job: Job) -> JobState:
        fut = self._done.get(job.id)
        if fut is None:
            return job.state
        return await asyncio.shield(fut)

    async def wait_all(self) -> None:
        pending = [f for f in self._done.values() if not f.done()]
        if pending:
            await asyncio.gather(*(asyncio.shield(f) for f in pending))

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel everything and wait (bounded) for running jobs to stop."""
        self._closed = True
        for job in list(self._pending):
            self.cancel(job)
        for job in self.active():
            self.cancel(job)
        running = [f for f in self._done.values() if not f.done()]
        if running:
            await asyncio.wait([asyncio.shield(f) for f in running], timeout=timeout)
        stuck = [t for t in self._tasks.values() if not t.done()]
        for t in stuck:
            t.cancel()
        if stuck:  # let them record their end (state, history) before the loop goes away
            await asyncio.wait(stuck, timeout=1.0)

    # --- scheduling -------------------------------------------------------------------------
    def _fits(self, job: Job) -> bool:
        return all(self._in_use[r] + n <= self.capacities[r] for r, n in job.resources.items())

    def _schedule(self) -> None:
        # A job leaves the pending list before it starts: listeners told of the start may submit
        # or cancel jobs, re-entering here, and must find the list exact (changed in place only).
        i = 0
        while i < len(self._pending):
            job = self._pending[i]
            if self._fits(job):
                del self._pending[i]
                for r, n in job.resources.items():
                    self._in_use[r] += n
                self._start(job)
            else:
                i += 1

    def _start(self, job: Job) -> None:
        job.state = JobState.RUNNING
        job.started_at = time.time()
        self._emit("state", job)
        self._record(job)
        task = self._loop().create_task(self._run(job))
        self._tasks[job.id] = task

    async def _run(self, job: Job) -> None:
        state = JobState.FAILED
        try:
            job.result = await job.run()
            state = JobState.CANCELLED if job.cancel_requested else JobState.SUCCEEDED
        except (JobCancelled, asyncio.CancelledError):
            state = JobState.CANCELLED
        except StudioError as exc:
            job.error = str(exc)
            job.add_log(f"ERROR: {exc}")
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - every one fails the job
            # SystemExit too: a library calling sys.exit() in a job must not stop the app.
            job.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            job.add_log("".join(traceback.format_exception(exc)).rstrip())
            log.warning("job %s failed: %s", job.name, job.error)
        finally:
            for r, n in job.resources.items():
                self._in_use[r] -= n
            self._tasks.pop(job.id, None)
            self._finish(job, state)
            self._schedule()

    def _finish(self, job: Job, state: JobState) -> None:
        job.state = state
        job.finished_at = time.time()
        if state is JobState.SUCCEEDED:
            job.progress = 1.0
        if state is JobState.CANCELLED and not job.message.startswith("replaced"):
            job.message = "cancelled"
        if state is JobState.FAILED and job.error:
            job.message = job.error.splitlines()[0]
        job.log.flush()
        job.log.close()
        self._emit("state", job)
        self._record(job)
        fut = self._done.get(job.id)
        if fut is not None and not fut.done():
            fut.set_result(state)

    # --- plumbing ---------------------------------------------------------------------------
    @staticmethod
    def _loop() -> asyncio.AbstractEventLoop:
        """The running loop, or the thread's current one: submit() also works from a Qt slot
        that runs while the qasync loop is set but not inside run_forever."""
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.get_event_loop_policy().get_event_loop()

    def _job_changed(self, job: Job, what: str) -> None:
        self._emit(what, job)

    def _emit(self, what: str, job: Job | None) -> None:
        for fn in list(self._listeners):
            try:
                fn(what, job)
            except Exception:
                log.exception("job listener failed")

    def _record(self, job: Job) -> None:
        if self.history is None:
            return
        try:
            self.history.record_job(job)
        except Exception:
            log.exception("could not record job %s in the catalog", job.name)
