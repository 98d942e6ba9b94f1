"""OpenAI chat JSONL (`messages` + `tools`, arguments as JSON strings), the same layout nested as
`{"conversations": [{"role", "content"}, ...]}`, TRL conversational rows, and canonical JSONL.

    {"messages": [{"role": "user", "content": "..."},
                  {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
                   "type": "function", "function": {"name": "f", "arguments": "{\\"a\\": 1}"}}]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "..."}],
     "tools": [{"type": "function", "function": {"name", "description", "parameters"}}]}

Legacy `function_call` / `functions` / role `function` are read too.
"""

from __future__ import annotations

from typing import Any

from phi4studio.core.datasets.importers.common import (
    ParseContext,
    RecordError,
    call_id,
    content_text,
    parse_arguments,
    tools_from_list,
)
from phi4studio.core.datasets.schema import SCENARIOS, SPLITS, Example

EXPECTED = 'an object with "messages": [{"role", "content"}, ...] and optional "tools"'
NESTED_EXPECTED = 'an object with "conversations": [{"role", "content"}, ...]'
CANONICAL_EXPECTED = "a canonical example (see resources/schemas/example.schema.json)"

_ROLE_ALIASES = {"human": "user", "developer": "system", "model": "assistant", "gpt": "assistant"}


def _role_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and "role" in m for m in value)
    )


def detect_canonical(rec: Any) -> bool:
    if not isinstance(rec, dict) or "id" not in rec or "messages" not in rec:
        return False
    try:
        Example.model_validate(rec)
    except ValueError:
        return False
    return True


def detect(rec: Any) -> bool:
    return isinstance(rec, dict) and _role_messages(rec.get("messages"))


def detect_nested(rec: Any) -> bool:
    return isinstance(rec, dict) and _role_messages(rec.get("conversations"))


def parse_canonical(rec: Any, ctx: ParseContext) -> dict[str, Any]:
    return Example.model_validate(rec).to_dict()


def parse_nested(rec: Any, ctx: ParseContext) -> dict[str, Any]:
    return parse({**rec, "messages": rec["conversations"]}, ctx)


def parse(rec: Any, ctx: ParseContext) -> dict[str, Any]:
    if not isinstance(rec, dict) or not isinstance(rec.get("messages"), list):
        raise RecordError(f"expected {EXPECTED}")
    tools = tools_from_list(rec.get("tools"), "tools") + tools_from_list(
        rec.get("functions"), "functions"
    )
    messages: list[dict[str, Any]] = []
    pending: list[tuple[str, str]] = []  # (call id, name) without a result yet, oldest first
    n_calls = 0
    for i, m in enumerate(rec["messages"]):
        if not isinstance(m, dict):
            raise RecordError(f"messages[{i}] is not an object")
        role = _ROLE_ALIASES.get(str(m.get("role")), str(m.get("role")))
        text = content_text(m.get("content"))
        if role == "assistant":
            calls = []
            raw_calls = list(m.get("tool_calls") or [])
            if isinstance(m.get("function_call"), dict):
                raw_calls.append({"function": m["function_call"]})
            for j, c in enumerate(raw_calls):
                where = f"messages[{i}].tool_calls[{j}]"
                if not isinstance(c, dict):
                    raise RecordError(f"{where} is not an object")
                fn: dict[str, Any] = c["function"] if isinstance(c.get("function"), dict) else c
                name = fn.get("name")
                if not isinstance(name, str) or not name:
                    raise RecordError(f"{where} has no function name")
                n_calls += 1
                cid = str(c.get("id") or call_id(n_calls))
                args = parse_arguments(fn.get("arguments"), where)
                calls.append({"id": cid, "name": name, "arguments": args})
                pending.append((cid, name))
            msg: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                msg["tool_calls"] = calls
            messages.append(msg)
        elif role in ("tool", "function"):
            rid: Any = m.get("tool_call_id")
            rname: Any = m.get("name")
            if not rid:  # legacy `function` role, or a result without an id: oldest open call
                match = next((p for p in pending if rname is None or p[1] == rname), None)
                if match is None:
                    raise RecordError(f"messages[{i}] is a tool result that answers no call")
                rid, rname = match
            pending = [p for p in pending if p[0] != rid]
            msg = {"role": "tool", "content": text, "tool_call_id": str(rid)}
            if not rname:
                rname = next((n for c, n in _calls(messages) if c == rid), None)
            if rname:
                msg["name"] = str(rname)
            messages.append(msg)
        elif role in ("system", "user"):
            messages.append({"role": role, "content": text})
        else:
            raise RecordError(f"messages[{i}] has an unknown role {m.get('role')!r}")
    out: dict[str, Any] = {
        "id": ctx.default_id(rec),
        "messages": messages,
        "tools": tools,
        "source": ctx.source,
    }
    _copy_known(rec, out)
    return out


def _calls(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["id"], c["name"]) for m in messages for c in m.get("tool_calls", [])]


def _copy_known(rec: dict[str, Any], out: dict[str, Any]) -> None:
    """Keep scenario / split / tags / notes when a record carries valid ones."""
    if rec.get("scenario") in SCENARIOS:
        out["scenario"] = rec["scenario"]
    if rec.get("split") in SPLITS:
        out["split"] = rec["split"]
    if isinstance(rec.get("tags"), list):
        out["tags"] = [str(t) for t in rec["tags"]]
    if isinstance(rec.get("notes"), str):
        out["notes"] = rec["notes"]
