"""Named versions of a dataset: snapshots with counts of what changed, and restore.

A version stores (example id, position, content hash) per example; the contents live once in
`blobs` (keyed by hash), so a version of a 100k-example dataset where ten examples changed costs
100k small rows and ten new blobs. Restoring a version is one undoable edit that touches only
the examples that differ.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from phi4studio.core.datasets.errors import DatasetError

if TYPE_CHECKING:
    from phi4studio.core.datasets.store import DatasetStore

CURRENT = 0  # pseudo version id: the dataset as it is now


@dataclass(frozen=True)
class Diff:
    added: int
    changed: int
    removed: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    @property
    def total(self) -> int:
        return self.added + self.changed + self.removed

    def summary(self) -> str:
        if self.empty:
            return "no changes"
        return f"{self.added} added, {self.changed} changed, {self.removed} removed"


@dataclass(frozen=True)
class VersionInfo:
    id: int
    name: str
    note: str
    created_at: float
    n_examples: int
    added: int  # vs the previous version (everything counts as added for the first one)
    changed: int
    removed: int


def _source(version: int) -> str:
    """A subquery of (id, data_hash) rows for a version, or for the current examples."""
    if version == CURRENT:
        return "SELECT id, data_hash FROM examples"
    return f"SELECT id, data_hash FROM version_rows WHERE version = {int(version)}"


class Versions:
    def __init__(self, store: DatasetStore) -> None:
        self._store = store

    def list(self) -> list[VersionInfo]:
        with self._store._lock:
            rows = self._store._conn.execute(
                "SELECT id, name, note, created_at, n_examples, added, changed, removed "
                "FROM versions ORDER BY id"
            ).fetchall()
        return [VersionInfo(*r) for r in rows]

    def get(self, version_id: int) -> VersionInfo:
        for v in self.list():
            if v.id == version_id:
                return v
        raise DatasetError(f"No version {version_id} in {self._store.name}.")

    def latest(self) -> VersionInfo | None:
        vs = self.list()
        return vs[-1] if vs else None

    def diff(self, old: int, new: int = CURRENT) -> Diff:
        """What changed from version `old` to version `new` (CURRENT: the dataset now)."""
        a, b = _source(old), _source(new)
        sql = f"""
            WITH a AS ({a}), b AS ({b})
            SELECT
              (SELECT COUNT(*) FROM b WHERE id NOT IN (SELECT id FROM a)),
              (SELECT COUNT(*) FROM a JOIN b ON a.id = b.id WHERE a.data_hash != b.data_hash),
              (SELECT COUNT(*) FROM a WHERE id NOT IN (SELECT id FROM b))
        """
        with self._store._lock:
            r = self._store._conn.execute(sql).fetchone()
        return Diff(int(r[0]), int(r[1]), int(r[2]))

    def changes_since_latest(self) -> Diff:
        """Unsaved work: the dataset now against its latest version (all added if none)."""
        latest = self.latest()
        if latest is None:
            return Diff(self._store.count(), 0, 0)
        return self.diff(latest.id, CURRENT)

    def create(self, name: str, note: str = "") -> VersionInfo:
        name = name.strip()
        if not name:
            raise DatasetError("A version needs a name.")
        s = self._store
        with s._lock, s._tx():
            c = s._conn
            prev = self.latest()
            d = self.diff(prev.id, CURRENT) if prev else Diff(s.count(), 0, 0)
            cur = c.execute(
                "INSERT INTO versions (name, note, created_at, n_examples, added, changed, removed)"
                " VALUES (?, ?, ?, (SELECT COUNT(*) FROM examples), ?, ?, ?)",
                (name, note, time.time(), d.added, d.changed, d.removed),
            )
            vid = int(cur.lastrowid or 0)
            c.execute("INSERT OR IGNORE INTO blobs SELECT data_hash, data FROM examples")
            c.execute(
                "INSERT INTO version_rows SELECT ?, id, pos, data_hash FROM examples", (vid,)
            )
        return self.get(vid)

    def restore(self, version_id: int, *, label: str | None = None,
                cancelled: Callable[[], bool] | None = None) -> Diff:
        """Make the dataset equal to the version again (one undoable edit, `label` in the undo
        history). Returns what it changed: added/removed/changed examples."""
        v = self.get(version_id)
        s = self._store
        d = self.diff(CURRENT, version_id)
        with s.writer(label or f"Restore version {v.name!r}") as w:
            c = s._conn
            gone = [
                str(r[0])
                for r in c.execute(
                    "SELECT id FROM examples WHERE id NOT IN "
                    "(SELECT id FROM version_rows WHERE version = ?)",
                    (version_id,),
                ).fetchall()
            ]
            for ex_id in gone:
                w.remove(ex_id)
            # Collect first: the examples table changes under the loop below.
            todo = c.execute(
                "SELECT r.pos, r.data_hash FROM version_rows r LEFT JOIN examples e ON e.id = r.id "
                "WHERE r.version = ? AND (e.id IS NULL OR e.data_hash != r.data_hash) "
                "ORDER BY r.pos",
                (version_id,),
            ).fetchall()
            for i, (pos, h) in enumerate(todo):
                if cancelled is not None and i % 500 == 0 and cancelled():
                    from phi4studio.core.jobs.model import JobCancelled

                    raise JobCancelled()
                data = c.execute("SELECT data FROM blobs WHERE hash = ?", (h,)).fetchone()[0]
                w.put(json.loads(data), pos=int(pos))
        return d

    def delete(self, version_id: int) -> None:
        self.get(version_id)
        s = self._store
        with s._lock, s._tx():
            c = s._conn
            c.execute("DELETE FROM version_rows WHERE version = ?", (version_id,))
            c.execute("DELETE FROM versions WHERE id = ?", (version_id,))
            c.execute("DELETE FROM blobs WHERE hash NOT IN (SELECT data_hash FROM version_rows)")

    def rename(self, version_id: int, name: str, note: str | None = None) -> None:
        self.get(version_id)
        s = self._store
        with s._lock, s._tx():
            s._conn.execute("UPDATE versions SET name = ? WHERE id = ?", (name, version_id))
            if note is not None:
                s._conn.execute("UPDATE versions SET note = ? WHERE id = ?", (note, version_id))
