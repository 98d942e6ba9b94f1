"""Tool results that answer the call that was made: generated from the call's arguments and the
tool's outputSchema (or, without one, its name and description), deterministic per seed.

A search for "how to repot a monstera" gets results about repotting a monstera (titles, links and
snippets made from the query), a fetched page is titled after its address, a file read returns
text about that file with its real size, a SQL query returns the columns it selects and as many
rows as it says, calendar events fall inside the days asked for, a write reports the bytes it
wrote. Whatever is changed is checked against the outputSchema again; a value that would break
the schema is left as sampled.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Mapping
from typing import Any

from phi4studio.core.datasets.synthesis.values import ValueSampler

_TOPIC_KEYS = ("query", "q", "search", "search_query", "topic", "question", "keywords",
               "keyword", "term", "prompt", "title", "name", "subject", "url", "path",
               "file_path", "city", "location")
_SEARCH = re.compile(r"search|find|lookup|look up|query the web|browse", re.I)
_TITLE_FIELDS = {"title", "headline", "name", "page_title"}
_TEXT_FIELDS = {"snippet", "summary", "description", "text", "content", "excerpt", "abstract",
                "body", "answer"}
_URL_FIELDS = {"url", "link", "href", "source_url"}
_SITES = ("example.com", "docs.example.org", "wiki.example.org", "news.example.net",
          "forum.example.com")
_TITLE_TEMPLATES = ("{T}: a practical guide", "{T} - what you need to know",
                    "{T}, explained", "Ask the community: {t}", "{T} (step by step)")
_SNIPPET_TEMPLATES = ("A clear walkthrough of {t}, with tips and common mistakes to avoid.",
                      "Everything about {t}: the basics first, then the details.",
                      "Readers share what worked for them on {t}.",
                      "An up-to-date overview of {t}, with sources.")


def topic_of(args: Mapping[str, Any]) -> str | None:
    """What a call is about, in words: its query, name, title, address or path."""
    for key in _TOPIC_KEYS:
        v = args.get(key)
        if isinstance(v, str) and v.strip():
            return _words_of(v) if key in ("url", "path", "file_path") else v.strip()
    for v in args.values():
        if isinstance(v, str) and 2 <= len(v) <= 120 and not _NOT_TOPIC.match(v):
            return v.strip()
    return None


_NOT_TOPIC = re.compile(r"^\s*(\d[\d\-:T.Z+ ]*|[^@\s]+@[^@\s]+|[A-Z]+)\s*$")


def _words_of(address: str) -> str:
    """`https://example.com/blog/launch-notes` -> `launch notes`; `/a/todo_list.md` -> `todo
    list`."""
    tail = re.sub(r"[?#].*$", "", address).rstrip("/").rsplit("/", 1)[-1]
    tail = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", tail)
    words = re.sub(r"[-_.+%]+", " ", tail).strip()
    return words or re.sub(r"^https?://", "", address).split("/")[0]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "page"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class ContextSampler(ValueSampler):
    """A ValueSampler whose titles, texts and links are about the call's topic."""

    def __init__(self, rng: random.Random, root: Mapping[str, Any], topic: str | None,
                 **kw: Any) -> None:
        super().__init__(rng, root=root, **kw)
        self.topic = topic

    def sample(self, schema: Any, name: str = "", depth: int = 0) -> Any:
        key = name.lower()
        if self.topic and isinstance(schema, Mapping) and _stringish(schema) \
                and "enum" not in schema and "const" not in schema and "pattern" not in schema:
            t = self.topic
            if key in _URL_FIELDS or schema.get("format") in ("uri", "url"):
                return f"https://{self.rng.choice(_SITES)}/{_slug(t)}"
            if key in _TITLE_FIELDS:
                return self.rng.choice(_TITLE_TEMPLATES).format(T=_cap(t), t=t)
            if key in _TEXT_FIELDS:
                return self.rng.choice(_SNIPPET_TEMPLATES).format(t=t)
        if self.topic and isinstance(schema, Mapping) and "examples" in schema \
                and "properties" in schema:  # canned objects: build one about the topic
            schema = {k: v for k, v in schema.items() if k != "examples"}
        return super().sample(schema, name, depth)


def _stringish(schema: Mapping[str, Any]) -> bool:
    t = schema.get("type")
    return t == "string" or (isinstance(t, list) and "string" in t) or (
        t is None and "properties" not in schema and "items" not in schema)


def result_without_schema(tool: Mapping[str, Any], args: Mapping[str, Any],
                          rng: random.Random) -> Any:
    """A plausible result for a tool that declares no outputSchema."""
    topic = topic_of(args)
    about = f"{tool.get('name', '')} {tool.get('description', '')}"
    if topic and _SEARCH.search(about):
        n = rng.randint(1, 3)
        sampler = ContextSampler(rng, {}, topic)
        item = {"type": "object", "properties": {"title": {"type": "string"},
                                                 "url": {"type": "string"},
                                                 "snippet": {"type": "string"}}}
        return {"results": [sampler.object(item, include_all=True) for _ in range(n)]}
    out: dict[str, Any] = {"status": "ok"}
    for k, v in list(args.items())[:3]:
        if isinstance(v, (str, int, float, bool)):
            out[k] = v
    return out


