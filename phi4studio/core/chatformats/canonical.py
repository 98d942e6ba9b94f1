"""Reading canonical examples (plain dicts, any Mapping, or pydantic models of the same shape)
into normalised messages and tools, and writing tools and calls in the shapes templates expect.

Canonical shape (docs/datasets.md):
    {"messages": [{"role", "content", "tool_calls": [{"id", "name", "arguments": {...}}],
                   "tool_call_id", "name"}],
     "tools": [{"name", "description", "inputSchema", "outputSchema"?, "annotations"?}]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant", "tool")
EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class Message:
    role: str
    content: str = ""
    tool_calls: tuple[Call, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=lambda: dict(EMPTY_OBJECT_SCHEMA))


def as_mapping(obj: Any) -> Mapping[str, Any]:
    """A Mapping view of a dict-like or pydantic object (by alias, so `inputSchema` stays)."""
    if isinstance(obj, Mapping):
        return obj
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        data = dump(by_alias=True)
        if isinstance(data, Mapping):
            return data
    raise TypeError(f"expected a mapping or a pydantic model, got {type(obj).__name__}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content blocks: keep their text
        parts = [
            str(b.get("text", "")) for b in value if isinstance(b, Mapping) and "text" in b
        ]
        if len(parts) == len(value):
            return "".join(parts)
    return json.dumps(value, ensure_ascii=False)


def _arguments(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as exc:
            raise ValueError(f"tool-call arguments are not JSON: {value[:60]!r}") from exc
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"tool-call arguments must be a JSON object, got {type(value).__name__}")
    return dict(value)


def read_call(obj: Any) -> Call:
    m = as_mapping(obj)
    fn = m.get("function")
    if isinstance(fn, Mapping):  # OpenAI shape, accepted for convenience
        return Call(str(fn.get("name", "")), _arguments(fn.get("arguments")), m.get("id"))
    return Call(str(m.get("name", "")), _arguments(m.get("arguments")), m.get("id"))


def read_message(obj: Any) -> Message:
    m = as_mapping(obj)
    role = str(m.get("role", ""))
    if role not in ROLES:
        raise ValueError(f"unknown message role {role!r} (expected one of {', '.join(ROLES)})")
    calls = tuple(read_call(c) for c in (m.get("tool_calls") or ()))
    return Message(
        role=role,
        content=_text(m.get("content")),
        tool_calls=calls,
        tool_call_id=m.get("tool_call_id"),
        name=m.get("name"),
    )


def read_tool(obj: Any) -> Tool:
    m = as_mapping(obj)
    fn = m.get("function")
    if m.get("type") == "function" and isinstance(fn, Mapping):  # OpenAI shape
        m = fn
    schema = m.get("inputSchema", m.get("input_schema", m.get("parameters")))
    if not isinstance(schema, Mapping):
        schema = EMPTY_OBJECT_SCHEMA
    return Tool(str(m.get("name", "")), str(m.get("description") or ""), dict(schema))


def read_messages(messages: Iterable[Any]) -> list[Message]:
    return [read_message(m) for m in messages]


def read_tools(tools: Iterable[Any] | None) -> list[Tool]:
    return [read_tool(t) for t in (tools or ())]


def read_example(example: Any) -> tuple[list[Message], list[Tool]]:
    m = as_mapping(example)
    return read_messages(m.get("messages") or ()), read_tools(m.get("tools"))


def tool_name_for(messages: list[Message], index: int) -> str | None:
    """The name of the tool a tool message answers: its own `name`, else its call's name."""
    msg = messages[index]
    if msg.name:
        return msg.name
    for prev in reversed(messages[:index]):
        for call in prev.tool_calls:
            if msg.tool_call_id is not None and call.id == msg.tool_call_id:
                return call.name
    return None


# --- shapes for templates ------------------------------------------------------------------


def function_tool(tool: Tool) -> dict[str, Any]:
    """`{"name", "description", "parameters"}`: the function definition models were trained on."""
    return {"name": tool.name, "description": tool.description, "parameters": tool.input_schema}


def openai_tool(tool: Tool) -> dict[str, Any]:
    """`{"type": "function", "function": {...}}`, what HF templates expect in `tools=`."""
    return {"type": "function", "function": function_tool(tool)}


def call_json(calls: Iterable[Call]) -> str:
    """A JSON array of `{"name", "arguments"}` objects (json.dumps defaults, non-ASCII kept)."""
    return json.dumps(
        [{"name": c.name, "arguments": c.arguments} for c in calls], ensure_ascii=False
    )


def hf_message(msg: Message) -> dict[str, Any]:
    """A message as HF chat templates read it (OpenAI-style tool calls, no None values)."""
    out: dict[str, Any] = {"role": msg.role, "content": msg.content}
    if msg.tool_calls:
        out["tool_calls"] = [
            {
                "type": "function",
                **({"id": c.id} if c.id is not None else {}),
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in msg.tool_calls
        ]
    if msg.tool_call_id is not None:
        out["tool_call_id"] = msg.tool_call_id
    if msg.name is not None:
        out["name"] = msg.name
    return out
