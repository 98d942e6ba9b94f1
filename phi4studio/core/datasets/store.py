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
from phi4studio.core.datasets.query import (
    ROW_COLUMNS,
    ExampleFilter,
    ExampleRow,
    row_from_sql,
    where_clause,
)
from phi4studio.core.datasets.schema import (
    Example,
    called_tools,
    conversation_hashes,
    data_hash,
    example_from_dict,
    offered_tools,
    preview_text,
    search_text,
)

if TYPE_CHECKING:
    from phi4studio.core.datasets.versions import Versions

STORE_VERSION = 1
OnConflict = Literal["error", "rename", "replace", "skip"]
ExampleLike = Example | Mapping[str, Any]

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE examples (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    scenario TEXT, split TEXT, source TEXT NOT NULL DEFAULT '',
    n_messages INTEGER NOT NULL, n_user INTEGER NOT NULL, n_calls INTEGER NOT NULL,
    called TEXT NOT NULL DEFAULT '', preview TEXT NOT NULL DEFAULT '',
    exact_hash TEXT NOT NULL, norm_hash TEXT NOT NULL, data_hash TEXT NOT NULL,
    validity TEXT, n_errors INTEGER NOT NULL DEFAULT 0, n_warnings INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX ex_scenario ON examples(scenario);
CREATE INDEX ex_split ON examples(split);
CREATE INDEX ex_validity ON examples(validity);
CREATE INDEX ex_source ON examples(source);
CREATE INDEX ex_norm ON examples(norm_hash);
CREATE INDEX ex_exact ON examples(exact_hash);
CREATE INDEX ex_data_hash ON examples(data_hash);
CREATE TABLE example_tools (
    pos INTEGER NOT NULL, name TEXT NOT NULL, called INTEGER NOT NULL,
    PRIMARY KEY (name, pos)
) WITHOUT ROWID;
CREATE INDEX ex_tools_pos ON example_tools(pos);
CREATE TABLE checks (
    data_hash TEXT PRIMARY KEY, validity TEXT NOT NULL, n_errors INTEGER NOT NULL,
    n_warnings INTEGER NOT NULL, issues TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL, n_examples INTEGER NOT NULL,
    added INTEGER NOT NULL, changed INTEGER NOT NULL, removed INTEGER NOT NULL
);
CREATE TABLE version_rows (
    version INTEGER NOT NULL, id TEXT NOT NULL, pos INTEGER NOT NULL, data_hash TEXT NOT NULL,
    PRIMARY KEY (version, id)
) WITHOUT ROWID;
CREATE TABLE blobs (hash TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
"""
_FTS = (
    "CREATE VIRTUAL TABLE examples_fts USING fts5(text, tokenize='unicode61 remove_diacritics 2')"
)
_UNDO = """
CREATE TEMP TABLE IF NOT EXISTS undo_ops (
    op INTEGER PRIMARY KEY, label TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 1);
CREATE TEMP TABLE IF NOT EXISTS undo_rows (
    op INTEGER NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, pos INTEGER,
    before TEXT, after TEXT, PRIMARY KEY (op, seq));
"""


@dataclass(frozen=True)
class StoreEvent:
    """Told to listeners after a commit: kind is added/updated/removed/changed/checks/undo/redo."""

    kind: str
    count: int
    label: str = ""


@dataclass
class AddResult:
    added: int = 0
    replaced: int = 0
    skipped: int = 0
    renamed: dict[str, str] | None = None  # original id -> id it was stored under


def _dumps(d: Mapping[str, Any]) -> str:
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def _as_dict(ex: ExampleLike) -> dict[str, Any]:
    if isinstance(ex, Example):
        return ex.to_dict()
    return example_from_dict(ex).to_dict()


class DatasetStore:
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

    # --- reading ----------------------------------------------------------------------------
    def _where(self, flt: ExampleFilter | None) -> tuple[str, list[Any]]:
        return where_clause(flt, fts=self._fts)

    def count(self, flt: ExampleFilter | None = None) -> int:
        where, params = self._where(flt)
        with self._lock:
            return int(
                self._conn.execute(f"SELECT COUNT(*) FROM examples WHERE {where}", params)
                .fetchone()[0]
            )

    def page(
        self, flt: ExampleFilter | None = None, offset: int = 0, limit: int = 100
    ) -> list[ExampleRow]:
        """Rows `offset .. offset+limit` in dataset order (what a virtual table asks for)."""
        where, params = self._where(flt)
        sql = f"SELECT {ROW_COLUMNS} FROM examples WHERE {where} ORDER BY pos LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._conn.execute(sql, [*params, limit, offset]).fetchall()
        return [row_from_sql(r) for r in rows]

    def page_after(
        self, flt: ExampleFilter | None = None, after_pos: int = 0, limit: int = 100
    ) -> list[ExampleRow]:
        """Keyset paging: the next `limit` rows after the row at `after_pos`."""
        where, params = self._where(flt)
        sql = (
            f"SELECT {ROW_COLUMNS} FROM examples WHERE pos > ? AND {where} ORDER BY pos LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, [after_pos, *params, limit]).fetchall()
        return [row_from_sql(r) for r in rows]

    def row_index(self, example_id: str, flt: ExampleFilter | None = None) -> int | None:
        """Where an example sits among the filtered rows (to scroll a table to it)."""
        where, params = self._where(flt)
        with self._lock:
            r = self._conn.execute(
                "SELECT pos FROM examples WHERE id = ?", (example_id,)
            ).fetchone()
            if r is None:
                return None
            sql = f"SELECT COUNT(*) FROM examples WHERE pos < ? AND {where}"
            n = self._conn.execute(sql, [r[0], *params]).fetchone()[0]
        return int(n)

    def get_dict(self, example_id: str) -> dict[str, Any] | None:
        with self._lock:
            r = self._conn.execute(
                "SELECT data FROM examples WHERE id = ?", (example_id,)
            ).fetchone()
        return None if r is None else dict(json.loads(r[0]))

    def get(self, example_id: str) -> Example | None:
        d = self.get_dict(example_id)
        return None if d is None else Example.model_validate(d)

    def __contains__(self, example_id: object) -> bool:
        with self._lock:
            return (
                self._conn.execute("SELECT 1 FROM examples WHERE id = ?", (example_id,)).fetchone()
                is not None
            )

    def iter_dicts(
        self, flt: ExampleFilter | None = None, batch_size: int = 500
    ) -> Iterator[dict[str, Any]]:
        """Every (filtered) example as a dict, read in keyset batches: memory stays flat."""
        for batch in self.iter_batches(flt, batch_size):
            yield from batch

    def iter_batches(
        self, flt: ExampleFilter | None = None, batch_size: int = 500
    ) -> Iterator[list[dict[str, Any]]]:
        """Examples as dicts in batches (keyset paging; the lock is free between batches)."""
        where, params = self._where(flt)
        after = 0
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT pos, data FROM examples WHERE pos > ? AND {where} "
                    "ORDER BY pos LIMIT ?",
                    [after, *params, batch_size],
                ).fetchall()
            if not rows:
                return
            after = int(rows[-1][0])
            yield [json.loads(r[1]) for r in rows]

    def iter_examples(
        self, flt: ExampleFilter | None = None, batch_size: int = 500
    ) -> Iterator[Example]:
        for d in self.iter_dicts(flt, batch_size):
            yield Example.model_validate(d)

    def ids(self, flt: ExampleFilter | None = None) -> list[str]:
        where, params = self._where(flt)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id FROM examples WHERE {where} ORDER BY pos", params
            ).fetchall()
        return [str(r[0]) for r in rows]

    def counts_by(self, column: str, flt: ExampleFilter | None = None) -> dict[str | None, int]:
        """Counts per scenario, split, validity or source (None: not set / unchecked)."""
        if column not in ("scenario", "split", "validity", "source"):
            raise ValueError(f"cannot count by {column!r}")
        where, params = self._where(flt)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {column}, COUNT(*) FROM examples WHERE {where} GROUP BY {column}", params
            ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def tool_counts(self, flt: ExampleFilter | None = None) -> dict[str, tuple[int, int]]:
        """Tool name -> (examples offering it, examples calling it)."""
        where, params = self._where(flt)
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, COUNT(*), SUM(called) FROM example_tools WHERE pos IN "
                f"(SELECT pos FROM examples WHERE {where}) GROUP BY name ORDER BY name",
                params,
            ).fetchall()
        return {str(r[0]): (int(r[1]), int(r[2] or 0)) for r in rows}

    def issues(self, example_id: str) -> list[dict[str, Any]] | None:
        """The last validation's issues for an example (None: not validated as it is now)."""
        with self._lock:
            r = self._conn.execute(
                "SELECT c.issues FROM examples e JOIN checks c ON c.data_hash = e.data_hash "
                "WHERE e.id = ?",
                (example_id,),
            ).fetchone()
        return None if r is None else list(json.loads(r[0]))

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
                self._emit(StoreEvent("changed", w.count, label))

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
            self._emit(StoreEvent("checks", n))
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
        self._emit(StoreEvent("undo" if undo else "redo", w.count, label))
        return label


class Writer:
    """Puts and removes examples inside one store transaction, logging each for undo."""

    def __init__(self, store: DatasetStore, label: str, record_undo: bool) -> None:
        self.store = store
        self.label = label
        self.record_undo = record_undo
        self.op = 0
        self.count = 0
        self.result = AddResult()
        self._c = store._conn

    def exists(self, example_id: str) -> bool:
        r = self._c.execute("SELECT 1 FROM examples WHERE id = ?", (example_id,)).fetchone()
        return r is not None

    def get(self, example_id: str) -> dict[str, Any] | None:
        r = self._c.execute("SELECT data FROM examples WHERE id = ?", (example_id,)).fetchone()
        return None if r is None else dict(json.loads(r[0]))

    def add(self, d: dict[str, Any], *, on_conflict: OnConflict = "error") -> str:
        if self.exists(d["id"]):
            if on_conflict == "error":
                raise DatasetError(f"An example with id {d['id']!r} already exists.")
            if on_conflict == "skip":
                self.result.skipped += 1
                return str(d["id"])
            if on_conflict == "rename":
                base, n = d["id"], 2
                while self.exists(f"{base}-{n}"):
                    n += 1
                d = {**d, "id": f"{base}-{n}"}
                if self.result.renamed is None:
                    self.result.renamed = {}
                self.result.renamed[base] = d["id"]
            else:
                self.result.replaced += 1
                self.put(d)
                return str(d["id"])
        self.put(d)
        self.result.added += 1
        return str(d["id"])

    def put(self, d: Mapping[str, Any], *, pos: int | None = None) -> None:
        """Insert or replace (by id) an example given as its canonical dict."""
        c = self._c
        ex_id = str(d["id"])
        old = c.execute("SELECT pos, data FROM examples WHERE id = ?", (ex_id,)).fetchone()
        data = _dumps(d)
        if old is not None and old[1] == data:
            return
        exact, norm = conversation_hashes(d)
        h = data_hash(d)
        check = c.execute(
            "SELECT validity, n_errors, n_warnings FROM checks WHERE data_hash = ?", (h,)
        ).fetchone()
        validity, ne, nw = check if check is not None else (None, 0, 0)
        msgs = d.get("messages") or []
        called = called_tools(d)
        cols = dict(
            id=ex_id, scenario=d.get("scenario"), split=d.get("split"),
            source=str(d.get("source") or ""), n_messages=len(msgs),
            n_user=sum(1 for m in msgs if m.get("role") == "user"),
            n_calls=sum(len(m.get("tool_calls") or []) for m in msgs),
            called="\x1f".join(called), preview=preview_text(d), exact_hash=exact,
            norm_hash=norm, data_hash=h, validity=validity, n_errors=ne, n_warnings=nw,
            data=data, updated_at=time.time(),
        )
        if old is not None:
            row_pos = int(old[0])
            sets = ", ".join(f"{k} = ?" for k in cols)
            c.execute(f"UPDATE examples SET {sets} WHERE pos = ?", [*cols.values(), row_pos])
            c.execute("DELETE FROM example_tools WHERE pos = ?", (row_pos,))
            if self.store._fts:
                c.execute("DELETE FROM examples_fts WHERE rowid = ?", (row_pos,))
        else:
            if pos is not None:
                cols = {"pos": pos, **cols}
            marks = ", ".join("?" * len(cols))
            cur = c.execute(
                f"INSERT INTO examples ({', '.join(cols)}) VALUES ({marks})", list(cols.values())
            )
            row_pos = int(cur.lastrowid or 0)
        names = dict.fromkeys(offered_tools(d), 0) | dict.fromkeys(called, 1)
        c.executemany(
            "INSERT OR IGNORE INTO example_tools VALUES (?, ?, ?)",
            [(row_pos, n, flag) for n, flag in names.items()],
        )
        if self.store._fts:
            c.execute(
                "INSERT INTO examples_fts (rowid, text) VALUES (?, ?)", (row_pos, search_text(d))
            )
        self._log(ex_id, row_pos, None if old is None else old[1], data)
        self.count += 1

    def remove(self, example_id: str) -> bool:
        c = self._c
        old = c.execute("SELECT pos, data FROM examples WHERE id = ?", (example_id,)).fetchone()
        if old is None:
            return False
        row_pos = int(old[0])
        c.execute("DELETE FROM examples WHERE pos = ?", (row_pos,))
        c.execute("DELETE FROM example_tools WHERE pos = ?", (row_pos,))
        if self.store._fts:
            c.execute("DELETE FROM examples_fts WHERE rowid = ?", (row_pos,))
        self._log(example_id, row_pos, old[1], None)
        self.count += 1
        return True

    def _log(self, ex_id: str, pos: int, before: str | None, after: str | None) -> None:
        if self.record_undo and self.op:
            self._c.execute(
                "INSERT INTO temp.undo_rows VALUES (?, ?, ?, ?, ?, ?)",
                (self.op, self.count, ex_id, pos, before, after),
            )


def _connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=FILE")
    except sqlite3.OperationalError as exc:
        raise DatasetError(f"Cannot open the dataset file {path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise DatasetError(
            f"The dataset file {path} is damaged or not a dataset: {exc}",
            hint="Restore it from a backup, or import the data again.",
        ) from exc
    except OSError as exc:
        raise DatasetError(f"Cannot open the dataset file {path}: {exc}") from exc
    return conn


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    r = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return r is not None
