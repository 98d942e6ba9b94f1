"""Anthropic Messages: request -> ChatSpec, and the message or its event stream back.

Supported: system (text or text blocks), messages with text, tool_use and tool_result blocks,
tools (custom: name, description, input_schema), tool_choice auto/any/tool/none with
disable_parallel_tool_use, max_tokens (required), stop_sequences, temperature, top_p, top_k,
stream, metadata (ignored). Images, documents, server tools, thinking and the like are refused
with a message naming the field. `cache_control` marks are accepted and ignored.

Stream: message_start, ping, then per content block content_block_start / content_block_delta
(text_delta or input_json_delta) / content_block_stop, then message_delta (stop_reason, usage)
and message_stop.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from phi4studio.core.serve.backend import ChatSpec, Started, check_json_schema
from phi4studio.core.serve.errors import Api, ApiError, bad_request, unsupported
from phi4studio.core.serve.openai_api import sse
from phi4studio.core.serve.output import CallOut, Finish, TextOut

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
ACCEPTED = frozenset({
    "model", "max_tokens", "messages", "system", "stop_sequences", "stream", "temperature",
    "top_p", "top_k", "tools", "tool_choice", "metadata", "thinking", "service_tier",
    "container", "mcp_servers", "context_management", "output_config", "output_format",
    "cache_control", "diagnostics", "inference_geo", "speed", "user_profile_id", "workspace_id",
})
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "stop_sequence": "stop_sequence"}


def new_id() -> str:
    return "msg_" + uuid.uuid4().hex[:24]


# --- request -------------------------------------------------------------------------------


def parse_request(body: dict[str, Any]) -> tuple[ChatSpec, bool]:
    for key in body:
        if key not in ACCEPTED:
            raise bad_request(f"{key}: Extra inputs are not permitted", param=key)
    for key in ("container", "mcp_servers", "context_management"):
        if body.get(key) is not None:
            raise unsupported(key)
    thinking = body.get("thinking")
    if thinking is not None and not (isinstance(thinking, dict)
                                     and thinking.get("type") == "disabled"):
        raise unsupported("thinking", "this model does not think in separate blocks")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise bad_request("max_tokens: Field required", param="max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise bad_request("max_tokens: must be an integer >= 1", param="max_tokens")
    tools = _tools(body.get("tools"))
    choice, name, parallel = _tool_choice(body.get("tool_choice"), tools)
    messages = _system(body.get("system")) + _messages(body.get("messages"))
    spec = ChatSpec(
        messages=messages, tools=tools, tool_choice=choice, tool_name=name,
        parallel_tool_calls=parallel, max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0.0, 1.0),
        top_p=_number(body, "top_p", 0.0, 1.0),
        top_k=_top_k(body.get("top_k")),
        stop=_stop(body.get("stop_sequences")),
        response_schema=_output_format(body),
        call_id_prefix="toolu_",
    )
    if spec.response_schema is not None and tools and choice != "none":
        raise bad_request("output_config.format together with tools is not supported; send "
                          "tool_choice {type: none} or leave out the format",
                          param="output_config")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("stream: must be true or false", param="stream")
    return spec, stream


def _output_format(body: dict[str, Any]) -> dict[str, Any] | None:
    """Structured outputs: output_config.format (or output_format) {type: json_schema, schema}."""
    config = body.get("output_config")
    if config is not None and not isinstance(config, dict):
        raise bad_request("output_config: must be an object", param="output_config")
    fmt, where = (config or {}).get("format"), "output_config.format"
    if fmt is None:
        fmt, where = body.get("output_format"), "output_format"
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise bad_request(f"{where}.type: must be 'json_schema'", param=where)
    return check_json_schema(fmt.get("schema"), f"{where}.schema")


def _system(value: Any) -> list[dict[str, Any]]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [{"role": "system", "content": value}]
    if isinstance(value, list):
        parts = []
        for i, b in enumerate(value):
            if not isinstance(b, dict) or b.get("type") != "text" or not isinstance(
                    b.get("text"), str):
                raise bad_request(f"system.{i}: only text blocks are accepted",
                                  param=f"system.{i}")
            parts.append(b["text"])
        return [{"role": "system", "content": "\n\n".join(parts)}]
    raise bad_request("system: must be a string or a list of text blocks", param="system")


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise bad_request("messages: must be a non-empty list", param="messages")
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for i, m in enumerate(value):
        where = f"messages.{i}"
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise bad_request(f"{where}.role: must be 'user' or 'assistant'", param=where)
        blocks = m.get("content")
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        if not isinstance(blocks, list):
            raise bad_request(f"{where}.content: must be a string or a list of blocks",
                              param=where)
        if m["role"] == "assistant":
            out.append(_assistant(blocks, where, names))
        else:
            out.extend(_user(blocks, where, names))
    return out


def _assistant(blocks: list[Any], where: str, names: dict[str, str]) -> dict[str, Any]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, b in enumerate(blocks):
        bw = f"{where}.content.{j}"
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text" and isinstance(b.get("text"), str):
            text.append(b["text"])
        elif kind == "tool_use":
            if not isinstance(b.get("name"), str) or not isinstance(b.get("id"), str):
                raise bad_request(f"{bw}: tool_use needs 'id' and 'name'", param=bw)
            args = b.get("input")
            if not isinstance(args, dict):
                raise bad_request(f"{bw}.input: must be an object", param=bw)
            names[b["id"]] = b["name"]
            calls.append({"id": b["id"], "name": b["name"], "arguments": args})
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise unsupported(bw, f"assistant content blocks of type {kind!r}")
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if calls:
        msg["tool_calls"] = calls
    return msg


def _user(blocks: list[Any], where: str, names: dict[str, str]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    text: list[str] = []
    for j, b in enumerate(blocks):
        bw = f"{where}.content.{j}"
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text" and isinstance(b.get("text"), str):
            text.append(b["text"])
        elif kind == "tool_result":
            tid = b.get("tool_use_id")
            if not isinstance(tid, str):
                raise bad_request(f"{bw}.tool_use_id: Field required", param=bw)
            content = _result_text(b.get("content"), bw)
            if b.get("is_error"):
                content = f"Error: {content}"
            msg = {"role": "tool", "tool_call_id": tid, "content": content}
            if tid in names:
                msg["name"] = names[tid]
            results.append(msg)
        else:
            raise unsupported(bw, f"user content blocks of type {kind!r} (text and "
                                  "tool_result only)")
    out = list(results)
    if text or not results:
        out.append({"role": "user", "content": "".join(text)})
    return out


def _result_text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for k, b in enumerate(content):
            if not isinstance(b, dict) or b.get("type") != "text":
                raise unsupported(f"{where}.content.{k}", "tool results other than text")
            parts.append(str(b.get("text") or ""))
        return "".join(parts)
    raise bad_request(f"{where}.content: must be a string or text blocks", param=where)


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request("tools: must be a list", param="tools")
    out: list[dict[str, Any]] = []
    for i, t in enumerate(value):
        where = f"tools.{i}"
        if not isinstance(t, dict):
            raise bad_request(f"{where}: must be an object", param=where)
        if t.get("type") not in (None, "custom"):
            raise unsupported(f"{where}.type", f"server tools such as {t.get('type')!r}")
        name = t.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise bad_request(f"{where}.name: must match ^[a-zA-Z0-9_-]{{1,128}}$ "
                              f"(got {name!r})", param=f"{where}.name")
        if any(o["name"] == name for o in out):
            raise bad_request(f"{where}.name: tool names must be unique ({name!r})",
                              param=f"{where}.name")
        if "input_schema" not in t:
            raise bad_request(f"{where}.input_schema: Field required", param=where)
        schema = check_json_schema(t["input_schema"], f"{where}.input_schema")
        out.append({"name": name, "description": str(t.get("description") or ""),
                    "inputSchema": schema})
    return out


def _tool_choice(value: Any, tools: list[dict[str, Any]]) -> tuple[Any, str | None, bool]:
    if value is None:
        return ("auto" if tools else "none"), None, True
    if not isinstance(value, dict):
        raise bad_request("tool_choice: must be an object {type: auto|any|tool|none}",
                          param="tool_choice")
    kind = value.get("type")
    parallel = not value.get("disable_parallel_tool_use", False)
    if kind == "none":
        return "none", None, parallel
    if not tools:
        raise bad_request(f"tool_choice: type {kind!r} needs tools", param="tool_choice")
    if kind == "auto":
        return "auto", None, parallel
    if kind == "any":
        return "required", None, parallel
    if kind == "tool":
        name = value.get("name")
        if not any(t["name"] == name for t in tools):
            raise bad_request(f"tool_choice: tool {name!r} is not in tools", param="tool_choice")
        return "named", str(name), False
    raise bad_request("tool_choice.type: must be auto, any, tool or none", param="tool_choice")


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(f"{key}: must be a number from {low:g} to {high:g}", param=key)
    return float(value)


def _top_k(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_request("top_k: must be an integer >= 0", param="top_k")
    return value


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise bad_request("stop_sequences: must be a list of non-empty strings",
                          param="stop_sequences")
    return list(value)


# --- response ------------------------------------------------------------------------------


def usage(finish: Finish) -> dict[str, int]:
    return {"input_tokens": finish.prompt_tokens, "output_tokens": finish.completion_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def message(mid: str, model: str, finish: Finish) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if finish.content:
        content.append({"type": "text", "text": finish.content})
    for c in finish.calls:
        content.append({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments})
    return {"id": mid, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": STOP_REASONS[finish.reason],
            "stop_sequence": finish.stop_sequence, "usage": usage(finish)}


class EventStream:
    """Anthropic's streaming event sequence for one message."""

    api: Api = "anthropic"

    def __init__(self, mid: str, model: str) -> None:
        self.mid, self.model = mid, model
        self.index = -1
        self.text_open = False

    @staticmethod
    def _ev(obj: dict[str, Any]) -> bytes:
        return sse(obj, event=str(obj["type"]))

    def start(self, started: Started) -> list[bytes]:
        msg: dict[str, Any] = {
               "id": self.mid, "type": "message", "role": "assistant", "model": self.model,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": started.prompt_tokens or 0, "output_tokens": 0,
                         "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
        return [self._ev({"type": "message_start", "message": msg}), self._ev({"type": "ping"})]

    def _close_text(self) -> list[bytes]:
        if not self.text_open:
            return []
        self.text_open = False
        return [self._ev({"type": "content_block_stop", "index": self.index})]

    def event(self, ev: Any) -> list[bytes]:
        out: list[bytes] = []
        if isinstance(ev, TextOut):
            if not self.text_open:
                self.index += 1
                self.text_open = True
                out.append(self._ev({"type": "content_block_start", "index": self.index,
                                     "content_block": {"type": "text", "text": ""}}))
            out.append(self._ev({"type": "content_block_delta", "index": self.index,
                                 "delta": {"type": "text_delta", "text": ev.text}}))
        elif isinstance(ev, CallOut):
            c = ev.call
            out += self._close_text()
            self.index += 1
            out.append(self._ev({"type": "content_block_start", "index": self.index,
                                 "content_block": {"type": "tool_use", "id": c.id,
                                                   "name": c.name, "input": {}}}))
            out.append(self._ev({"type": "content_block_delta", "index": self.index,
                                 "delta": {"type": "input_json_delta",
                                           "partial_json": c.arguments_json}}))
            out.append(self._ev({"type": "content_block_stop", "index": self.index}))
        return out

    def finish(self, finish: Finish) -> list[bytes]:
        out = self._close_text()
        out.append(self._ev({
            "type": "message_delta",
            "delta": {"stop_reason": STOP_REASONS[finish.reason],
                      "stop_sequence": finish.stop_sequence},
            "usage": {"input_tokens": finish.prompt_tokens,
                      "output_tokens": finish.completion_tokens},
        }))
        out.append(self._ev({"type": "message_stop"}))
        return out

    def error(self, err: ApiError) -> list[bytes]:
        return [sse(err.body("anthropic"), event="error")]


def models_list(ids: list[str], created_at: str) -> dict[str, Any]:
    data = [model_obj(i, created_at) for i in ids]
    return {"data": data, "has_more": False, "first_id": ids[0] if ids else None,
            "last_id": ids[-1] if ids else None}


def model_obj(mid: str, created_at: str) -> dict[str, Any]:
    return {"type": "model", "id": mid, "display_name": mid, "created_at": created_at}
