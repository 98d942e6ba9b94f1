"""The quick start state machine: steps run in order, each through the job queue, the state saved
after every change so that a restart resumes at the step it reached.

    qs = QuickStart(studio)                        # or QuickStart(studio, steps={...}) in tests
    state = qs.create(QuickStartOptions(...).to_dict())
    job = qs.start(state.id)                      # the "Quick start" job in the Jobs dock
    await qs.wait(state.id)                       # -> the final FlowState
    qs.cancel(state.id)                           # cancels the step's job, then the flow
    qs.resume(state.id)                           # a cancelled, failed or interrupted flow

The flow itself is a coroutine job without resources (it only waits); the work of each step
runs in the jobs the step submits (the synthesis and validation jobs in the CPU pool, training,
export and evaluations in the GPU slot), so they show, log and cancel like any other job.
Listeners hear `(event, state)`: "state" after every saved change, "progress" for the running
step's progress (`flow.progress_of(name)`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.errors import StudioError
from phi4studio.core.jobs import Job, JobCancelled, JobQueue, JobState
from phi4studio.core.quickstart.state import (
    CANCELLED,
    DONE,
    FAILED,
    INTERRUPTED,
    RUNNING,
    STEPS,
    FlowState,
    FlowStore,
    StepState,
    mark_interrupted,
)

if TYPE_CHECKING:
    from phi4studio.core.quickstart.recipe import QuickStartOptions
    from phi4studio.core.quickstart.services import Services
    from phi4studio.core.studio import Studio

log = logging.getLogger(__name__)
Listener = Callable[[str, FlowState], None]
StepFn = Callable[["StepContext"], Awaitable[None]]
CATEGORY = "quickstart"


class StepFailed(StudioError):
    """A step could not do its work; the message says why (the flow stops there)."""


@dataclass
class StepContext:
    """What a step sees: the flow's state, the services, and job helpers that track the jobs it
    submits (so cancelling the flow cancels them)."""

    runner: FlowRun
    step: StepState
    services: Services | None

    @property
    def state(self) -> FlowState:
        return self.runner.state

    @property
    def options(self) -> dict[str, Any]:
        return self.runner.state.options

    @property
    def recipe(self) -> dict[str, Any]:
        return self.runner.state.recipe

    @property
    def artefacts(self) -> dict[str, Any]:
        return self.runner.state.artefacts

    @property
    def folder(self) -> Path:
        return self.runner.store.folder(self.state.id)

    @property
    def svc(self) -> Services:
        if self.services is None:
            raise StudioError("this quick start has no services")
        return self.services

    def submit(self, job: Job) -> Job:
        """Submit a job and track it (its id is kept in the step's state)."""
        self.check_cancelled()
        self.runner.queue_submit(job)
        self.track(job)
        return job

    def track(self, job: Job) -> None:
        """Track a job someone else submitted (a service's own job)."""
        self.runner.current_jobs.append(job)
        if job.id not in self.step.jobs:
            self.step.jobs.append(job.id)
            self.save()

    async def wait(self, job: Job) -> JobState:
        state = await self.runner.wait_job(job)
        if job in self.runner.current_jobs:
            self.runner.current_jobs.remove(job)
        if state is JobState.CANCELLED or self.runner.cancelling:
            raise JobCancelled()
        return state

    async def run(self, job: Job) -> Any:
        """Submit, wait, and return the job's result; a failed job fails the step."""
        self.submit(job)
        state = await self.wait(job)
        if state is not JobState.SUCCEEDED:
            raise StepFailed(job.error or f"{job.name} {state.value}")
        return job.result

    def progress(self, fraction: float | None, message: str) -> None:
        self.step.message = message
        self.runner.report(self.step.name, fraction, message)

    def save(self) -> None:
        self.runner.save()

    def check_cancelled(self) -> None:
        if self.runner.cancelling:
            raise JobCancelled()


@dataclass
class FlowRun:
    """One flow being driven (in memory); its state is on disk."""

    owner: QuickStart
    state: FlowState
    store: FlowStore
    job: Job | None = None
    current_jobs: list[Job] = field(default_factory=list)
    cancelling: bool = False
    progress: dict[str, tuple[float | None, str]] = field(default_factory=dict)

    def queue_submit(self, job: Job) -> None:
        self.owner.queue.submit(job)

    async def wait_job(self, job: Job) -> JobState:
        return await self.owner.queue.wait(job)

    def save(self) -> None:
        self.store.save(self.state)
        self.owner.emit("state", self.state)

    def report(self, step: str, fraction: float | None, message: str) -> None:
        self.progress[step] = (fraction, message)
        if self.job is not None:
            done = sum(1 for s in self.state.steps if s.finished)
            within = fraction or 0.0
            total = (done + within) / len(self.state.steps)
            self.job.set_progress(total, f"{STEPS.index(step) + 1}/{len(STEPS)} {step}: "
                                         f"{message}")
        self.owner.emit("progress", self.state)


class FlowJob(Job):
    """The quick start in the Jobs dock: no resources (it waits on its steps' jobs); cancel
    cancels the step's jobs, then the flow."""

    kind = "coroutine"

    def __init__(self, run: FlowRun) -> None:
        super().__init__(f"Quick start: {run.state.label}", resources={}, category=CATEGORY,
                         group=f"quickstart-{run.state.id}")
        self.flow = run

    async def run(self) -> Any:
        return await self.flow.owner._drive(self.flow)

    async def on_cancel(self, task: asyncio.Task[Any]) -> None:
        self.flow.cancelling = True
        for job in list(self.flow.current_jobs):
            self.flow.owner.queue.cancel(job)
        if not self.flow.current_jobs:
            task.cancel()


class QuickStart:
    """Creates, runs, resumes and cancels quick starts over a Studio's services (no Qt)."""

    def __init__(self, studio: Studio | None = None, *, services: Services | None = None,
                 steps: Mapping[str, StepFn] | None = None, queue: JobQueue | None = None,
                 workspace_root: Path | None = None) -> None:
        self.studio = studio
        self._services = services
        found = queue if queue is not None else (studio.queue if studio else None)
        if found is None:
            raise ValueError("a quick start needs a studio or a job queue")
        self.queue: JobQueue = found
        self._root = workspace_root
        self._steps = dict(steps) if steps is not None else None
        self._steps_given = steps is not None and services is None  # fakes need no services
        self.runs: dict[str, FlowRun] = {}
        self._listeners: list[Listener] = []

    # --- plumbing -----------------------------------------------------------------------------
    @property
    def store(self) -> FlowStore:
        if self._root is not None:
            return FlowStore(self._root)
        assert self.studio is not None
        return FlowStore(self.studio.workspace.root)

    @property
    def services(self) -> Services | None:
        if self._services is None and self.studio is not None:
            from phi4studio.core.quickstart.services import Services

            self._services = Services.for_studio(self.studio)
        return self._services

    def steps(self) -> Mapping[str, StepFn]:
        if self._steps is None:
            from phi4studio.core.quickstart.steps import STEP_FUNCTIONS

            self._steps = dict(STEP_FUNCTIONS)
        return self._steps

    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def emit(self, event: str, state: FlowState) -> None:
        for fn in list(self._listeners):
            try:
                fn(event, state)
            except Exception:
                log.exception("quick start listener failed")

    # --- flows --------------------------------------------------------------------------------
    def create(self, options: dict[str, Any], recipe: dict[str, Any] | None = None
               ) -> FlowState:
        state = self.store.create(options, recipe)
        self.emit("state", state)
        return state

    def plan(self, options: QuickStartOptions) -> tuple[dict[str, Any], dict[str, Any]]:
        """(options, recipe) for a new flow: the base resolved (the default one when none is
        given) and every lever fixed for this base and machine. Reads model files only (no
        state is touched): safe on a worker thread."""
        from dataclasses import replace

        from phi4studio.core.quickstart.recipe import cuda_available, default_base, make_recipe
        from phi4studio.core.training.models import inspect_model

        runtime = self.studio.runtime_info if self.studio is not None else None
        base = options.base or default_base(runtime)
        try:
            info = inspect_model(base)
        except (FileNotFoundError, ValueError) as exc:
            raise StudioError(f"The base model {base} cannot be used: {exc}") from exc
        options = replace(options, base=base)
        return options.to_dict(), make_recipe(options, info, gpu=cuda_available(runtime))

    def new(self, options: QuickStartOptions) -> FlowState:
        return self.create(*self.plan(options))

    def load(self, flow_id: str) -> FlowState:
        """The flow's state: the live one while it runs, else from disk (a flow left running
        by a session that ended is marked interrupted)."""
        live = self.runs.get(flow_id)
        if live is not None:
            return live.state
        state = self.store.load(flow_id)
        if mark_interrupted(state):
            self.store.save(state)
        return state

    def flows(self) -> list[FlowState]:
        return [self.load(s.id) if s.id not in self.runs else self.runs[s.id].state
                for s in self.store.flows()]

    def active(self, flow_id: str) -> bool:
        run = self.runs.get(flow_id)
        return run is not None and run.job is not None and not run.job.state.finished

    def start(self, flow_id: str) -> Job:
        """Run (or resume) the flow from its first unfinished step, as a job."""
        if self.active(flow_id):
            raise StudioError("This quick start is already running.")
        state = self.load(flow_id)
        if state.done:
            raise StudioError("This quick start is complete.")
        run = FlowRun(self, state, self.store)
        self.runs[flow_id] = run
        job = FlowJob(run)
        run.job = job
        self.queue.submit(job)
        return job

    resume = start

    def cancel(self, flow_id: str) -> bool:
        run = self.runs.get(flow_id)
        if run is None or run.job is None or run.job.state.finished:
            return False
        return bool(self.queue.cancel(run.job))

    async def wait(self, flow_id: str) -> FlowState:
        run = self.runs.get(flow_id)
        if run is not None and run.job is not None:
            await self.queue.wait(run.job)
            return run.state
        return self.load(flow_id)

    def progress_of(self, flow_id: str, step: str) -> tuple[float | None, str] | None:
        run = self.runs.get(flow_id)
        return run.progress.get(step) if run is not None else None

    # --- the state machine --------------------------------------------------------------------
    async def _drive(self, run: FlowRun) -> dict[str, Any]:
        state = run.state
        impls = self.steps()
        state.status, state.error = RUNNING, None
        run.save()
        import time

        for step in state.steps:
            if step.finished:
                continue
            step.status, step.error, step.attempts = RUNNING, None, step.attempts + 1
            step.started_at, step.finished_at = time.time(), None
            step.message = "resuming" if step.attempts > 1 else "starting"
            run.save()
            ctx = StepContext(run, step, self._services if self._steps_given else self.services)
            try:
                await impls[step.name](ctx)
                if run.cancelling:
                    raise JobCancelled()
            except (JobCancelled, asyncio.CancelledError):
                self._stopped(run, step, CANCELLED, "cancelled")
                raise JobCancelled() from None
            except Exception as exc:
                message = _describe(exc)
                if not isinstance(exc, StudioError):
                    log.exception("quick start step %s failed", step.name)
                self._stopped(run, step, FAILED, message)
                raise StudioError(f"{step.title}: {message}") from exc
            step.status, step.finished_at = DONE, time.time()
            run.progress.pop(step.name, None)
            run.save()
        state.status = DONE
        run.save()
        return {"flow": state.id, "verdict": state.artefacts.get("verdict")}

    def _stopped(self, run: FlowRun, step: StepState, status: str, message: str) -> None:
        import time

        for job in list(run.current_jobs):
            if not job.state.finished:
                self.queue.cancel(job)
        run.current_jobs.clear()
        step.status, step.finished_at = status, time.time()
        step.message = message
        if status == FAILED:
            step.error = message
            run.state.error = f"{step.title}: {message}"
        run.state.status = status
        run.progress.pop(step.name, None)
        run.save()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, StudioError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


__all__ = ["CANCELLED", "DONE", "FAILED", "INTERRUPTED", "FlowJob", "FlowRun", "QuickStart",
           "StepContext", "StepFailed", "StepFn"]
