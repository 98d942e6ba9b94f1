"""InferenceClient: the app's side of the inference worker (asyncio, no Qt).

    client = InferenceClient("exports/phi4-mini-int4")
    info = await client.start()                 # the worker's `start` event: provider, context...
    async for ev in client.generate(GenerateRequest(messages=[...], max_new_tokens=128)):
        if ev["type"] == "token":   transcript.append(ev["text"])
        elif ev["type"] == "result": show(ev["data"])          # text, token counts, ttft_s, ...
        elif ev["type"] == "restart": banner(ev["message"])    # the worker had died; restarted
    client.stop_generation()                    # from a Stop button: ends it between two tokens
    await client.close()

The worker is one long-lived process per loaded model (`phi4studio --worker inference`). It runs
as a `SubprocessJob` (`InferenceWorkerJob`): by default the client runs that job itself; give
`submit=queue.submit` to run it through the JobQueue instead, where it takes the GPU slot and
shows up with its log in the jobs panel.

If the worker dies, the generation in progress raises `WorkerDiedError`, and the next `generate`
starts a fresh worker and yields a `restart` event first. The worker keeps no conversation state:
each request carries the whole conversation (see docs/inference.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from phi4studio.core.errors import StudioError
from phi4studio.core.inference.requests import (
    GenerateRequest,
    RequestError,
    as_request,
    new_request_id,
)
from phi4studio.core.jobs.model import Job
from phi4studio.core.jobs.protocol import PROTOCOL_VERSION
from phi4studio.core.jobs.subprocess_job import SubprocessJob, kill_tree
from phi4studio.core.jobs.workers import worker_argv

DEFAULT_START_TIMEOUT_S = 300.0
DEFAULT_CLOSE_TIMEOUT_S = 10.0
Event = dict[str, Any]


class InferenceError(StudioError):
    """Something went wrong talking to the inference worker."""


class WorkerStartError(InferenceError):
    """The worker did not come up (the model failed to load, or it never said `start`)."""


class WorkerDiedError(InferenceError):
    """The worker exited while a request was in flight. The next request restarts it."""


class GenerationError(InferenceError):
    """The worker refused or failed one request (`error` event); it keeps serving."""

    def __init__(self, message: str, *, code: str, request_id: str | None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.request_id = request_id


def inference_worker_argv(
    model_dir: str | os.PathLike[str],
    *,
    provider: str = "auto",
    adapters: Mapping[str, str | os.PathLike[str]] | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    args = ["--model", str(model_dir), "--provider", provider]
    for name, path in (adapters or {}).items():
        args += ["--adapter", f"{name}={path}"]
    return worker_argv("inference", *args, *extra)


class InferenceWorkerJob(SubprocessJob):
    """The worker process as a Job. Per-request events (they carry an `id`) go to `on_request`
    and stay out of the job's own result and log; `on_exit` is called when the process is gone."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        on_request: Callable[[Event], None],
        on_exit: Callable[[InferenceWorkerJob], None],
        **kw: Any,
    ) -> None:
        kw.setdefault("category", "inference")
        kw.setdefault("cancel_grace_s", 5.0)
        kw.setdefault("long_lived", True)
        super().__init__(name, argv, **kw)
        self._on_request = on_request
        self._on_exit = on_exit
        self.exited = False
        self.started: asyncio.Future[dict[str, Any]] | None = None  # resolved by `start`

    async def run(self) -> Any:
        try:
            return await super().run()
        finally:
            self.exited = True
            self._on_exit(self)

    def _handle_event(self, ev: dict[str, Any]) -> str | None:
        if ev.get("id") is not None and ev["type"] in ("token", "result", "error"):
            self._on_request(ev)
            return None
        return super()._handle_event(ev)

    @property
    def alive(self) -> bool:
        proc = self._proc
        return not self.exited and proc is not None and proc.poll() is None


