"""DatasetStore: one dataset in one SQLite file (WAL), paged and filtered without loading it.

    examples        one row per example: the canonical JSON plus derived columns (scenario, split,
                    counts, called tools, preview, hashes, last validation result)
    example_tools   (pos, tool name, called?) for the tool filter
    examples_fts    FTS5 index over message text, call names and argument values
    checks          validation results keyed by the example's content hash (an undo that brings
                    back old content brings back its old result)
    versions, version_rows, blobs   named versions (see versions.py)

Every edit is one transaction and one entry in the session's undo log (TEMP tables: the log lives
as long as this connection). Large imports can skip the undo log. One connection per store, guarded
by a lock, so a job thread and the UI thread can share it; a long job may open its own store on
the same file instead (WAL lets readers go on while it writes).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.query import ExampleFilter
from phi4studio.core.datasets.schema import Example, example_from_dict
from phi4studio.core.datasets.store_read import StoreReader
from phi4studio.core.datasets.store_sql import _FTS, _SCHEMA, _UNDO, STORE_VERSION
from phi4studio.core.datasets.store_sql import connect as _connect
from phi4studio.core.datasets.store_sql import has_table as _has_table
from phi4studio.core.datasets.writer import MAX_EVENT_IDS, AddResult, OnConflict, Writer

if TYPE_CHECKING:
    from phi4studio.core.datasets.versions import Versions

ExampleLike = Example | Mapping[str, Any]
__all__ = [
    "MAX_EVENT_IDS", "STORE_VERSION", "AddResult", "DatasetStore", "OnConflict", "StoreEvent",
    "Writer",
]


@dataclass(frozen=True)
class StoreEvent:
    """Told to listeners after a commit: kind is changed/checks/undo/redo. `ids`: the examples
    the commit touched, in the order it touched them (None: too many to name; refresh all)."""

    kind: str
    count: int
    label: str = ""
    ids: tuple[str, ...] | None = ()


def _as_dict(ex: ExampleLike) -> dict[str, Any]:
    if isinstance(ex, Example):
        return ex.to_dict()
    return example_from_dict(ex).to_dict()


class DatasetStore(StoreReader):
    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()
        self._listeners: list[Callable[[StoreEvent], None]] = []
        self._fts = _has_table(conn, "examples_fts")
        self._in_tx = False
        for stmt in _UNDO.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute("DELETE FROM temp.undo_ops")
        conn.execute("DELETE FROM temp.undo_rows")
        self._versions: Versions | None = None

    # --- opening ----------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, name: str = "", *, overwrite: bool = False) -> DatasetStore:
        path = Path(path)
        if path.exists():
            if not overwrite:
                raise DatasetError(f"A dataset file already exists at {path}.")
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        conn = _connect(path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            try:
                conn.execute(_FTS)
            except sqlite3.OperationalError:
                pass  # no FTS5 in this SQLite build: text search falls back to LIKE
            meta = {"name": name or path.stem, "created_at": str(time.time())}
            conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            conn.execute(f"PRAGMA user_version={STORE_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    @classmethod
    def open(cls, path: Path) -> DatasetStore:
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"No dataset file at {path}.")
        conn = _connect(path)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > STORE_VERSION:
                raise DatasetError(
                    f"The dataset {path} was written by a newer Phi-4 Studio (format {version}).",
                    hint="Update Phi-4 Studio to open it. Nothing was changed.",
                )
            if not _has_table(conn, "examples"):
                raise DatasetError(f"{path} is not a Phi-4 Studio dataset.")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise DatasetError(
                f"The dataset file {path} is damaged or not a dataset: {exc}"
            ) from exc
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> DatasetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.meta("name") or self.path.stem

    def meta(self, key: str) -> str | None:
        with self._lock:
            r = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if r is None else str(r[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self._tx():
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def versions(self) -> Versions:
        if self._versions is None:
            from phi4studio.core.datasets.versions import Versions

            self._versions = Versions(self)
        return self._versions

    def add_listener(self, fn: Callable[[StoreEvent], None]) -> None:
        """Called after each committed change, on the thread that made it."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[StoreEvent], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, ev: StoreEvent) -> None:
        for fn in list(self._listeners):
            fn(ev)

    # --- writing ----------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[None]:
        if self._in_tx:
            yield
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._in_tx = False

    @contextmanager
    def writer(self, label: str, *, record_undo: bool = True) -> Iterator[Writer]:
        """One transaction and one undo step: everything done through the writer, or nothing."""
        with self._lock:
            w = Writer(self, label, record_undo)
            with self._tx():
                if record_undo:
                    w.op = self._begin_op(label)
                yield w
            if w.count:
                self._emit(StoreEvent("changed", w.count, label, w.event_ids()))

    def add(self, example: ExampleLike, *, on_conflict: OnConflict = "error") -> str:
        """Add one example; returns the id it was stored under."""
        d = _as_dict(example)
        with self.writer(f"Add {d['id']}") as w:
            return w.add(d, on_conflict=on_conflict)

    def add_many(
        self,
        examples: Iterable[ExampleLike],
        *,
        label: str = "Add examples",
        on_conflict: OnConflict = "rename",
        record_undo: bool = True,
        cancelled: Callable[[], bool] | None = None,
    ) -> AddResult:
        """Add a stream of examples in one transaction (cancel rolls back and raises)."""
        with self.writer(label, record_undo=record_undo) as w:
            for i, ex in enumerate(examples):
                if cancelled is not None and i % 256 == 0 and cancelled():
                    from phi4studio.core.jobs.model import JobCancelled

                    raise JobCancelled()
                w.add(_as_dict(ex), on_conflict=on_conflict)
            return w.result

    def update(self, example: ExampleLike) -> None:
        """Replace the example with the same id (one undo step)."""
        d = _as_dict(example)
        with self.writer(f"Edit {d['id']}") as w:
            if not w.exists(d["id"]):
                raise DatasetError(f"No example with id {d['id']!r} in {self.name}.")
            w.put(d)

    def delete(self, ids: Iterable[str], *, label: str | None = None) -> int:
        ids = list(ids)
        with self.writer(label or f"Delete {len(ids)} example(s)") as w:
            for i in ids:
                w.remove(i)
            return w.count

    def delete_where(self, flt: ExampleFilter) -> int:
        return self.delete(self.ids(flt), label="Delete filtered examples")

    def set_fields(
        self,
        target: ExampleFilter | Iterable[str],
        *,
        split: str | Literal[False] | None = False,
        scenario: str | Literal[False] | None = False,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
        label: str | None = None,
    ) -> int:
        """Bulk edit (one undo step): set split/scenario (None clears; False leaves) and tags."""
        ids = self.ids(target) if isinstance(target, ExampleFilter) else list(target)
        add, rem = list(add_tags), set(remove_tags)
        with self.writer(label or f"Edit {len(ids)} example(s)") as w:
            for i in ids:
                d = w.get(i)
                if d is None:
                    continue
                new = dict(d)
                if split is not False:
                    new["split"] = split
                if scenario is not False:
                    new["scenario"] = scenario
                if add or rem:
                    tags = [t for t in new.get("tags", []) if t not in rem]
                    new["tags"] = tags + [t for t in add if t not in tags]
                if new != d:
                    w.put(_as_dict(new))
            return w.count

    def update_many(self, examples: Iterable[ExampleLike], *, label: str) -> int:
        """Replace many examples (by id) in one transaction and one undo step."""
        with self.writer(label) as w:
            for ex in examples:
                w.put(_as_dict(ex))
            return w.count

    # --- validation results -----------------------------------------------------------------
    def record_checks(self, results: Iterable[tuple[str, str, int, int, list[Any]]]) -> int:
        """Store validation results: (data_hash, validity, n_errors, n_warnings, issues)."""
        n = 0
        with self._lock, self._tx():
            for h, validity, ne, nw, issues in results:
                self._conn.execute(
                    "INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?, ?)",
                    (h, validity, ne, nw, json.dumps(issues, ensure_ascii=False)),
                )
                self._conn.execute(
                    "UPDATE examples SET validity = ?, n_errors = ?, n_warnings = ? "
                    "WHERE data_hash = ?",
                    (validity, ne, nw, h),
                )
                n += 1
        if n:
            self._emit(StoreEvent("checks", n, ids=None))
        return n

    def prune_checks(self) -> None:
        with self._lock, self._tx():
            self._conn.execute(
                "DELETE FROM checks WHERE data_hash NOT IN (SELECT data_hash FROM examples)"
            )

    # --- undo / redo ------------------------------------------------------------------------
    def _begin_op(self, label: str) -> int:
        c = self._conn
        # A new edit drops everything that was undone (the redo stack).
        c.execute("DELETE FROM temp.undo_rows WHERE op IN (SELECT op FROM undo_ops WHERE done=0)")
        c.execute("DELETE FROM temp.undo_ops WHERE done = 0")
        cur = c.execute("INSERT INTO temp.undo_ops (label) VALUES (?)", (label,))
        return int(cur.lastrowid or 0)

    def _top(self, done: int) -> tuple[int, str] | None:
        order = "DESC" if done else "ASC"
        with self._lock:
            r = self._conn.execute(
                f"SELECT op, label FROM temp.undo_ops WHERE done = ? ORDER BY op {order} LIMIT 1",
                (done,),
            ).fetchone()
        return None if r is None else (int(r[0]), str(r[1]))

    @property
    def undo_mark(self) -> int:
        """Identifies the newest edit that can be undone (0: none); it changes with every edit,
        undo and redo, so a caller can tell whether anything happened since it looked."""
        t = self._top(1)
        return 0 if t is None else t[0]

    @property
    def can_undo(self) -> bool:
        return self._top(1) is not None

    @property
    def can_redo(self) -> bool:
        return self._top(0) is not None

    @property
    def undo_label(self) -> str | None:
        t = self._top(1)
        return None if t is None else t[1]

    @property
    def redo_label(self) -> str | None:
        t = self._top(0)
        return None if t is None else t[1]

    def clear_history(self) -> None:
        """Forget this session's undo/redo steps (another connection, a job, wrote meanwhile:
        replaying them would overwrite its work)."""
        with self._lock:
            self._conn.execute("DELETE FROM temp.undo_rows")
            self._conn.execute("DELETE FROM temp.undo_ops")

    def undo(self) -> str | None:
        """Undo the last edit of this session; returns its label (None: nothing to undo)."""
        return self._step(undo=True)

    def redo(self) -> str | None:
        return self._step(undo=False)

    def _step(self, *, undo: bool) -> str | None:
        with self._lock:
            top = self._top(1 if undo else 0)
            if top is None:
                return None
            op, label = top
            w = Writer(self, label, record_undo=False)
            order = "DESC" if undo else "ASC"
            with self._tx():
                cur = self._conn.execute(
                    f"SELECT id, pos, before, after FROM temp.undo_rows WHERE op = ? "
                    f"ORDER BY seq {order}",
                    (op,),
                )
                while rows := cur.fetchmany(500):
                    for ex_id, pos, before, after in rows:
                        state = before if undo else after
                        if state is None:
                            w.remove(str(ex_id))
                        else:
                            w.put(json.loads(state), pos=pos)
                self._conn.execute(
                    "UPDATE temp.undo_ops SET done = ? WHERE op = ?", (0 if undo else 1, op)
                )
        self._emit(StoreEvent("undo" if undo else "redo", w.count, label, w.event_ids()))
        return label
