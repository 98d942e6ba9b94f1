"""The canonical tool-calling example, as pydantic models and as plain dicts.

    {"id": str,
     "messages": [{"role": "system"|"user"|"assistant"|"tool", "content": str,
                   "tool_calls": [{"id": str, "name": str, "arguments": {...}}],  # assistant only
                   "tool_call_id": str, "name": str}],                             # tool messages
     "tools": [{"name", "description", "inputSchema", "outputSchema"?, "annotations"?, "title"?}],
     "scenario": "single"|"multiple"|"multi_turn"|"parallel"|"missing_info_or_error"
                 |"irrelevance"|null,
     "source": str, "split": "train"|"validation"|"test"|null, "tags": [str], "notes": str}

The models check shape (types and allowed values). Meaning (does a call name an offered tool, do
its arguments fit the schema, is the role order legal) is checked by `validation.py`, so imperfect
data can be stored, shown and fixed. `to_dict()` leaves out absent optional message fields;
`from_dict()` accepts exactly what `to_dict()` writes. The shipped JSON Schema
(resources/schemas/example.schema.json) is generated from these models by `example_json_schema()`.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from phi4studio.core.datasets.errors import DatasetError

Role = Literal["system", "user", "assistant", "tool"]
Scenario = Literal[
    "single", "multiple", "multi_turn", "parallel", "missing_info_or_error", "irrelevance"
]
Split = Literal["train", "validation", "test"]

ROLES: tuple[str, ...] = get_args(Role)
SCENARIOS: tuple[str, ...] = get_args(Scenario)
SPLITS: tuple[str, ...] = get_args(Split)
SCHEMA_ID = "https://phi4studio.local/schemas/example.schema.json"


class ToolCall(BaseModel):
    """One call an assistant message makes: arguments are a JSON object, never a string."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Call id; the tool message answering it repeats it.")
    name: str = Field(description="Name of a tool in the example's `tools`.")
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="Arguments as a JSON object (not a JSON string)."
    )


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str = Field(default="", description="Message text (may be empty when calling tools).")
    tool_calls: list[ToolCall] | None = Field(
        default=None, description="Assistant messages only: the tool calls this turn makes."
    )
    tool_call_id: str | None = Field(
        default=None, description="Tool messages only: the id of the call this result answers."
    )
    name: str | None = Field(default=None, description="Tool messages only: the tool's name.")


class ToolDef(BaseModel):
    """An MCP-style tool definition. Extra MCP fields (icons, _meta, ...) are kept as they are."""

    model_config = ConfigDict(extra="allow")

    name: str
    title: str | None = None
    description: str = ""
    inputSchema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema (an object schema) of the arguments.",
    )
    outputSchema: dict[str, Any] | None = Field(
        default=None, description="Optional JSON Schema of the structured result."
    )
    annotations: dict[str, Any] | None = Field(
        default=None,
        description="Optional MCP hints: title, readOnlyHint, destructiveHint, idempotentHint, "
        "openWorldHint.",
    )


class Example(BaseModel):
    """One training conversation with the tools it offers."""

    model_config = ConfigDict(extra="forbid", title="Phi-4 Studio tool-calling example")

    id: str = Field(min_length=1)
    messages: list[Message] = Field(default_factory=list)
    tools: list[ToolDef] = Field(default_factory=list)
    scenario: Scenario | None = Field(
        default=None, description="What the example teaches; null when not yet known."
    )
    source: str = Field(default="", description="Where it came from (file, format, synthesizer).")
    split: Split | None = None
    tags: list[str] = Field(default_factory=list)
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return example_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Example:
        return example_from_dict(data)


# --- plain dicts ----------------------------------------------------------------------------


def example_to_dict(example: Example) -> dict[str, Any]:
    """The plain-dict form: absent optional message and tool fields are left out."""
    d = example.model_dump(mode="json", exclude_none=True)
    d.setdefault("scenario", None)
    d.setdefault("split", None)
    return _ordered(d)


def _ordered(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "messages", "tools", "scenario", "source", "split", "tags", "notes")
    return {k: d[k] for k in keys if k in d} | {k: v for k, v in d.items() if k not in keys}