class InferenceClient:
    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        provider: str = "auto",
        adapters: Mapping[str, str | os.PathLike[str]] | None = None,
        worker_args: Sequence[str] = (),
        argv: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        submit: Callable[[Job], object] | None = None,
        resources: Mapping[str, int] | None = None,
        start_timeout_s: float | None = DEFAULT_START_TIMEOUT_S,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.argv = list(argv) if argv is not None else inference_worker_argv(
            model_dir, provider=provider, adapters=adapters, extra=worker_args)
        self.env = dict(env) if env is not None else None
        self.submit = submit
        self.resources = dict(resources) if resources is not None else {"gpu": 1}
        self.start_timeout_s = start_timeout_s
        self.on_event = on_event
        self.info: Event | None = None  # the latest `start` event
        self.startup_s: float | None = None  # spawn -> `start`, as the app sees it
        self.restarts = 0
        self.job: InferenceWorkerJob | None = None
        self._task: asyncio.Task[Any] | None = None
        # request id -> (the worker it was sent to, where its events go)
        self._streams: dict[str, tuple[InferenceWorkerJob, asyncio.Queue[Event | BaseException]]]
        self._streams = {}
        self._start_lock = asyncio.Lock()
        self._closed = False
        self._ever_started = False
        self._last_exit: str | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.alive and self.info is not None

    @property
    def pid(self) -> int | None:
        return self.job.pid if self.job is not None else None

    async def start(self) -> Event:
        """Start the worker (if it is not running) and return its `start` event."""
        async with self._start_lock:
            if self._closed:
                raise InferenceError("this inference client is closed")
            if self.running and self.info is not None:
                return self.info
            return await self._spawn()

    async def _spawn(self) -> Event:
        loop = asyncio.get_running_loop()
        self.info = None
        started: asyncio.Future[Event] = loop.create_future()
        job = InferenceWorkerJob(
            f"Inference: {self.model_dir.name}",
            self.argv,
            env=self.env,
            resources=self.resources,
            on_request=self._route,
            on_exit=self._exited,
        )
        job.on_event = lambda ev: self._on_job_event(job, ev)
        job.started = started
        self.job = job
        t0 = time.perf_counter()
        if self.submit is not None:
            self.submit(job)
        else:
            self._task = asyncio.ensure_future(job.run())
            self._task.add_done_callback(_swallow)
        try:
            info = await asyncio.wait_for(asyncio.shield(started), self.start_timeout_s)
        except asyncio.TimeoutError:
            job.started = None
            await self._kill(job)
            raise WorkerStartError(
                f"the inference worker did not load {self.model_dir} within "
                f"{self.start_timeout_s:g} s"
            ) from None
        except BaseException:
            if not job.exited:
                await self._kill(job)
            raise
        self.startup_s = time.perf_counter() - t0
        self._ever_started = True
        return info

    async def close(self, timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S) -> None:
        """Ask the worker to shut down; kill it if it has not gone within `timeout_s`."""
        self._closed = True
        job = self.job
        if job is None:
            return
        if job.alive and job.send({"cmd": "shutdown"}):
            deadline = time.monotonic() + timeout_s
            while not job.exited and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        if not job.exited:
            await self._kill(job)
        self._fail_streams(InferenceError("the inference client was closed"))

    async def __aenter__(self) -> InferenceClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _kill(self, job: InferenceWorkerJob, grace_s: float = 3.0) -> None:
        if job.pid is None:
            if self._task is not None:
                self._task.cancel()
            return
        kill_tree(job.pid, force=False)
        deadline = time.monotonic() + grace_s
        while not job.exited and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if not job.exited:
            kill_tree(job.pid, force=True)
            deadline = time.monotonic() + grace_s
            while not job.exited and time.monotonic() < deadline:
                await asyncio.sleep(0.02)

    # --- requests -----------------------------------------------------------------------------
    async def generate(
        self, request: GenerateRequest | Mapping[str, Any] | str
    ) -> AsyncIterator[Event]:
        """Stream one generation: `token` events, then one `result` event.

        A `restart` event comes first when the worker had died and was started again. A request
        the worker refuses raises GenerationError; a worker that dies meanwhile, WorkerDiedError.
        Leaving the loop early stops the generation in the worker.
        """
        try:
            req = as_request(request)
        except RequestError as exc:
            raise GenerationError(exc.message, code=exc.code, request_id=None,
                                  hint=exc.hint) from exc
        restart = await self._ensure_running()
        if restart is not None:
            yield restart
        stream: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        assert self.job is not None
        self._streams[req.id] = (self.job, stream)
        finished = False
        try:
            if not self._send(req.to_command()):
                raise WorkerDiedError(self._death_message())
            while True:
                item = await stream.get()
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                kind = item.get("type")
                if kind == "error":
                    finished = True
                    raise GenerationError(
                        str(item.get("message") or "generation failed"),
                        code=str(item.get("code") or "error"),
                        request_id=req.id,
                        hint=item.get("hint"),
                    )
                if kind == "result":
                    finished = True
                    yield item
                    return
                yield item
        finally:
            self._streams.pop(req.id, None)
            if not finished:
                self._send({"cmd": "stop", "id": req.id})

    async def complete(self, request: GenerateRequest | Mapping[str, Any] | str) -> Event:
        """Run a generation to its end and return the result's data (text, counts, timings)."""
        async for ev in self.generate(request):
            if ev["type"] == "result":
                data: Event = ev.get("data") or {}
                return data
        raise InferenceError("the worker ended the request without a result")  # pragma: no cover

    def stop_generation(self, request_id: str | None = None) -> bool:
        """Stop one request, or (no id) every request sent so far. Their `result` still comes,
        with stop_reason "stopped". False if the worker is not running."""
        cmd: dict[str, Any] = {"cmd": "stop"}
        if request_id is not None:
            cmd["id"] = request_id
        return self._send(cmd)

    async def load_adapter(self, name: str, path: str | os.PathLike[str], *,
                           activate: bool = False) -> Event:
        return await self._call({"cmd": "load_adapter", "name": name, "path": str(path),
                                 "activate": activate})

    async def unload_adapter(self, name: str) -> Event:
        return await self._call({"cmd": "unload_adapter", "name": name})

    async def set_adapter(self, name: str | None) -> Event:
        """The adapter used by requests that don't name one (None: the base model)."""
        return await self._call({"cmd": "set_adapter", "name": name})

    async def model_info(self) -> Event:
        return await self._call({"cmd": "info"})

    async def _call(self, cmd: dict[str, Any]) -> Event:
        await self._ensure_running()
        rid = new_request_id()
        stream: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        assert self.job is not None
        self._streams[rid] = (self.job, stream)
        try:
            if not self._send({**cmd, "id": rid}):
                raise WorkerDiedError(self._death_message())
            item = await stream.get()
        finally:
            self._streams.pop(rid, None)
        if isinstance(item, BaseException):
            raise item
        if item.get("type") == "error":
            raise GenerationError(str(item.get("message")), code=str(item.get("code")),
                                  request_id=rid, hint=item.get("hint"))
        data: Event = item.get("data") or {}
        return data

    async def _ensure_running(self) -> Event | None:
        """Start the worker if needed; a `restart` event when it had been running before."""
        if self.running:
            return None
        had_run = self._ever_started
        reason = self._last_exit
        info = await self.start()
        if not had_run:
            return None
        self.restarts += 1
        return {
            "v": PROTOCOL_VERSION, "type": "restart", "restarts": self.restarts,
            "reason": reason, "startup_s": self.startup_s, "info": info,
            "message": f"the inference worker had stopped ({reason or 'unknown reason'}); "
                       f"restarted it in {self.startup_s or 0:.1f} s",
        }

    # --- plumbing (loop thread) ---------------------------------------------------------------
    def _send(self, cmd: dict[str, Any]) -> bool:
        job = self.job
        return job is not None and job.alive and job.send(cmd)

    def _on_job_event(self, job: InferenceWorkerJob, ev: Event) -> None:
        kind = ev.get("type")
        started = job.started
        if kind == "start":
            if job is self.job:
                self.info = ev
            if started is not None and not started.done():
                started.set_result(ev)
        elif kind == "error" and started is not None and not started.done():
            started.set_exception(WorkerStartError(str(ev.get("message") or "load failed")))
        if self.on_event is not None:
            self.on_event(ev)

    def _route(self, ev: Event) -> None:
        entry = self._streams.get(str(ev.get("id")))
        if entry is not None:
            entry[1].put_nowait(ev)
        if self.on_event is not None:
            self.on_event(ev)

    def _exited(self, job: InferenceWorkerJob) -> None:
        how = self._describe_exit(job)
        self._last_exit = how
        started = job.started
        if started is not None and not started.done():
            started.set_exception(WorkerStartError(
                f"the inference worker exited before loading the model: {how}"))
        self._fail_streams(WorkerDiedError(f"the inference worker stopped ({how})"), job)

    def _fail_streams(self, exc: BaseException, job: InferenceWorkerJob | None = None) -> None:
        """Ends the requests sent to `job` (None: all of them) with `exc`."""
        for owner, stream in self._streams.values():
            if job is None or owner is job:
                stream.put_nowait(exc)

    @staticmethod
    def _describe_exit(job: InferenceWorkerJob) -> str:
        rc = job.returncode
        if rc is None and job._proc is not None:
            rc = job._proc.poll()
        what = f"exit code {rc}" if rc is not None else "it exited"
        if job.last_error:
            return f"{what}: {job.last_error}"
        tail = [ln for ln in job.stderr_tail if ln.strip()][-3:]
        return what + (": " + " | ".join(tail) if tail else "")

    def _death_message(self) -> str:
        return f"the inference worker stopped ({self._last_exit or 'not running'})"


def _swallow(task: asyncio.Task[Any]) -> None:
    """The worker job's own failure is reported through its events and exit: don't log it twice."""
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()
