"""Writer: puts and removes examples inside one store transaction, logging each for undo."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.schema import (
    called_tools,
    conversation_hashes,
    data_hash,
    offered_tools,
    preview_text,
    search_text,
)

if TYPE_CHECKING:
    from phi4studio.core.datasets.store import DatasetStore

OnConflict = Literal["error", "rename", "replace", "skip"]
MAX_EVENT_IDS = 10_000  # a StoreEvent names at most this many ids (None: more, refresh all)


@dataclass
class AddResult:
    added: int = 0
    replaced: int = 0
    skipped: int = 0
    renamed: dict[str, str] | None = None  # original id -> id it was stored under


def _dumps(d: Mapping[str, Any]) -> str:
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


class Writer:
    """Puts and removes examples inside one store transaction, logging each for undo."""

    def __init__(self, store: DatasetStore, label: str, record_undo: bool) -> None:
        self.store = store
        self.label = label
        self.record_undo = record_undo
        self.op = 0
        self.count = 0
        self.result = AddResult()
        self.touched: list[str] | None = []  # ids put or removed (None: too many to keep)
        self._c = store._conn

    def event_ids(self) -> tuple[str, ...] | None:
        """The touched ids for a StoreEvent, each once (None: too many)."""
        return None if self.touched is None else tuple(dict.fromkeys(self.touched))

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
        if self.touched is not None:
            if len(self.touched) < MAX_EVENT_IDS:
                self.touched.append(ex_id)
            else:
                self.touched = None
        if self.record_undo and self.op:
            self._c.execute(
                "INSERT INTO temp.undo_rows VALUES (?, ?, ?, ?, ?, ?)",
                (self.op, self.count, ex_id, pos, before, after),
            )