def example_from_dict(data: Mapping[str, Any]) -> Example:
    """Parse a plain dict; a shape error becomes a DatasetError naming the field paths."""
    try:
        return Example.model_validate(data)
    except ValidationError as exc:
        raise DatasetError(describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = json_path(err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def json_path(parts: Iterable[Any]) -> str:
    """`("messages", 2, "content")` -> `$.messages[2].content`."""
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif isinstance(p, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p):
            out += f".{p}"
        else:
            out += f"[{json.dumps(str(p), ensure_ascii=False)}]"
    return out


# --- JSON Schema ----------------------------------------------------------------------------


def example_json_schema() -> dict[str, Any]:
    """The canonical example's JSON Schema (Draft 2020-12), generated from the models."""
    schema = Example.model_json_schema(mode="serialization")
    head = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Phi-4 Studio tool-calling example",
        "description": (
            "One training conversation (system/user/assistant/tool messages, assistant tool calls "
            "with arguments as JSON objects) with the MCP-style tools it offers. Documented in "
            "docs/datasets.md."
        ),
    }
    schema.pop("title", None)
    schema.pop("description", None)
    return head | schema


def example_schema_text() -> str:
    return json.dumps(example_json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_example_schema(path: Any) -> None:
    """Regenerate resources/schemas/example.schema.json (run after changing the models)."""
    from phi4studio.core.fileio import atomic_write_text

    atomic_write_text(path, example_schema_text())


# --- facts derived from an example (stored as columns, used by filters and dedupe) -----------


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def data_hash(d: Mapping[str, Any]) -> str:
    """Hash of the whole example dict: tells whether an example changed between versions."""
    return hashlib.blake2b(canonical_json(d).encode(), digest_size=16).hexdigest()


_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Lower case, accents folded, punctuation dropped, whitespace collapsed."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _SPACE.sub(" ", _PUNCT.sub(" ", text.casefold())).strip()


def conversation_hashes(d: Mapping[str, Any]) -> tuple[str, str]:
    """(exact, normalized) hashes of the conversation without system messages.

    Exact: the non-system messages as they are. Normalized: their text through
    `normalize_text` and the calls' names and arguments, so re-spaced or re-cased copies of the
    same conversation share it (used for near-duplicate reports and leak-free splits).
    """
    exact: list[Any] = []
    norm: list[Any] = []
    for m in d.get("messages") or []:
        if not isinstance(m, Mapping) or m.get("role") == "system":
            continue
        exact.append(m)
        calls = [
            [c.get("name"), c.get("arguments")]
            for c in (m.get("tool_calls") or [])
            if isinstance(c, Mapping)
        ]
        norm.append([m.get("role"), normalize_text(str(m.get("content") or "")), calls])
    h1 = hashlib.blake2b(canonical_json(exact).encode(), digest_size=16).hexdigest()
    h2 = hashlib.blake2b(canonical_json(norm).encode(), digest_size=16).hexdigest()
    return h1, h2


def search_text(d: Mapping[str, Any]) -> str:
    """The text full-text search sees: message contents, tool call names and argument values."""
    parts: list[str] = []
    for m in d.get("messages") or []:
        if not isinstance(m, Mapping):
            continue
        if m.get("content"):
            parts.append(str(m["content"]))
        for c in m.get("tool_calls") or []:
            if isinstance(c, Mapping):
                parts.append(str(c.get("name", "")))
                parts.append(canonical_json(c.get("arguments", {})))
    return "\n".join(parts)


def called_tools(d: Mapping[str, Any]) -> list[str]:
    """Names of the tools the assistant calls, in first-call order, without repeats."""
    seen: dict[str, None] = {}
    for m in d.get("messages") or []:
        if isinstance(m, Mapping):
            for c in m.get("tool_calls") or []:
                if isinstance(c, Mapping) and isinstance(c.get("name"), str):
                    seen.setdefault(c["name"], None)
    return list(seen)


def offered_tools(d: Mapping[str, Any]) -> list[str]:
    return [
        str(t["name"])
        for t in d.get("tools") or []
        if isinstance(t, Mapping) and isinstance(t.get("name"), str)
    ]


def preview_text(d: Mapping[str, Any], limit: int = 160) -> str:
    """The first user message, on one line, cut to `limit` characters (for table rows)."""
    for m in d.get("messages") or []:
        if isinstance(m, Mapping) and m.get("role") == "user":
            text = _SPACE.sub(" ", str(m.get("content") or "")).strip()
            return text if len(text) <= limit else text[: limit - 1] + "…"
    return ""
