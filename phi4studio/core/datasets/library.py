"""The workspace's datasets, Qt-free: what the Datasets tab and the `dataset` CLI work with.

    DatasetLibrary(workspace_fn, queue)
        datasets() / get(id) / find(name or id)          catalog rows, with counts and validity
        create(name) / rename(id, name) / delete(id) delete moves the files to datasets/.trash
        trash() / restore(entry) / empty_trash()     ... so nothing is ever lost by a click
        store(id)                                    the open DatasetStore (one per dataset)
        submit(dataset_id, name, fn, on_done)        a write job on one dataset (busy meanwhile)
        import_job / validate_job / ...              the tab's long work, as jobs (library_jobs)

Every dataset is one DatasetStore file, `datasets/<id>.sqlite`, and one row of the catalog's
`datasets` table (path relative to the workspace; `meta.validity` holds the last counts per
validation state). The library keeps that row in step with the store: after each edit made on
the loop thread, and when a job on the dataset ends. A job writes through its own connection
(WAL lets the table keep reading meanwhile) and the dataset is *busy* until it ends: the editor
does not write to it then, so the loop thread never waits on a lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.store import DatasetStore, StoreEvent
from phi4studio.core.jobs import ExecutorJob, Job, JobQueue, ThreadContext
from phi4studio.core.workspace import Workspace

log = logging.getLogger(__name__)

T = TypeVar("T")
CATEGORY = "datasets"
TRASH = ".trash"
SUFFIX = ".sqlite"
SIDE_FILES = ("", "-wal", "-shm")
# (kind, dataset id). list: datasets added/removed/renamed; dataset: re-read everything (a job
# ended); counts: the catalog row changed after an edit the store itself tells (StoreEvent);
# busy: a write job started or ended.
Listener = Callable[[str, "str | None"], None]


@dataclass(frozen=True)
class Validity:
    """How many examples are in each validation state (as last recorded in the catalog)."""

    ok: int = 0
    warning: int = 0
    error: int = 0
    unchecked: int = 0

    @classmethod
    def from_counts(cls, counts: dict[str | None, int]) -> Validity:
        return cls(
            ok=counts.get("ok", 0), warning=counts.get("warning", 0),
            error=counts.get("error", 0), unchecked=counts.get(None, 0),
        )

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Validity:
        v = meta.get("validity") or {}
        return cls(**{k: int(v.get(k, 0)) for k in ("ok", "warning", "error", "unchecked")})

    @property
    def total(self) -> int:
        return self.ok + self.warning + self.error + self.unchecked

    @property
    def state(self) -> str:
        """empty, errors, unchecked, warnings or ok: the worst that applies."""
        if not self.total:
            return "empty"
        if self.error:
            return "errors"
        if self.unchecked:
            return "unchecked"
        return "warnings" if self.warning else "ok"

    def label(self) -> str:
        if not self.total:
            return "empty"
        parts = []
        if self.error:
            parts.append(f"{self.error} with errors")
        if self.warning:
            parts.append(f"{self.warning} with warnings")
        if self.unchecked:
            parts.append("not validated" if self.unchecked == self.total
                         else f"{self.unchecked} not validated")
        return ", ".join(parts) or "all valid"


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    name: str
    path: Path
    n_examples: int
    created_at: float
    updated_at: float
    validity: Validity
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrashEntry:
    folder: Path
    id: str
    name: str
    n_examples: int
    deleted_at: float


def store_file(workspace: Workspace, dataset_id: str) -> Path:
    return workspace.datasets_dir / f"{dataset_id}{SUFFIX}"


def remove_store_files(path: Path) -> None:
    for suffix in SIDE_FILES:
        Path(str(path) + suffix).unlink(missing_ok=True)


def new_dataset_id() -> str:
    return uuid.uuid4().hex[:12]


class DatasetJob(ExecutorJob[T]):
    """An executor job on one dataset. `exclusive`: it writes examples, so the dataset is busy
    (read-only in the editor) until it ends; readers and validation are not exclusive."""

    def __init__(self, name: str, fn: Callable[[ThreadContext], T], dataset_id: str | None,
                 *, exclusive: bool = True, **kw: Any) -> None:
        kw.setdefault("category", CATEGORY)
        super().__init__(name, fn, **kw)
        self.dataset_id = dataset_id
        self.exclusive = exclusive and dataset_id is not None
        self.made_dataset: str | None = None  # the dataset a job created, once registered


class DatasetLibrary:
    def __init__(self, workspace: Callable[[], Workspace], queue: JobQueue | None = None) -> None:
        self._workspace_fn = workspace
        self._ws: Workspace | None = None
        self.queue = queue
        self._stores: dict[str, DatasetStore] = {}
        self._listeners: list[Listener] = []
        self._busy: dict[str, Job] = {}
        self._done: dict[str, Callable[[Job], None]] = {}
        self._thread = threading.get_ident()
        if queue is not None:
            queue.add_listener(self._on_job)

    # --- workspace ---------------------------------------------------------------------------
    @property
    def workspace(self) -> Workspace:
        """The current workspace; stores of a previous one are closed when it changes."""
        ws = self._workspace_fn()
        if ws is not self._ws:
            if self._ws is not None:
                self.close_stores()
            self._ws = ws
        return ws

    def workspace_changed(self) -> bool:
        return self._workspace_fn() is not self._ws

    def close(self) -> None:
        if self.queue is not None:
            self.queue.remove_listener(self._on_job)
        self.close_stores()
        self._listeners.clear()

    def close_stores(self) -> None:
        for ds_id, st in list(self._stores.items()):
            with contextlib.suppress(Exception):
                st.close()
            self._stores.pop(ds_id, None)

    # --- listeners ---------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, kind: str, dataset_id: str | None = None) -> None:
        for fn in list(self._listeners):
            try:
                fn(kind, dataset_id)
            except Exception:
                log.exception("dataset library listener failed")

    # --- catalog -----------------------------------------------------------------------------
    def _info(self, rec: dict[str, Any]) -> DatasetInfo:
        meta = rec.get("meta") or {}
        return DatasetInfo(
            id=str(rec["id"]), name=str(rec["name"]), path=self.workspace.root / rec["path"],
            n_examples=int(rec.get("n_examples") or 0),
            created_at=float(rec.get("created_at") or 0.0),
            updated_at=float(rec.get("updated_at") or 0.0),
            validity=Validity.from_meta(meta), meta=dict(meta),
        )

    def datasets(self) -> list[DatasetInfo]:
        return [self._info(r) for r in self.workspace.catalog.records("datasets")]

    def get(self, dataset_id: str) -> DatasetInfo:
        rec = self.workspace.catalog.get("datasets", dataset_id)
        if rec is None:
            raise DatasetError(f"No dataset with id {dataset_id} in this workspace.")
        return self._info(rec)

    def find(self, key: str) -> DatasetInfo:
        """A dataset by id or by name (names are matched exactly, then case-insensitively)."""
        items = self.datasets()
        matches: list[Callable[[DatasetInfo], bool]] = [
            lambda d: d.id == key, lambda d: d.name == key,
            lambda d: d.name.casefold() == key.casefold(),
        ]
        for match in matches:
            found = [d for d in items if match(d)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise DatasetError(f"{len(found)} datasets are named {key!r}.",
                                   hint="Use the dataset's id (see `phi4studio dataset list`).")
        raise DatasetError(f"No dataset named {key!r} in {self.workspace.root}.",
                           hint="`phi4studio dataset list` shows the datasets.")

    def unique_name(self, base: str) -> str:
        names = {d.name for d in self.datasets()}
        if base not in names:
            return base
        n = 2
        while f"{base} ({n})" in names:
            n += 1
        return f"{base} ({n})"

    def register(self, dataset_id: str, name: str) -> DatasetInfo:
        """Add the catalog row for a store file already at its place (after a job made it)."""
        ws = self.workspace
        path = store_file(ws, dataset_id)
        ws.catalog.add("datasets", id=dataset_id, name=name,
                       path=str(path.relative_to(ws.root)))
        self.sync(dataset_id, emit=False)
        self._emit("list", dataset_id)
        return self.get(dataset_id)

    def create(self, name: str) -> DatasetInfo:
        name = name.strip()
        if not name:
            raise DatasetError("A dataset needs a name.")
        ds_id = new_dataset_id()
        path = store_file(self.workspace, ds_id)
        DatasetStore.create(path, name).close()
        try:
            return self.register(ds_id, name)
        except BaseException:
            remove_store_files(path)
            raise

    def rename(self, dataset_id: str, name: str) -> None:
        name = name.strip()
        if not name:
            raise DatasetError("A dataset needs a name.")
        self.get(dataset_id)
        self.workspace.catalog.update("datasets", dataset_id, name=name)
        if dataset_id not in self._busy:
            self.store(dataset_id).set_meta("name", name)
        self._emit("list", dataset_id)

    def sync(self, dataset_id: str, *, emit: bool = True) -> DatasetInfo | None:
        """Write the store's example count and validity counts into its catalog row."""
        ws = self.workspace
        rec = ws.catalog.get("datasets", dataset_id)
        if rec is None:
            return None
        try:
            st = self.store(dataset_id)
            n, counts = st.count(), st.counts_by("validity")
        except DatasetError as exc:
            log.warning("cannot read dataset %s: %s", dataset_id, exc)
            return None
        meta = dict(rec.get("meta") or {})
        meta["validity"] = {
            "ok": counts.get("ok", 0), "warning": counts.get("warning", 0),
            "error": counts.get("error", 0), "unchecked": counts.get(None, 0),
        }
        if meta != rec.get("meta") or n != rec.get("n_examples"):
            ws.catalog.update("datasets", dataset_id, n_examples=n, meta=meta)
        if emit:
            self._emit("dataset", dataset_id)
        return self.get(dataset_id)

    # --- stores ------------------------------------------------------------------------------
    def path(self, dataset_id: str) -> Path:
        return self.get(dataset_id).path

    def store(self, dataset_id: str) -> DatasetStore:
        """The dataset's store, opened once (for the table, the editor and quick edits)."""
        ws = self.workspace
        st = self._stores.get(dataset_id)
        if st is None:
            rec = ws.catalog.get("datasets", dataset_id)
            if rec is None:
                raise DatasetError(f"No dataset with id {dataset_id} in this workspace.")
            st = DatasetStore.open(ws.root / rec["path"])
            st.add_listener(self._store_listener(dataset_id))
            self._stores[dataset_id] = st
        return st

    def _store_listener(self, dataset_id: str) -> Callable[[StoreEvent], None]:
        def changed(ev: StoreEvent) -> None:
            if threading.get_ident() == self._thread:  # a job's thread: synced when it ends
                self.sync(dataset_id, emit=False)
                self._emit("counts", dataset_id)  # the view follows the store's own event

        return changed

    # --- delete, trash, restore --------------------------------------------------------------
    @property
    def trash_dir(self) -> Path:
        return self.workspace.datasets_dir / TRASH

    def delete(self, dataset_id: str) -> TrashEntry:
        """Move the dataset to the trash (restorable) and drop its catalog row."""
        if dataset_id in self._busy:
            raise DatasetError("A job is still working on this dataset.",
                               hint="Wait for it to finish or cancel it in the Jobs dock.")
        info = self.get(dataset_id)
        st = self._stores.pop(dataset_id, None)
        if st is not None:
            st.close()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = self.trash_dir / f"{stamp}-{dataset_id}"
        folder.mkdir(parents=True, exist_ok=True)
        rec = self.workspace.catalog.get("datasets", dataset_id) or {}
        entry = {"record": rec, "deleted_at": time.time()}
        (folder / "dataset.json").write_text(json.dumps(entry, default=str), encoding="utf-8")
        for suffix in SIDE_FILES:
            src = Path(str(info.path) + suffix)
            if src.exists():
                shutil.move(str(src), str(folder / (f"{dataset_id}{SUFFIX}{suffix}")))
        self.workspace.catalog.delete("datasets", dataset_id)
        self._emit("list", None)
        return self._trash_entry(folder)

    def _trash_entry(self, folder: Path) -> TrashEntry:
        data = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        rec = data["record"]
        return TrashEntry(folder, str(rec["id"]), str(rec["name"]),
                          int(rec.get("n_examples") or 0), float(data["deleted_at"]))

    def trash(self) -> list[TrashEntry]:
        """Deleted datasets, newest first."""
        out = []
        if self.trash_dir.is_dir():
            for folder in self.trash_dir.iterdir():
                try:
                    out.append(self._trash_entry(folder))
                except (OSError, ValueError, KeyError):
                    continue
        return sorted(out, key=lambda e: e.deleted_at, reverse=True)

    def restore(self, entry: TrashEntry) -> DatasetInfo:
        """Bring a deleted dataset back (under a new id if its id was taken meanwhile)."""
        ws = self.workspace
        data = json.loads((entry.folder / "dataset.json").read_text(encoding="utf-8"))
        rec = dict(data["record"])
        ds_id = rec["id"] if ws.catalog.get("datasets", rec["id"]) is None else new_dataset_id()
        target = store_file(ws, ds_id)
        if target.exists():
            raise DatasetError(f"A dataset file already exists at {target}.")
        for suffix in SIDE_FILES:
            src = entry.folder / f"{entry.id}{SUFFIX}{suffix}"
            if src.exists():
                shutil.move(str(src), str(target) + suffix)
        rec.update(id=ds_id, path=str(target.relative_to(ws.root)),
                   name=self.unique_name(str(rec["name"])))
        rec.pop("updated_at", None)
        ws.catalog.add("datasets", **{k: v for k, v in rec.items() if v is not None})
        shutil.rmtree(entry.folder, ignore_errors=True)
        self._emit("list", ds_id)
        return self.get(ds_id)

    def empty_trash(self) -> int:
        entries = self.trash()
        for e in entries:
            shutil.rmtree(e.folder, ignore_errors=True)
        return len(entries)

    # --- jobs --------------------------------------------------------------------------------
    def busy(self, dataset_id: str | None) -> Job | None:
        """The write job working on the dataset now, if any."""
        return self._busy.get(dataset_id) if dataset_id else None

    def submit(
        self,
        job: DatasetJob[Any],
        on_done: Callable[[Job], None] | None = None,
    ) -> Job:
        """Run a job on a dataset: busy until it ends; then `on_done(job)` and a catalog sync."""
        if self.queue is None:
            raise DatasetError("This library has no job queue.")
        ds = job.dataset_id if job.exclusive else None
        if ds is not None and ds in self._busy:
            raise DatasetError(f"A job is already working on this dataset: {self._busy[ds].name}.",
                               hint="Wait for it to finish or cancel it in the Jobs dock.")
        if ds is not None:
            self._busy[ds] = job
        if on_done is not None:
            self._done[job.id] = on_done
        self.queue.submit(job)
        if ds is not None:
            self._emit("busy", ds)
        return job

    def _on_job(self, what: str, job: Job | None) -> None:
        if what != "state" or job is None or not job.state.finished:
            return
        ds = getattr(job, "dataset_id", None)
        done = self._done.pop(job.id, None)
        if ds is not None and self._busy.get(ds) is job:
            del self._busy[ds]
            st = self._stores.get(ds)
            if st is not None:  # the job wrote through its own connection: the session's
                st.clear_history()  # undo steps would overwrite its work
        if done is not None:
            try:
                done(job)
            except Exception as exc:
                log.exception("finishing job %s failed", job.name)
                job.add_log(f"ERROR while finishing: {exc}")
        if ds is not None:
            if self.workspace.catalog.get("datasets", ds) is not None:
                self.sync(ds, emit=False)
            self._emit("busy", ds)
            self._emit("dataset", ds)

