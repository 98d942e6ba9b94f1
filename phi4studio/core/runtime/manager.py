"""RuntimeManager: the training runtime as a service (Qt-free) for the Train/Export tabs.

    manager = RuntimeManager.for_studio(studio)
    manager.status()                  # RuntimeStatus: none | managed | external | source
    manager.needs_setup()             # True: offer "Set up training runtime"
    job = manager.create_job()        # SubprocessJob: submit it to studio.queue
    job = manager.repair_job()
    job = manager.use_existing_job(path)   # verify an environment the user already has
    job = manager.verify_job()
    job = manager.remove_job()        # ExecutorJob: deletes the managed runtime (only that)

A job that succeeds records the runtime's interpreter in Settings.training_python (and the
verification data in `studio.runtime_info`); a failed one leaves the settings as they were, and
running the same job again is the retry (a half-made runtime is reused, what pip already
downloaded is cached). Every job runs in the JobQueue like any other.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi4studio.core.jobs import CoroutineJob, Job, SubprocessJob, worker_argv
from phi4studio.core.paths import is_frozen
from phi4studio.core.runtime.pythons import resolve_interpreter, venv_python
from phi4studio.core.runtime.setup import MANIFEST, read_manifest, remove_runtime

RUNTIME_DIRNAME = "training-runtime"


@dataclass
class RuntimeStatus:
    kind: str  # none | managed | external | source
    python: str | None
    exists: bool
    manifest: dict[str, Any] | None
    location: Path

    @property
    def state(self) -> str:
        """ready | broken | incomplete | missing | unknown (external: not verified here)."""
        if self.kind == "none":
            return "missing"
        if not self.exists:
            return "broken"
        if self.kind == "managed":
            return "ready" if (self.manifest or {}).get("state") == "ready" else "incomplete"
        return "unknown"

    def describe(self) -> str:
        if self.kind == "none":
            return "No training runtime is set up yet."
        if not self.exists:
            return f"The training runtime {self.python} is gone (moved or deleted). Repair " \
                   "it, set it up again, or choose another environment."
        if self.kind == "managed":
            m = self.manifest or {}
            if m.get("state") != "ready":
                err = (m.get("error") or {}).get("message") if isinstance(m.get("error"),
                                                                           dict) else None
                return "The training runtime was not finished" + (f": {err}" if err else ".")
            pk = m.get("packages") or {}
            return (f"Managed training runtime: torch {pk.get('torch', '?')} "
                    f"({'CUDA' if (m.get('cuda') or {}).get('available') else 'CPU'}) in "
                    f"{self.location}")
        if self.kind == "source":
            return f"Running from source: training uses this interpreter ({self.python})."
        return f"Training runtime: your environment {self.python}"


class RuntimeManager:
    def __init__(
        self,
        location: Path,
        get_python: Callable[[], str | None],
        set_python: Callable[[str | None], None],
        on_verified: Callable[[dict[str, Any] | None], None] | None = None,
    ) -> None:
        self.location = location
        self._get_python = get_python
        self._set_python = set_python
        self._on_verified = on_verified
        self.worker_args: list[str] = []  # extra worker options (tests: requirements, index)
        self.env: dict[str, str] | None = None  # the worker's environment (None: the app's)

    @classmethod
    def for_studio(cls, studio: Any) -> RuntimeManager:
        """Wire to a Studio: settings.training_python, update_settings, runtime_info."""

        def get() -> str | None:
            value = studio.settings.training_python
            return str(value) if value else None

        def set_(python: str | None) -> None:
            studio.update_settings({"training_python": python})

        def verified(info: dict[str, Any] | None) -> None:
            studio.runtime_info = info

        return cls(studio.dirs.data / RUNTIME_DIRNAME, get, set_, verified)

    # --- state ------------------------------------------------------------------------------
    @property
    def managed_python(self) -> Path:
        return venv_python(self.location)

    def is_managed(self, python: str | None) -> bool:
        if not python:
            return False
        try:
            # The folder, not the file: a venv's interpreter is a link to its base Python.
            return Path(python).parent.resolve().is_relative_to(self.location.resolve())
        except OSError:
            return False

    def status(self) -> RuntimeStatus:
        configured = self._get_python()
        manifest = read_manifest(self.location)
        if configured:
            kind = "managed" if self.is_managed(configured) else "external"
            return RuntimeStatus(kind, configured, Path(configured).exists(), manifest,
                                 self.location)
        if not is_frozen():
            return RuntimeStatus("source", sys.executable, True, manifest, self.location)
        return RuntimeStatus("none", None, False, manifest, self.location)

    def needs_setup(self, runtime_info: dict[str, Any] | None = None) -> bool:
        """Whether the Train/Export tabs should offer "Set up training runtime"."""
        st = self.status()
        if st.kind == "none" or not st.exists:
            return True
        if st.kind == "managed" and st.state != "ready":
            return True
        return runtime_info is not None and not runtime_info.get("ok", False)

    def has_partial(self) -> bool:
        """A managed runtime folder from an earlier, unfinished setup (a retry resumes it)."""
        return (self.location / MANIFEST).exists()

    # --- jobs -------------------------------------------------------------------------------
    def _record(self, job: SubprocessJob) -> Callable[[dict[str, Any]], None]:
        def on_event(ev: dict[str, Any]) -> None:
            if ev["type"] != "result" or not isinstance(ev.get("data"), dict):
                return
            data = ev["data"]
            if data.get("ok") and data.get("python"):
                self._set_python(str(data["python"]))
                runtime = data.get("runtime")
                if self._on_verified is not None and isinstance(runtime, dict):
                    self._on_verified(runtime)
        return on_event

    def _job(self, name: str, args: list[str]) -> SubprocessJob:
        job = SubprocessJob(name, worker_argv("runtime", *args, *self.worker_args),
                            group="training-runtime", category="system",
                            cancel_grace_s=15.0, env=self.env)
        job.on_event = self._record(job)
        return job

    def create_job(self, python: str | None = None, channel: str = "auto") -> SubprocessJob:
        """Set up the managed runtime (a retry after a failure continues in the same folder)."""
        action = "repair" if self.has_partial() else "create"
        args = [action, "--target", str(self.location), "--python", python or "auto",
                "--channel", channel]
        return self._job("Set up training runtime", args)

    def repair_job(self, python: str | None = None, channel: str = "auto") -> SubprocessJob:
        """Reinstall the pinned packages into the managed runtime and verify it again."""
        base = python or (read_manifest(self.location) or {}).get("base_python")
        args = ["repair", "--target", str(self.location), "--python", str(base or "auto"),
                "--channel", channel]
        return self._job("Repair training runtime", args)

    def verify_job(self, python: str | None = None) -> SubprocessJob:
        target = python or self.status().python
        if not target:
            raise ValueError("no training runtime to verify")
        return self._job("Check training runtime", ["verify", "--python", target])

    def use_existing_job(self, path: str | Path) -> SubprocessJob:
        """Verify an environment the user already has; it is recorded only if it passes."""
        chosen = resolve_interpreter(Path(path).expanduser())
        if chosen is None:
            raise ValueError(f"{path} is neither a Python interpreter nor an environment folder "
                             "with one (bin/python or Scripts\\python.exe)")
        return self._job("Use existing training runtime", ["verify", "--python", str(chosen)])

    def remove_job(self) -> Job:
        """Delete the managed runtime folder; the settings forget it when it is gone. A user's
        own environment is never deleted (use `forget`)."""

        async def remove(job: Job) -> str:
            job.set_progress(None, f"removing {self.location}")
            await asyncio.to_thread(remove_runtime, self.location)
            if self.is_managed(self._get_python()):
                self.forget()
            return str(self.location)

        return CoroutineJob("Remove training runtime", remove, group="training-runtime",
                            category="system")

    def forget(self) -> None:
        """Stop using the configured runtime (the environment itself is left as it is)."""
        self._set_python(None)
        if self._on_verified is not None:
            self._on_verified(None)
