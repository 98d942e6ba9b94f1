"""The reading half of a dataset store: counts, pages, filtered positions, examples, tool counts,
stored validation issues. `DatasetStore` (store.py) adds the writing half on top.

Every query holds the store's lock only while it runs, so a job thread and the UI thread can share
one connection; large results are read in keyset batches so memory stays flat.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

from phi4studio.core.datasets.query import (
    ROW_COLUMNS,
    ExampleFilter,
    ExampleRow,
    row_from_sql,
    where_clause,
)
from phi4studio.core.datasets.schema import Example


class StoreReader:
    """Read-only queries over one dataset file's connection."""

    _conn: sqlite3.Connection
    _lock: threading.RLock
    _fts: bool

    def where(self, flt: ExampleFilter | None) -> tuple[str, list[Any]]:
        """The SQL condition over `examples` (and its parameters) that selects `flt`."""
        return where_clause(flt, fts=self._fts)

    _where = where

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only query over the store's tables (for the core's own modules:
        validation, split, versions); the lock is held for the query only."""
        with self._lock:
            return self._conn.execute(sql, list(params)).fetchall()

    def positions(self, flt: ExampleFilter | None = None) -> array[int]:
        """The store positions of the (filtered) examples in dataset order, 8 bytes each: row r
        of a virtual table is one keyset page away (`page_after(flt, positions[r] - 1, n)`)
        however deep it is."""
        where, params = self._where(flt)
        out: array[int] = array("q")
        with self._lock:
            cur = self._conn.execute(
                f"SELECT pos FROM examples WHERE {where} ORDER BY pos", params)
            while rows := cur.fetchmany(4096):
                out.extend(int(r[0]) for r in rows)
        return out

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
