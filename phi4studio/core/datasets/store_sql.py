"""The dataset file's SQL schema and how a connection to it is opened (WAL, FTS5 if present)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from phi4studio.core.datasets.errors import DatasetError

STORE_VERSION = 1

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


def connect(path: Path) -> sqlite3.Connection:
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


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    r = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return r is not None
