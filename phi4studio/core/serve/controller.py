"""ServeController: the Serve panel's Qt-free side. Starts and stops the server as a job.

The server runs in its own process (`phi4studio --worker serve`, a long-lived SubprocessJob in
the GPU slot, listed in the Jobs dock with its log), which starts the inference worker. The app's
loop only reads JSON lines: `start` (address, models), `request` (one request-log record each),
`done`. So the UI never waits on HTTP or on the model.

    ctl = ServeController(queue.submit, catalog=lambda: studio.workspace.catalog)
    ctl.add_listener(lambda what: ...)      # "state" or "record"
    ctl.start(ServeOptions(model_dir, adapter="ft", port=8000))
    ctl.state, ctl.url, ctl.api_key, ctl.records
    ctl.stop()
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phi4studio.core.jobs.model import Job
from phi4studio.core.jobs.subprocess_job import SubprocessJob, kill_tree
from phi4studio.core.jobs.workers import worker_argv
from phi4studio.core.serve.config import (
    API_KEY_ENV,
    DEFAULT_HOST,
    DEFAULT_MAX_QUEUE,
    DEFAULT_PORT,
    is_loopback,
    new_api_key,
)

STATES = ("stopped", "starting", "running", "stopping", "failed")
Listener = Callable[[str], None]


@dataclass
class ServeOptions:
    model_dir: Path
    name: str = ""
    adapters: Mapping[str, Path] = field(default_factory=dict)  # besides DIR/adapters/
    adapter: str | None = None  # the adapter the plain model id uses
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    guided_tools: bool = False
    max_queue: int = DEFAULT_MAX_QUEUE
    any_model: bool = False
    api_key: str | None = None  # None: generated when the host is not loopback

    def argv(self, catalog: Path | None) -> list[str]:
        args = ["--model", str(self.model_dir), "--host", self.host, "--port", str(self.port),
                "--max-queue", str(self.max_queue)]
        if self.name:
            args += ["--name", self.name]
        for name, path in self.adapters.items():
            args += ["--adapter", f"{name}={path}"]
        if self.adapter:
            args += ["--active-adapter", self.adapter]
        if self.guided_tools:
            args.append("--guided-tools")
        if self.any_model:
            args.append("--any-model")
        if catalog is not None:
            args += ["--catalog", str(catalog)]
        return worker_argv("serve", *args)


class ServeJob(SubprocessJob):
    def __init__(self, name: str, argv: list[str], *, on_exit: Callable[[ServeJob], None],
                 **kw: Any) -> None:
        kw.setdefault("category", "inference")
        kw.setdefault("group", "serve")
        kw.setdefault("long_lived", True)
        kw.setdefault("cancel_grace_s", 10.0)
        super().__init__(name, argv, **kw)
        self._on_exit = on_exit

    async def run(self) -> Any:
        try:
            return await super().run()
        finally:
            self._on_exit(self)


class ServeController:
    def __init__(
        self,
        submit: Callable[[Job], object],
        *,
        catalog: Callable[[], Any] | None = None,  # the workspace Catalog (for its path/history)
        resources: Mapping[str, int] | None = None,
        max_records: int = 500,
    ) -> None:
        self.submit = submit
        self.catalog = catalog
        self.resources = dict(resources) if resources is not None else {"gpu": 1}
        self.state = "stopped"
        self.message = ""
        self.info: dict[str, Any] | None = None
        self.api_key: str | None = None
        self.options: ServeOptions | None = None
        self.job: ServeJob | None = None
        self.records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self.total = 0
        self._listeners: list[Listener] = []

    # --- listeners ----------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, what: str) -> None:
        for fn in list(self._listeners):
            fn(what)

    def _set_state(self, state: str, message: str = "") -> None:
        self.state, self.message = state, message
        self._emit("state")

    # --- derived ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.state in ("starting", "running", "stopping")

    @property
    def url(self) -> str | None:
        return str(self.info["url"]) if self.info else None

    @property
    def key_required(self) -> bool:
        return bool(self.info and self.info.get("api_key_required"))

    def load_history(self, limit: int = 200) -> int:
        """Earlier requests from the workspace catalog, oldest first, into `records`."""
        from phi4studio.core.serve.reqlog import read_history

        cat = self.catalog() if self.catalog is not None else None
        if cat is None:
            return 0
        rows = read_history(cat, limit)
        self.records.extend(rows)
        self._emit("record")
        return len(rows)

    # --- control ------------------------------------------------------------------------------
    def start(self, options: ServeOptions) -> ServeJob:
        if self.running:
            raise RuntimeError("the server is already running; stop it first")
        cat = self.catalog() if self.catalog is not None else None
        path = Path(cat.path) if cat is not None else None
        key = options.api_key or (None if is_loopback(options.host) else new_api_key())
        env = dict(os.environ)
        env.pop(API_KEY_ENV, None)
        if key:
            env[API_KEY_ENV] = key
        self.api_key, self.options, self.info = key, options, None
        job = ServeJob(f"Serve: {options.name or Path(options.model_dir).name}",
                       options.argv(path), on_exit=self._exited, env=env,
                       resources=self.resources)
        job.on_event = self._on_event
        self.job = job
        self._set_state("starting", "waiting for the model (and the GPU slot)")
        self.submit(job)
        return job

    def stop(self) -> bool:
        """Ask the server to stop (it finishes quickly: generations end at the next token)."""
        job = self.job
        if job is None or not self.running:
            return False
        if job.pid is None:  # still waiting for the GPU slot: it never starts
            if job._queue is not None:
                job._queue.cancel(job)
            self.job = None
            self._set_state("stopped", "stopped before it started")
            return True
        self._set_state("stopping", "stopping")
        if not job.send({"cmd": "shutdown"}):
            kill_tree(job.pid, force=False)
        return True

    # --- events (loop thread) -----------------------------------------------------------------
    def _on_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "start":
            self.info = {k: v for k, v in ev.items() if k not in ("v", "type")}
            if ev.get("api_key"):
                self.api_key = str(ev["api_key"])
            self._set_state("running", f"serving at {ev.get('url')}")
        elif kind == "request":
            self.records.append({k: v for k, v in ev.items() if k not in ("v", "type")})
            self.total += 1
            self._emit("record")
        elif kind == "error" and self.state == "starting":
            self.message = str(ev.get("message") or "")

    def _exited(self, job: ServeJob) -> None:
        if job is not self.job:
            return
        failed = job.returncode not in (0, None) or (self.state == "starting"
                                                     and not job.cancel_requested)
        if failed and self.state != "stopping":
            why = job.last_error or (f"exit code {job.returncode}" if job.returncode else
                                     "the server stopped before it was ready")
            self._set_state("failed", why)
        else:
            self._set_state("stopped", "stopped")


@dataclass(frozen=True)
class ServableModel:
    """A model the panel offers: an export of the workspace, or a folder the user picked."""

    name: str
    path: Path
    adapters: Mapping[str, Path] = field(default_factory=dict)


def workspace_models(catalog: Any) -> list[ServableModel]:
    """The workspace's exports (catalog `exports`) that hold a loadable model folder, with the
    adapters found in them (`adapters/*.onnx_adapter`) and in the record's `meta.adapters`."""
    from phi4studio.core.serve.config import adapters_in

    out: list[ServableModel] = []
    for rec in catalog.records("exports") if catalog is not None else []:
        path = Path(str(rec.get("path") or ""))
        if not (path / "genai_config.json").is_file():
            continue
        adapters = adapters_in(path)
        meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
        for name, file in (meta.get("adapters") or {}).items():
            f = Path(str(file))
            f = f if f.is_absolute() else path / f
            if f.is_file():
                adapters.setdefault(str(name), f)
        out.append(ServableModel(str(rec.get("name") or path.name), path, adapters))
    return out
