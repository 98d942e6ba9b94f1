"""Filters over a dataset store and the light rows a table shows (no example is parsed for them)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

NONE = "(none)"  # filter value meaning "not set" for scenario and split
VALIDITY_VALUES = ("ok", "warning", "error", "unchecked")


@dataclass(frozen=True)
class ExampleFilter:
    """What a table or an export shows. Empty fields do not filter.

    scenario / split: a value, or NONE for examples without one. tool: examples offering or
    calling the tool; called_tool: only those calling it. validity: ok, warning, error or
    unchecked. text: full-text search over message text and call names/arguments (every word must
    appear; the last word matches as a prefix). ids: only these example ids.
    """

    scenario: str | None = None
    split: str | None = None
    tool: str | None = None
    called_tool: str | None = None
    validity: str | None = None
    text: str | None = None
    source: str | None = None
    tag: str | None = None
    ids: tuple[str, ...] | None = None

    def is_empty(self) -> bool:
        return all(
            getattr(self, f) in (None, "", ())
            for f in ("scenario", "split", "tool", "called_tool", "validity", "text", "source",
                      "tag", "ids")
        )


@dataclass(frozen=True)
class ExampleRow:
    """One table row: what the dataset table shows without loading the example."""

    pos: int
    id: str
    scenario: str | None
    split: str | None
    source: str
    n_messages: int
    n_user_turns: int
    n_calls: int
    called_tools: list[str] = field(default_factory=list)
    preview: str = ""
    validity: str | None = None  # None: not validated since it last changed
    n_errors: int = 0
    n_warnings: int = 0


ROW_COLUMNS = (
    "pos, id, scenario, split, source, n_messages, n_user, n_calls, called, preview, validity,"
    " n_errors, n_warnings"
)


def row_from_sql(r: Any) -> ExampleRow:
    return ExampleRow(
        pos=int(r[0]), id=str(r[1]), scenario=r[2], split=r[3], source=str(r[4] or ""),
        n_messages=int(r[5]), n_user_turns=int(r[6]), n_calls=int(r[7]),
        called_tools=[t for t in str(r[8] or "").split("\x1f") if t],
        preview=str(r[9] or ""), validity=r[10], n_errors=int(r[11] or 0),
        n_warnings=int(r[12] or 0),
    )


_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """User text -> an FTS5 query: every word as a quoted phrase, the last one as a prefix."""
    words = _WORD.findall(text)
    if not words:
        return None
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def where_clause(flt: ExampleFilter | None, *, fts: bool) -> tuple[str, list[Any]]:
    """SQL condition (over the `examples` table) and its parameters."""
    if flt is None:
        return "1", []
    conds: list[str] = []
    params: list[Any] = []
    for col in ("scenario", "split"):
        val = getattr(flt, col)
        if val == NONE:
            conds.append(f"{col} IS NULL")
        elif val:
            conds.append(f"{col} = ?")
            params.append(val)
    if flt.source:
        conds.append("source = ?")
        params.append(flt.source)
    if flt.validity == "unchecked":
        conds.append("validity IS NULL")
    elif flt.validity:
        conds.append("validity = ?")
        params.append(flt.validity)
    if flt.tool:
        conds.append("pos IN (SELECT pos FROM example_tools WHERE name = ?)")
        params.append(flt.tool)
    if flt.called_tool:
        conds.append("pos IN (SELECT pos FROM example_tools WHERE name = ? AND called = 1)")
        params.append(flt.called_tool)
    if flt.tag:
        conds.append("EXISTS (SELECT 1 FROM json_each(examples.data, '$.tags') WHERE value = ?)")
        params.append(flt.tag)
    if flt.ids is not None:
        conds.append("id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(flt.ids)))
    if flt.text:
        q = fts_query(flt.text)
        if q is not None and fts:
            conds.append("pos IN (SELECT rowid FROM examples_fts WHERE examples_fts MATCH ?)")
            params.append(q)
        elif q is not None:  # no FTS5 in this SQLite: a slower substring match on each word
            for w in _WORD.findall(flt.text):
                conds.append("data LIKE ?")
                params.append(f"%{w}%")
    return (" AND ".join(conds) or "1"), params
