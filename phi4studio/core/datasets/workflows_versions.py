"""Named versions as the Datasets tab and the CLI use them.

    version_rows(store)                     versions with their counts, newest last
    create_version_job(library, ds, name)   snapshot (a job: 100k examples take about a second)
    restore_version_job(library, ds, id)    restore through the job's own connection; the state
                                            before is kept as a version first, so a restore can
                                            always be taken back
    restore_in_place(store, id)             restore through the tab's own store: one step of its
                                            undo history (Ctrl+Z takes it back)

Small restores run in place (undoable in the session), large ones as jobs (IN_PLACE_LIMIT).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.library import DatasetJob, DatasetLibrary
from phi4studio.core.datasets.store import DatasetStore
from phi4studio.core.datasets.versions import CURRENT, Diff, VersionInfo
from phi4studio.core.jobs import Job, JobState, ThreadContext

IN_PLACE_LIMIT = 5000  # changed examples a restore may touch on the loop thread
OnDone = Callable[[Job], None] | None


@dataclass(frozen=True)
class RestoreReport:
    version: VersionInfo
    changes: Diff
    kept: VersionInfo | None  # the state before the restore, kept as a version (jobs only)

    @property
    def message(self) -> str:
        kept = f"; the state before is kept as {self.kept.name!r}" if self.kept else ""
        return f"Restored {self.version.name!r}: {self.changes.summary()}{kept}"


def describe(v: VersionInfo) -> str:
    return (f"{v.name}: {v.n_examples} examples (+{v.added} ~{v.changed} -{v.removed} since the "
            "previous version)")


def restore_in_place(store: DatasetStore, version_id: int) -> RestoreReport:
    """Restore as one step of this store's undo history."""
    v = store.versions.get(version_id)
    d = store.versions.restore(version_id, label=f"Restore version {v.name!r}")
    return RestoreReport(v, d, None)


def restore_with_backup(store: DatasetStore, version_id: int,
                        cancelled: Callable[[], bool] | None = None) -> RestoreReport:
    """Keep the state now as a version (when it differs from the target), then restore."""
    v = store.versions.get(version_id)
    d = store.versions.diff(CURRENT, version_id)
    if d.empty:
        return RestoreReport(v, d, None)
    kept = store.versions.create(f"Before restoring {v.name!r}",
                                 note="made automatically before a restore")
    store.versions.restore(version_id, cancelled=cancelled)
    return RestoreReport(v, d, kept)


def create_version_job(library: DatasetLibrary, dataset_id: str, name: str, note: str = "",
                       on_done: OnDone = None) -> Job:
    if not name.strip():
        raise DatasetError("A version needs a name.")
    path = library.path(dataset_id)

    def work(ctx: ThreadContext) -> VersionInfo:
        ctx.progress(None, f"saving version {name!r}")
        with DatasetStore.open(path) as store:
            v = store.versions.create(name, note)
        ctx.log(describe(v))
        return v

    def done(job: Job) -> None:
        if isinstance(job.result, VersionInfo):
            job.set_message(f"Version saved: {describe(job.result)}")
        if on_done is not None:
            on_done(job)

    job = DatasetJob(f"Save version {name!r}", work, dataset_id)
    return library.submit(job, done)


def restore_version_job(library: DatasetLibrary, dataset_id: str, version_id: int,
                        on_done: OnDone = None) -> Job:
    path = library.path(dataset_id)
    name = library.store(dataset_id).versions.get(version_id).name

    def work(ctx: ThreadContext) -> RestoreReport:
        ctx.progress(None, f"restoring {name!r}")
        with DatasetStore.open(path) as store:
            report = restore_with_backup(store, version_id, cancelled=lambda: ctx.cancelled)
        ctx.log(report.message)
        return report

    def done(job: Job) -> None:
        if job.state is JobState.SUCCEEDED and isinstance(job.result, RestoreReport):
            job.set_message(job.result.message)
        if on_done is not None:
            on_done(job)

    job = DatasetJob(f"Restore version {name!r}", work, dataset_id)
    return library.submit(job, done)
