"""ShareGPT / Hermes function calling: `conversations` of {from, value} turns.

    {"conversations": [
      {"from": "system", "value": "... <tools>[{...function...}]</tools> ..."},
      {"from": "human", "value": "What is AAPL at?"},
      {"from": "gpt", "value": "<tool_call>\\n{'arguments': {'symbol': 'AAPL'},
                                            'name': 'get_stock_price'}\\n</tool_call>"},
      {"from": "tool", "value": "<tool_response>\\n{\\"name\\": \\"get_stock_price\\",
                                                \\"content\\": {...}}\\n</tool_response>"},
      {"from": "gpt", "value": "AAPL trades at $150.75."}]}

Tools may also come as a top-level `tools` value (a JSON string or list). The LLaMA-Factory
variant (`function_call` and `observation` turns) is read as well. Hermes data often writes Python
literals (single quotes) instead of JSON; both are accepted. Calls get ids call_1, call_2, ...
and results are matched to open calls by tool name, else in order.
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
    loads_lenient,
    parse_arguments,
    tools_from_list,
)
from phi4studio.core.datasets.importers.openai import _copy_known

EXPECTED = 'an object with "conversations": [{"from", "value"}, ...]'

# The system prompt the Hermes exporter writes after the example's own system text. On import
# everything from its first sentence on is dropped: the tools are kept as `tools` instead.
HERMES_PREAMBLE = "You are a function calling AI model."
HERMES_SYSTEM = (
    HERMES_PREAMBLE + " You are provided with function signatures within <tools></tools> XML "
    "tags. You may call one or more functions to assist with the user query. Don't make "
    "assumptions about what values to plug into functions. Here are the available tools: "
    "<tools>{tools}</tools>\nFor each function call return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags as follows:\n<tool_call>\n"
    '{{"name": <function-name>, "arguments": <args-dict>}}\n</tool_call>'
)

_TOOLS = re.compile(r"<tools>(.*?)</tools>", re.S)
_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
_RESPONSE = re.compile(r"<tool_response>(.*?)(?:</tool_response>|$)", re.S)
_ROLES = {
    "system": "system", "human": "user", "user": "user", "gpt": "assistant",
    "assistant": "assistant", "tool": "tool", "function_call": "function_call",
    "observation": "tool", "function": "tool", "ipython": "tool",
}


def detect(rec: Any) -> bool:
    conv = rec.get("conversations") if isinstance(rec, dict) else None
    return (
        isinstance(conv, list)
        and bool(conv)
        and all(isinstance(t, dict) and "from" in t and "value" in t for t in conv)
    )


def parse_tools_block(text: str) -> list[dict[str, Any]]:
    """Tool definitions inside <tools>...</tools>: a JSON list, or objects one after another."""
    text = text.strip()
    if not text:
        return []
    try:
        value = loads_lenient(text, "the <tools> block")
    except RecordError:
        value = decode_json_objects(text)
        if not value:
            raise
    return tools_from_list(value if isinstance(value, list) else [value], "the <tools> block")


def split_system(text: str) -> tuple[str, list[dict[str, Any]]]:
    """(system text without the tool-calling instructions, tools defined in it)."""
    tools: list[dict[str, Any]] = []
    for m in _TOOLS.finditer(text):
        tools += parse_tools_block(m.group(1))
    if not tools and "<tools>" not in text:
        return text, []
    idx = text.find(HERMES_PREAMBLE)
    rest = text[:idx] if idx >= 0 else _TOOLS.sub("", text)
    return rest.strip(), tools


def _parse_call(body: str, where: str) -> tuple[str, dict[str, Any]]:
    obj = loads_lenient(body, where)
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise RecordError(f"{where} is not an object with a name")
    return obj["name"], parse_arguments(obj.get("arguments", obj.get("parameters")), where)


def parse(rec: Any, ctx: ParseContext) -> dict[str, Any]:
    if not detect(rec):
        raise RecordError(f"expected {EXPECTED}")
    tools = tools_from_list(rec.get("tools"), "tools")
    messages: list[dict[str, Any]] = []
    if isinstance(rec.get("system"), str) and rec["system"].strip():
        text, more = split_system(rec["system"])
        tools += more
        if text:
            messages.append({"role": "system", "content": text})
    pending: list[tuple[str, str]] = []
    n_calls = 0

    def add_call(name: str, args: dict[str, Any], calls: list[dict[str, Any]]) -> None:
        nonlocal n_calls
        n_calls += 1
        cid = call_id(n_calls)
        calls.append({"id": cid, "name": name, "arguments": args})
        pending.append((cid, name))

    def add_result(content: Any, name: str | None, where: str) -> None:
        match = next((p for p in pending if name and p[1] == name), None) or (
            pending[0] if pending else None
        )
        if match is None:
            raise RecordError(f"{where} is a tool result that answers no call")
        pending.remove(match)
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        messages.append(
            {"role": "tool", "content": text, "tool_call_id": match[0], "name": match[1]}
        )

    for i, turn in enumerate(rec["conversations"]):
        where = f"conversations[{i}]"
        who = str(turn.get("from")).lower()
        role = _ROLES.get(who)
        value = turn.get("value")
        value = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if role is None:
            raise RecordError(f"{where} comes from an unknown speaker {turn.get('from')!r}")
        if role == "system":
            text, more = split_system(value)
            tools += more
            if text:
                messages.append({"role": "system", "content": text})
        elif role == "user":
            messages.append({"role": "user", "content": value})
        elif role == "assistant":
            calls: list[dict[str, Any]] = []
            for j, m in enumerate(_CALL.finditer(value)):
                add_call(*_parse_call(m.group(1), f"{where} <tool_call> {j + 1}"), calls)
            text = _CALL.sub("", value).strip()
            msg: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                msg["tool_calls"] = calls
            messages.append(msg)
        elif role == "function_call":  # LLaMA-Factory: the call as JSON, one or a list
            obj = loads_lenient(value, where)
            calls = []
            for j, c in enumerate(obj if isinstance(obj, list) else [obj]):
                add_call(*_parse_call(json.dumps(c), f"{where} call {j + 1}"), calls)
            messages.append({"role": "assistant", "content": "", "tool_calls": calls})
        else:
            blocks = [m.group(1).strip() for m in _RESPONSE.finditer(value)] or [value]
            for body in blocks:
                try:
                    obj = json.loads(body)
                except json.JSONDecodeError:
                    obj = None
                if isinstance(obj, dict) and "content" in obj and "name" in obj:
                    add_result(obj["content"], str(obj["name"]), where)
                else:
                    add_result(body, None, where)
    out: dict[str, Any] = {
        "id": ctx.default_id(rec),
        "messages": messages,
        "tools": tools,
        "source": ctx.source,
    }
    _copy_known(rec, out)
    return out
