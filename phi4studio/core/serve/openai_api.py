"""OpenAI Chat Completions: request -> ChatSpec, and the response or SSE chunks back.

Supported: messages (system/developer, user, assistant with tool_calls, tool), tools (function,
`strict` -> guided), tool_choice none/auto/required/named, parallel_tool_calls, response_format
(json_object, json_schema -> guided), stream + stream_options.include_usage, max_tokens /
max_completion_tokens, temperature, top_p, seed, stop, n=1, user/metadata/store (recorded or
ignored). Anything else is refused with a message naming the parameter.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from phi4studio.core.serve.backend import ChatSpec, Started, check_json_schema
from phi4studio.core.serve.errors import Api, ApiError, bad_request, unsupported
from phi4studio.core.serve.output import CallOut, Finish, TextOut

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
ACCEPTED = frozenset({
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "stream",
    "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed",
    "stop", "n", "user", "metadata", "store", "response_format", "frequency_penalty",
    "presence_penalty", "logprobs", "top_logprobs", "logit_bias", "service_tier", "functions",
    "function_call", "modalities", "audio", "prediction", "reasoning_effort",
    "web_search_options", "safety_identifier", "prompt_cache_key",
})
IGNORED = ("user", "metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key")


def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


# --- request -------------------------------------------------------------------------------


def parse_request(body: dict[str, Any], default_max_tokens: int) -> tuple[ChatSpec, bool, bool]:
    """(spec without adapter, stream, include_usage). ApiError naming the first bad field."""
    for key in body:
        if key not in ACCEPTED:
            raise bad_request(f"Unrecognized request argument supplied: {key}", param=key,
                              code="unknown_parameter")
    _refuse_unsupported(body)
    tools = _tools(body.get("tools"))
    choice, name = _tool_choice(body.get("tool_choice"), tools)
    spec = ChatSpec(
        messages=_messages(body.get("messages")),
        tools=tools,
        tool_choice=choice,
        tool_name=name,
        parallel_tool_calls=_bool(body, "parallel_tool_calls", True),
        strict_tools=_strict(tools),
        max_tokens=_max_tokens(body, default_max_tokens),
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0),
        seed=_int(body, "seed", 0),
        stop=_stop(body.get("stop")),
        response_schema=_response_format(body.get("response_format")),
        call_id_prefix="call_",
    )
    if spec.response_schema is not None and tools and choice != "none":
        raise bad_request("response_format together with tools is not supported; send "
                          "tool_choice 'none' or leave out response_format",
                          param="response_format")
    stream = _bool(body, "stream", False)
    opts = body.get("stream_options")
    if opts is not None and not isinstance(opts, dict):
        raise bad_request("'stream_options' must be an object", param="stream_options")
    include_usage = bool((opts or {}).get("include_usage")) and stream
    return spec, stream, include_usage


def _refuse_unsupported(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n not in (None, 1):
        raise unsupported("n", "only one choice (n=1) is generated")
    for key in ("frequency_penalty", "presence_penalty"):
        if body.get(key) not in (None, 0, 0.0):
            raise unsupported(key)
    if body.get("logprobs"):
        raise unsupported("logprobs")
    if body.get("top_logprobs") is not None:
        raise unsupported("top_logprobs")
    if body.get("logit_bias"):
        raise unsupported("logit_bias")
    if body.get("functions") is not None or body.get("function_call") is not None:
        raise unsupported("functions" if body.get("functions") is not None else "function_call",
                          "use 'tools' and 'tool_choice'")
    if body.get("modalities") not in (None, ["text"]):
        raise unsupported("modalities", "only text")
    for key in ("audio", "prediction", "reasoning_effort", "web_search_options"):
        if body.get(key) is not None:
            raise unsupported(key)


def _text(content: Any, where: str, *, allow_none: bool = False) -> str:
    if content is None:
        if allow_none:
            return ""
        raise bad_request(f"{where} is required", param=where)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for j, part in enumerate(content):
            if not isinstance(part, dict):
                raise bad_request(f"{where}[{j}] must be an object", param=f"{where}[{j}]")
            kind = part.get("type")
            if kind in ("text", "refusal") and isinstance(part.get(kind), str):
                parts.append(part[kind])
            else:
                raise unsupported(f"{where}[{j}]", f"content parts of type {kind!r} (only text)")
        return "".join(parts)
    raise bad_request(f"{where} must be a string or a list of text parts", param=where)


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty array", param="messages")
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for i, m in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise bad_request(f"{where} must be an object", param=where)
        role = m.get("role")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": _text(m.get("content"), where + ".content")})
        elif role == "user":
            out.append({"role": "user", "content": _text(m.get("content"), where + ".content")})
        elif role == "assistant":
            calls = []
            for j, c in enumerate(m.get("tool_calls") or []):
                cw = f"{where}.tool_calls[{j}]"
                fn = c.get("function") if isinstance(c, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise bad_request(f"{cw} must be {{id, type: function, function: {{name, "
                                      "arguments}}}}", param=cw)
                args = _arguments(fn.get("arguments"), cw + ".function.arguments")
                cid = str(c.get("id") or f"call_{i}_{j}")
                names[cid] = fn["name"]
                calls.append({"id": cid, "name": fn["name"], "arguments": args})
            msg: dict[str, Any] = {"role": "assistant",
                                   "content": _text(m.get("content"), where + ".content",
                                                    allow_none=True)}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
        elif role == "tool":
            tool_call_id = m.get("tool_call_id")
            if not isinstance(tool_call_id, str):
                raise bad_request(f"{where}.tool_call_id is required", param=where)
            tool_msg = {"role": "tool", "tool_call_id": tool_call_id,
                        "content": _text(m.get("content"), where + ".content")}
            if tool_call_id in names:
                tool_msg["name"] = names[tool_call_id]
            out.append(tool_msg)
        elif role == "function":
            raise unsupported(f"{where}.role", "'function' messages are deprecated; use 'tool'")
        else:
            raise bad_request(f"{where}.role must be system, developer, user, assistant or tool"
                              f" (got {role!r})", param=f"{where}.role")
    return out


def _arguments(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError as exc:
        raise bad_request(f"{where} is not valid JSON: {exc}", param=where) from exc
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be a JSON object", param=where)
    return value


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request("'tools' must be an array", param="tools")
    out: list[dict[str, Any]] = []
    for i, t in enumerate(value):
        where = f"tools[{i}]"
        if not isinstance(t, dict) or t.get("type") != "function":
            kind = t.get("type") if isinstance(t, dict) else None
            raise unsupported(f"{where}.type", f"tools of type {kind!r} (only 'function')")
        fn = t.get("function")
        if not isinstance(fn, dict):
            raise bad_request(f"{where}.function must be an object", param=where)
        name = fn.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise bad_request(f"{where}.function.name must match ^[a-zA-Z0-9_-]{{1,64}}$ "
                              f"(got {name!r})", param=f"{where}.function.name")
        if any(o["name"] == name for o in out):
            raise bad_request(f"{where}.function.name {name!r} is used by another tool",
                              param=f"{where}.function.name")
        params = fn.get("parameters", {"type": "object", "properties": {}})
        schema = check_json_schema(params, f"{where}.function.parameters")
        out.append({"name": name, "description": str(fn.get("description") or ""),
                    "inputSchema": schema, "strict": fn.get("strict") is True})
    return out


def _strict(tools: list[dict[str, Any]]) -> bool:
    """Whether a tool asked for strict schema adherence (the flag leaves the canonical tool)."""
    flags = [bool(t.pop("strict", False)) for t in tools]
    return any(flags)


def _tool_choice(value: Any, tools: list[dict[str, Any]]) -> tuple[Any, str | None]:
    if value is None:
        return ("auto" if tools else "none"), None
    if value in ("none", "auto", "required"):
        if value != "none" and not tools:
            raise bad_request(f"tool_choice {value!r} needs 'tools'", param="tool_choice")
        return value, None
    if isinstance(value, dict) and value.get("type") == "function":
        name = (value.get("function") or {}).get("name")
        if not any(t["name"] == name for t in tools):
            raise bad_request(f"tool_choice names {name!r}, which is not in 'tools'",
                              param="tool_choice")
        return "named", str(name)
    raise bad_request("tool_choice must be 'none', 'auto', 'required' or "
                      "{type: function, function: {name}}", param="tool_choice")


def _response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        js = value.get("json_schema")
        if not isinstance(js, dict):
            raise bad_request("response_format.json_schema must be an object",
                              param="response_format.json_schema")
        return check_json_schema(js.get("schema", {}), "response_format.json_schema.schema")
    raise bad_request("response_format.type must be text, json_object or json_schema",
                      param="response_format")


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"'{key}' must be true or false", param=key)
    return value


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(f"'{key}' must be a number from {low:g} to {high:g}", param=key)
    return float(value)


def _int(body: dict[str, Any], key: str, low: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise bad_request(f"'{key}' must be an integer >= {low}", param=key)
    return value


def _max_tokens(body: dict[str, Any], default: int) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = _int(body, key, 1)
        if value is not None:
            return value
    return default


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or len(items) > 4 or not all(
            isinstance(s, str) and s for s in items):
        raise bad_request("'stop' must be a non-empty string or up to 4 of them", param="stop")
    return list(items)


# --- response ------------------------------------------------------------------------------


def finish_reason(finish: Finish) -> str:
    return "stop" if finish.reason == "stop_sequence" else finish.reason


def tool_call_json(call: Any) -> dict[str, Any]:
    return {"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json}}


def usage(finish: Finish) -> dict[str, int]:
    return {"prompt_tokens": finish.prompt_tokens, "completion_tokens": finish.completion_tokens,
            "total_tokens": finish.prompt_tokens + finish.completion_tokens}


def completion(rid: str, model: str, finish: Finish) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant",
                               "content": finish.content if finish.content or not finish.calls
                               else None, "refusal": None}
    if finish.calls:
        message["tool_calls"] = [tool_call_json(c) for c in finish.calls]
    return {
        "id": rid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "system_fingerprint": "phi4studio",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(finish),
                     "logprobs": None}],
        "usage": usage(finish),
    }


class ChunkStream:
    """Server-sent events in OpenAI's chat.completion.chunk shape."""

    api: Api = "openai"

    def __init__(self, rid: str, model: str, include_usage: bool) -> None:
        self.rid, self.model, self.include_usage = rid, model, include_usage
        self.created = int(time.time())

    def _chunk(self, delta: dict[str, Any] | None, finish: str | None = None,
               usage_: dict[str, int] | None = None) -> bytes:
        obj: dict[str, Any] = {
            "id": self.rid, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": "phi4studio",
            "choices": [] if delta is None else [
                {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if self.include_usage:
            obj["usage"] = usage_
        return sse(obj)

    def start(self, started: Started) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def event(self, ev: Any) -> list[bytes]:
        if isinstance(ev, TextOut):
            return [self._chunk({"content": ev.text})]
        if isinstance(ev, CallOut):
            c = ev.call
            head = {"index": c.index, "id": c.id, "type": "function",
                    "function": {"name": c.name, "arguments": ""}}
            args = {"index": c.index, "function": {"arguments": c.arguments_json}}
            return [self._chunk({"tool_calls": [head]}), self._chunk({"tool_calls": [args]})]
        return []

    def finish(self, finish: Finish) -> list[bytes]:
        out = [self._chunk({}, finish_reason(finish))]
        if self.include_usage:
            out.append(self._chunk(None, usage_=usage(finish)))
        out.append(b"data: [DONE]\n\n")
        return out

    def error(self, err: ApiError) -> list[bytes]:
        return [sse(err.body("openai")), b"data: [DONE]\n\n"]


def sse(obj: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return (head + "data: " + json.dumps(obj, ensure_ascii=False) + "\n\n").encode()


def models_list(ids: list[str], created: int) -> dict[str, Any]:
    return {"object": "list", "data": [model_obj(i, created) for i in ids]}


def model_obj(mid: str, created: int) -> dict[str, Any]:
    return {"id": mid, "object": "model", "created": created, "owned_by": "phi4studio"}
