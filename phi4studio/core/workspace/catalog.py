"""The workspace catalog: `catalog.sqlite` (WAL) with a schema version and ordered migrations.

Tables: datasets, runs, exports, evaluations, jobs (the job history the Jobs dock shows after a
restart). A catalog written by a newer Phi-4 Studio is refused with a clear message and never
touched. Every write is a transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.errors import CatalogVersionError, WorkspaceError, path_error

if TYPE_CHECKING:
    from phi4studio.core.jobs.model import Job

# Migration N takes the catalog from version N-1 to N. Append only; never edit a shipped one.
MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        n_examples INTEGER NOT NULL DEFAULT 0,
        meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        dataset_id TEXT REFERENCES datasets(id) ON DELETE SET NULL,
        base_model TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'created',
        path TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        metrics TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE exports (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        run_id TEXT REFERENCES runs(id) ON DELETE SET NULL,
        path TEXT NOT NULL,
        precision TEXT NOT NULL DEFAULT '',
        target TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'created',
        created_at REAL NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE evaluations (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        suite TEXT NOT NULL DEFAULT '',
        path TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        metrics TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        category TEXT NOT NULL DEFAULT 'general',
        state TEXT NOT NULL,
        progress REAL,
        message TEXT NOT NULL DEFAULT '',
        error TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        log_path TEXT
    );
    CREATE INDEX jobs_created ON jobs(created_at);
    """,
    # 2: the request log of the local OpenAI/Anthropic-compatible server (Serve)
    """
    CREATE TABLE serve_requests (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        api TEXT NOT NULL,
        client TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        adapter TEXT,
        stream INTEGER NOT NULL DEFAULT 0,
        status INTEGER NOT NULL,
        finish_reason TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        ttft_s REAL,
        latency_s REAL,
        tool_calls TEXT NOT NULL DEFAULT '[]',
        error TEXT,
        meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX serve_requests_created ON serve_requests(created_at);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
ENTITY_TABLES = ("datasets", "runs", "exports", "evaluations")
_JSON_COLUMNS = {"meta", "config", "metrics"}


def damaged_catalog(path: Path, exc: Exception) -> WorkspaceError:
    return WorkspaceError(
        f"The workspace catalog {path} is damaged or is not a catalog: {exc}",
        hint="Restore it from a backup, or choose another workspace folder.",
    )


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise WorkspaceError(f"Cannot open the workspace catalog {path}: {exc}") from exc
        self.conn.row_factory = sqlite3.Row
        try:
            self._check_version()
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise damaged_catalog(path, exc) from exc
        except BaseException:
            self.conn.close()
            raise

    # --- schema -----------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _check_version(self) -> None:
        if self.version > SCHEMA_VERSION:
            self.check_file_version(self.path)

    @staticmethod
    def check_file_version(path: Path) -> None:
        """Refuse a catalog from a newer version without opening it for writing."""
        # immutable: read without creating -wal/-shm files beside a catalog we may refuse
        uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
        try:
            conn = sqlite3.connect(uri, uri=True)
            try:
                v = int(conn.execute("PRAGMA user_version").fetchone()[0])
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise damaged_catalog(path, exc) from exc
        if v > SCHEMA_VERSION:
            raise CatalogVersionError(
                f"The workspace catalog {path} was written by a newer Phi-4 Studio "
                f"(catalog version {v}; this version reads up to {SCHEMA_VERSION}).",
                hint="Update Phi-4 Studio, or open another workspace. Nothing was changed.",
            )

    def migrate(self) -> None:
        v = self.version
        for n in range(v + 1, SCHEMA_VERSION + 1):
            with self.transaction() as c:
                c.executescript_in_tx(MIGRATIONS[n - 1])
                c.execute(f"PRAGMA user_version={n}")

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield _Tx(self.conn)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    # --- entities (datasets, runs, exports, evaluations) ------------------------------------
    def add(self, table: str, **fields: Any) -> str:
        self._check_table(table)
        now = time.time()
        fields.setdefault("id", uuid.uuid4().hex[:12])
        fields.setdefault("created_at", now)
        if table in ("datasets", "runs"):
            fields.setdefault("updated_at", now)
        cols = list(fields)
        vals = [self._encode(c, fields[c]) for c in cols]
        with self.transaction() as c:
            c.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                vals,
            )
        return str(fields["id"])

    def update(self, table: str, id_: str, **fields: Any) -> None:
        self._check_table(table)
        if table in ("datasets", "runs"):
            fields.setdefault("updated_at", time.time())
        sets = ", ".join(f"{c} = ?" for c in fields)
        vals = [self._encode(c, v) for c, v in fields.items()]
        with self.transaction() as c:
            cur = c.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*vals, id_])
            if cur.rowcount == 0:
                raise KeyError(f"no {table[:-1]} with id {id_}")

    def get(self, table: str, id_: str) -> dict[str, Any] | None:
        self._check_table(table)
        row = self.conn.execute(f"SELECT * FROM {table} WHERE id = ?", (id_,)).fetchone()
        return self._decode(row) if row else None

    def records(self, table: str) -> list[dict[str, Any]]:
        self._check_table(table)
        rows = self.conn.execute(f"SELECT * FROM {table} ORDER BY created_at").fetchall()
        return [self._decode(r) for r in rows]

    def delete(self, table: str, id_: str) -> None:
        self._check_table(table)
        with self.transaction() as c:
            c.execute(f"DELETE FROM {table} WHERE id = ?", (id_,))

    @staticmethod
    def _check_table(table: str) -> None:
        if table not in ENTITY_TABLES:
            raise ValueError(f"unknown catalog table {table!r}")

    @staticmethod
    def _encode(col: str, value: Any) -> Any:
        if col in _JSON_COLUMNS:  # always encoded: a plain string is stored as a JSON string
            return json.dumps(value, ensure_ascii=False, default=str)
        return str(value) if isinstance(value, Path) else value

    @staticmethod
    def _decode(row: sqlite3.Row) -> dict[str, Any]:
        d = dict(row)
        for col in _JSON_COLUMNS & d.keys():
            d[col] = json.loads(d[col]) if d[col] else {}
        return d

    # --- job history ------------------------------------------------------------------------
    def record_job(self, job: Job) -> None:
        path = job.log.path
        row = (
            job.id, job.name, job.kind, job.category, job.state.value, job.progress,
            job.message, job.error, job.created_at, job.started_at, job.finished_at,
            str(path) if path else None,
        )
        with self.transaction() as c:
            c.execute(
                """INSERT INTO jobs (id, name, kind, category, state, progress, message, error,
                                     created_at, started_at, finished_at, log_path)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET
                     state = excluded.state, progress = excluded.progress,
                     message = excluded.message, error = excluded.error,
                     started_at = excluded.started_at, finished_at = excluded.finished_at,
                     log_path = excluded.log_path""",
                row,
            )

    def mark_interrupted(self) -> int:
        """Jobs left pending or running by a session that ended: they are interrupted now."""
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE jobs SET state = 'interrupted', finished_at = COALESCE(finished_at, ?),"
                " message = 'interrupted: the app stopped while this job was '"
                " || state WHERE state IN ('pending', 'running')",
                (time.time(),),
            )
            return int(cur.rowcount)

    def job_history(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT * FROM (SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?)"
            " ORDER BY created_at",
            (limit,),
        ).fetchall()
        return [dict(r) for r in rows]

    def clear_job_history(self) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM jobs WHERE state NOT IN ('pending', 'running')")


class _Tx:
    """The cursor-like handle a transaction block gets."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def executescript_in_tx(self, script: str) -> None:
        # executescript() would COMMIT first; run the statements one by one inside our BEGIN.
        for stmt in _split_sql(script):
            self._conn.execute(stmt)


def _split_sql(script: str) -> list[str]:
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def open_catalog(path: Path) -> Catalog:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise path_error("create the workspace folder", path.parent, exc) from exc
    return Catalog(path)

