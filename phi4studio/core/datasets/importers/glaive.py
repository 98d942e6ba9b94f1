"""Glaive function-calling v2: a `system` string listing functions and a `chat` transcript.

    {"system": "SYSTEM: You are a helpful assistant with access to the following functions.
                Use them if required -\\n{\\"name\\": \\"get_news\\", \\"parameters\\": {...}}",
     "chat": "USER: Any news?\\n\\n\\nASSISTANT: <functioncall> {\\"name\\": \\"get_news\\",
              \\"arguments\\": '{\\"country\\": \\"US\\"}'} <|endoftext|>\\n\\n\\n
              FUNCTION RESPONSE: {...}\\n\\n\\nASSISTANT: Here is the news ... <|endoftext|>"}

The `arguments` of a <functioncall> are a single-quoted JSON string (not valid JSON as a whole),
so the call is taken apart with patterns rather than parsed in one go.
"""

from __future__ import annotations

import json
import re
from typing import Any

from phi4studio.core.datasets.importers.common import (
    ParseContext,
    RecordError,
    call_id,
    decode_json_objects,
    parse_arguments,
    tool_from_function,
)

EXPECTED = 'an object with "chat": "USER: ... ASSISTANT: ..." and a "system" string'

_TURN = re.compile(r"(?:^|\n)[ \t]*(SYSTEM|USER|ASSISTANT|FUNCTION RESPONSE):[ \t]?")
_END = "<|endoftext|>"
_NAME = re.compile(r'"name"\s*:\s*"([^"]+)"')
_ARGS_QUOTED = re.compile(r""""arguments"\s*:\s*'(.*)'\s*}?\s*$""", re.S)
_ARGS_OBJECT = re.compile(r'"arguments"\s*:\s*(\{.*\})\s*}\s*$', re.S)


def detect(rec: Any) -> bool:
    return (
        isinstance(rec, dict)
        and isinstance(rec.get("chat"), str)
        and ("USER:" in rec["chat"] or "ASSISTANT:" in rec["chat"])
    )


def parse_system(text: str) -> tuple[str, list[dict[str, Any]]]:
    """(the system prompt's sentence, the function definitions that follow it)."""
    text = re.sub(r"^\s*SYSTEM:\s*", "", text)
    brace = text.find("{")
    head = (text[:brace] if brace >= 0 else text).strip()
    tools = []
    if brace >= 0:
        for i, obj in enumerate(decode_json_objects(text[brace:])):
            tools.append(tool_from_function(obj, f"function {i + 1} in the system prompt"))
        if not tools:
            raise RecordError("the system prompt lists functions that are not valid JSON")
    return head, tools


def parse_functioncall(text: str, where: str) -> tuple[str, dict[str, Any]]:
    body = text.replace(_END, "").strip()
    try:
        obj = json.loads(body)
        if isinstance(obj, dict) and isinstance(obj.get("name"), str):
            return obj["name"], parse_arguments(obj.get("arguments"), where)
    except json.JSONDecodeError:
        pass
    name = _NAME.search(body)
    if name is None:
        raise RecordError(f"{where}: no function name in {body[:80]!r}")
    m = _ARGS_QUOTED.search(body) or _ARGS_OBJECT.search(body)
    if m is None:
        if '"arguments"' in body:
            raise RecordError(f"{where}: cannot read the arguments of {name.group(1)!r}")
        return name.group(1), {}
    return name.group(1), parse_arguments(m.group(1), where)


def parse(rec: Any, ctx: ParseContext) -> dict[str, Any]:
    if not detect(rec):
        raise RecordError(f"expected {EXPECTED}")
    messages: list[dict[str, Any]] = []
    tools: list[dict[str, Any]] = []
    if isinstance(rec.get("system"), str):
        head, tools = parse_system(rec["system"])
        if head:
            messages.append({"role": "system", "content": head})
    chat = rec["chat"]
    parts = _TURN.split(chat)
    if parts[0].strip():
        raise RecordError(f"the chat does not start with USER: ({parts[0].strip()[:40]!r})")
    pending: list[tuple[str, str]] = []
    n_calls = 0
    for k in range(1, len(parts), 2):
        who, text = parts[k], parts[k + 1].replace(_END, "").strip()
        turn = (k + 1) // 2
        if who == "USER":
            messages.append({"role": "user", "content": text})
        elif who == "SYSTEM":
            messages.append({"role": "system", "content": text})
        elif who == "ASSISTANT":
            idx = text.find("<functioncall>")
            if idx < 0:
                messages.append({"role": "assistant", "content": text})
                continue
            name, args = parse_functioncall(
                text[idx + len("<functioncall>"):], f"turn {turn} (<functioncall>)"
            )
            n_calls += 1
            cid = call_id(n_calls)
            pending.append((cid, name))
            messages.append({
                "role": "assistant",
                "content": text[:idx].strip(),
                "tool_calls": [{"id": cid, "name": name, "arguments": args}],
            })
        else:  # FUNCTION RESPONSE
            if not pending:
                raise RecordError(f"turn {turn} is a FUNCTION RESPONSE that answers no call")
            cid, name = pending.pop(0)
            messages.append({"role": "tool", "content": text, "tool_call_id": cid, "name": name})
    if not messages:
        raise RecordError("the chat holds no turns")
    return {"id": ctx.default_id(rec), "messages": messages, "tools": tools, "source": ctx.source}