def fit_to_call(tool: Mapping[str, Any], args: Mapping[str, Any], result: Any) -> Any:
    """Make the parts of a result that follow from the call agree with it (in place)."""
    if not isinstance(result, dict):
        return result
    sql = args.get("sql") or args.get("query")
    if isinstance(sql, str) and isinstance(result.get("columns"), list):
        _fit_sql(sql, result)
    content = args.get("content") if isinstance(args.get("content"), str) else None
    for key in ("bytes_written", "bytes", "size"):
        if content is not None and isinstance(result.get(key), int):
            result[key] = len(content.encode("utf-8"))
    path = args.get("path") or args.get("file_path")
    if isinstance(path, str) and isinstance(result.get("content"), str) and content is None:
        result["content"] = _file_text(path)
        for key in ("size_bytes", "size", "bytes"):
            if isinstance(result.get(key), int):
                result[key] = len(result["content"].encode("utf-8"))
    _fit_dates(args, result)
    return result


def _fit_sql(sql: str, result: dict[str, Any]) -> None:
    m = re.match(r"\s*SELECT\s+(.*?)\s+FROM\s", sql, re.I | re.S)
    if not m or m.group(1).strip() == "*":
        return
    cols = []
    for part in _split_top(m.group(1)):
        alias = re.search(r"\bAS\s+(\w+)\s*$", part, re.I)
        name = alias.group(1) if alias else re.sub(r".*\.", "", part.strip())
        cols.append(re.sub(r"\W+", "_", name).strip("_").lower() or "value")
    n_cols = len(result["columns"])
    if len(cols) != n_cols:  # the schema fixes the width: pad with where the rows come from
        cols = (cols + ["source"] * n_cols)[:n_cols]
    found = re.search(r"\bFROM\s+(\w+)", sql, re.I)
    table = found.group(1) if found else "query"
    result["columns"] = cols
    rows = result.get("rows")
    if isinstance(rows, list) and rows and re.match(r"\s*SELECT\s+(COUNT|SUM|AVG|MIN|MAX)\s*\(",
                                                   sql, re.I) and "GROUP BY" not in sql.upper():
        rows = rows[:1]  # one aggregate, one row
    if isinstance(rows, list):
        fixed = dict(re.findall(r"\b(\w+)\s*=\s*'([^']*)'", sql))
        result["rows"] = [[fixed.get(c, _cell(c, r, table)) for c in cols]
                          for r in range(len(rows))]
        if isinstance(result.get("row_count"), int):
            result["row_count"] = len(rows)


_CELLS: dict[str, tuple[Any, ...]] = {
    "region": ("EMEA", "North America", "APAC", "LATAM"),
    "name": ("desk lamp", "usb-c hub", "standing desk", "espresso machine"),
    "status": ("delayed", "shipped", "pending", "delivered"),
    "department": ("Engineering", "Support", "Sales", "Finance"),
    "city": ("Lisbon", "Toronto", "Nairobi", "Osaka"),
    "email": ("ana.ribeiro@example.com", "kenji.w@example.org", "amara@example.org"),
}


def _cell(column: str, row: int, table: str) -> Any:
    """A value that fits a column's name (ids count up, amounts are numbers)."""
    c = column.lower()
    if c == "source":
        return table
    for key, values in _CELLS.items():
        if key in c:
            return values[row % len(values)]
    if c == "id" or c.endswith("_id"):
        return 1040 + row * 7
    if any(k in c for k in ("revenue", "total", "amount", "price", "salary", "sum")):
        return [98500, 61200, 43750, 12990][row % 4]
    if any(k in c for k in ("count", "stock", "qty", "quantity", "number")):
        return [4, 7, 2, 9][row % 4]
    return f"{column} {row + 1}"


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def _file_text(path: str) -> str:
    words = _words_of(path)
    title = _cap(words)
    if path.endswith((".md", ".txt")):
        return f"# {title}\n\n- first item about {words}\n- second item\n- follow up next week\n"
    if path.endswith(".py"):
        return f'"""{title}."""\n\n\ndef main() -> None:\n    print("{words}")\n'
    if path.endswith(".csv"):
        return f"item,count\n{words},3\nother,5\n"
    if path.endswith(".json"):
        return f'{{"name": "{words}", "version": 1}}\n'
    return f"{title}\n\nNotes about {words}.\n"


def _fit_dates(args: Mapping[str, Any], result: dict[str, Any]) -> None:
    start = _date(args.get("start_date") or args.get("date") or args.get("from"))
    if start is None:
        return
    end = _date(args.get("end_date") or args.get("to")) or start
    if end < start:
        start, end = end, start
    span = (end - start).days
    for items in result.values():
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("start"), str):
                day = start + dt.timedelta(days=(i * 2) % (span + 1))
                item["start"] = day.isoformat() + item["start"][10:]


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
