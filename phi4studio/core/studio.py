"""Studio: the Qt-free services one app session uses (settings, workspace, job queue).

`app.py` builds one and hands its parts to the views; the CLI and `selftest` use the same object.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.environment import inference_probe_argv, runtime_probe_argv, training_python
from phi4studio.core.errors import StudioError, WorkspaceError
from phi4studio.core.handoff import Handoff
from phi4studio.core.jobs import JobQueue, SubprocessJob, default_capacities
from phi4studio.core.paths import AppDirs, app_dirs
from phi4studio.core.settings import Settings, SettingsStore
from phi4studio.core.workspace import Workspace, open_workspace

if TYPE_CHECKING:
    from phi4studio.core.datasets.library import DatasetLibrary

log = logging.getLogger(__name__)

HISTORY_LIMIT = 200


@dataclass
class Studio:
    dirs: AppDirs
    settings_store: SettingsStore
    settings: Settings
    workspace: Workspace
    queue: JobQueue
    messages: list[str] = field(default_factory=list)  # things the user must be told at start
    inference_info: dict[str, Any] | None = None
    runtime_info: dict[str, Any] | None = None
    handoff: Handoff = field(default_factory=Handoff)  # cross-tab requests (core/handoff.py)
    _library: DatasetLibrary | None = field(default=None, repr=False)

    @property
    def library(self) -> DatasetLibrary:
        """The workspace's datasets, shared by every tab: a change made in one (an example saved
        from the Playground, an import) reaches the others' listeners."""
        if self._library is None:
            from phi4studio.core.datasets.library import DatasetLibrary

            self._library = DatasetLibrary(lambda: self.workspace, self.queue)
        return self._library

    @classmethod
    def open(cls, dirs: AppDirs | None = None, workspace: Path | None = None) -> Studio:
        """Load settings and open the workspace. Must run inside the event loop (the queue)."""
        dirs = dirs or app_dirs()
        store = SettingsStore(dirs.settings_file)
        loaded = store.load()
        settings = loaded.settings
        messages = [loaded.message] if loaded.message else []
        target = workspace or Path(settings.workspace or dirs.default_workspace)
        first_run = not (dirs.default_workspace / "catalog.sqlite").exists()
        try:
            ws = open_workspace(target)
        except WorkspaceError as exc:
            if workspace is not None or target == dirs.default_workspace:
                raise
            messages.append(f"{exc} The default workspace is open instead.")
            ws = open_workspace(dirs.default_workspace)
        queue = JobQueue(
            default_capacities(settings.cpu_job_slots),
            history=ws.catalog,
            log_dir=ws.job_logs_dir,
        )
        queue.restore(ws.catalog.job_history(HISTORY_LIMIT))
        studio = cls(dirs, store, settings, ws, queue, messages)
        studio._remember(ws.root)
        if first_run and ws.root == dirs.default_workspace.expanduser().resolve():
            studio._add_sample_dataset()
        return studio

    def _add_sample_dataset(self) -> None:
        """First run: the new default workspace starts with the shipped sample dataset (a
        synchronous import: it takes well under 0.3 s)."""
        from phi4studio.core.datasets.library import DatasetLibrary
        from phi4studio.core.datasets.workflows import seed_sample

        library = DatasetLibrary(lambda: self.workspace)
        try:
            seed_sample(library)
        except Exception as exc:  # noqa: BLE001 - a sample never stops the app from starting
            log.warning("could not add the sample dataset: %s", exc)
            self.messages.append(f"The sample dataset could not be added: {exc}")
        finally:
            library.close()

    # --- settings ---------------------------------------------------------------------------
    def save_settings(self) -> None:
        self.settings_store.save(self.settings)

    def update_settings(self, values: dict[str, Any]) -> Settings:
        """Validate and apply new values (raises pydantic's ValidationError on bad ones)."""
        merged = self.settings.model_dump() | values
        new = Settings.model_validate(merged)
        self.settings = new
        self.queue.capacities["cpu"] = new.cpu_job_slots
        self.save_settings()
        return new

    def _remember(self, root: Path) -> None:
        self.settings.remember_workspace(str(root))
        try:
            self.save_settings()
        except StudioError as exc:
            self.messages.append(str(exc))

    # --- workspace --------------------------------------------------------------------------
    def switch_workspace(self, root: Path) -> Workspace:
        if self.queue.active():
            raise WorkspaceError(
                "Jobs are still running in this workspace.",
                hint="Wait for them to finish or cancel them, then switch workspaces.",
            )
        new = open_workspace(root)  # raises with a clear message; the old one stays open
        self.workspace.close()
        self.workspace = new
        self.queue.history = new.catalog
        self.queue.log_dir = new.job_logs_dir
        self.queue.clear_finished()
        self.queue.restore(new.catalog.job_history(HISTORY_LIMIT))
        self.settings.workspace = str(new.root)
        self._remember(new.root)
        return new

    # --- environment probes (real subprocess jobs) ------------------------------------------
    def probe_inference_job(self) -> SubprocessJob:
        def done(ev: dict[str, Any]) -> None:
            if ev["type"] == "result" and isinstance(ev.get("data"), dict):
                self.inference_info = ev["data"]

        return SubprocessJob(
            "Detect inference devices", inference_probe_argv(), on_event=done,
            group="probe-inference", category="system",
        )

    def probe_runtime_job(self) -> SubprocessJob | None:
        python = training_python(self.settings.training_python)
        if python is None:
            self.runtime_info = None
            return None

        def done(ev: dict[str, Any]) -> None:
            if ev["type"] == "result" and isinstance(ev.get("data"), dict):
                self.runtime_info = ev["data"]

        return SubprocessJob(
            "Check training runtime", runtime_probe_argv(python), on_event=done,
            group="probe-runtime", category="system",
        )

    def close(self) -> None:
        if self._library is not None:
            self._library.close()
            self._library = None
        self.workspace.close()

