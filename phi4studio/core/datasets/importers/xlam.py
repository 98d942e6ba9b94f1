"""xLAM function calling (Salesforce APIGen): `query`, `tools` and `answers`, the last two as JSON
strings, with parameters described by Python-style type names.

    {"id": 7, "query": "Giveaways for beta access and games?",
     "tools": "[{\\"name\\": \\"live_giveaways_by_type\\", \\"description\\": \\"...\\",
                \\"parameters\\": {\\"type\\": {\\"description\\": \\"...\\", \\"type\\": \\"str\\",
                                               \\"default\\": \\"game\\"}}}]",
     "answers": "[{\\"name\\": \\"live_giveaways_by_type\\",
                  \\"arguments\\": {\\"type\\": \\"beta\\"}}]"}

Types such as `str`, `int, optional`, `List[Dict[str, Any]]`, `Union[int, float]` become JSON
Schema. A parameter is required unless its type says `optional` or it has a default. The example
is the query and one assistant turn making the answer calls (xLAM has no tool results).
"""

from __future__ import annotations

import re
from typing import Any

from phi4studio.core.datasets.importers.common import (
    ParseContext,
    RecordError,
    call_id,
    loads_lenient,
    parse_arguments,
    tool_from_function,
)

EXPECTED = 'an object with "query", "tools" and "answers" (JSON strings or lists)'

_SIMPLE = {
    "str": {"type": "string"}, "string": {"type": "string"},
    "int": {"type": "integer"}, "integer": {"type": "integer"},
    "float": {"type": "number"}, "number": {"type": "number"},
    "bool": {"type": "boolean"}, "boolean": {"type": "boolean"},
    "none": {"type": "null"}, "nonetype": {"type": "null"},
    "any": {}, "object": {}, "callable": {},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
}
_ARRAYS = {"list", "sequence", "tuple", "set", "array", "iterable"}
_OBJECTS = {"dict", "mapping", "map"}


def _split_args(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def python_type_schema(text: str) -> dict[str, Any]:
    """`List[Dict[str, int]]` -> {"type": "array", "items": {"type": "object", ...}}."""
    text = text.strip()
    m = re.fullmatch(r"([A-Za-z_.]+)\s*(?:\[(.*)\])?", text, re.S)
    if m is None:
        return {}
    base = m.group(1).split(".")[-1].lower()
    args = _split_args(m.group(2)) if m.group(2) else []
    if base in _SIMPLE:
        return dict(_SIMPLE[base])
    if base in _ARRAYS:
        schema: dict[str, Any] = {"type": "array"}
        if args and not (base == "tuple" and len(args) > 1 and args[-1] != "..."):
            items = python_type_schema(args[0])
            if items:
                schema["items"] = items
        elif args:
            schema["prefixItems"] = [python_type_schema(a) for a in args]
        return schema
    if base in _OBJECTS:
        schema = {"type": "object"}
        if len(args) == 2:
            values = python_type_schema(args[1])
            if values:
                schema["additionalProperties"] = values
        return schema
    if base == "optional" and args:
        return python_type_schema(args[0])
    if base == "union" and args:
        branches = [python_type_schema(a) for a in args]
        if any(not b for b in branches):
            return {}
        return {"anyOf": branches}
    if base == "literal" and args:
        return {"enum": [loads_lenient(a, "a Literal value") for a in args]}
    return {}


def param_schema(spec: Any, name: str) -> tuple[dict[str, Any], bool]:
    """(JSON Schema of one xLAM parameter, whether it is required)."""
    if not isinstance(spec, dict):
        raise RecordError(f"parameter {name!r} is not an object")
    type_text = str(spec.get("type") or "")
    optional = "optional" in type_text.lower()
    base = re.split(r",\s*(?:optional|default)", type_text, flags=re.I)[0]
    schema = python_type_schema(base)
    if spec.get("description"):
        schema["description"] = str(spec["description"])
    if "default" in spec and spec["default"] not in (None, ""):
        schema["default"] = spec["default"]
    return schema, not optional and "default" not in spec


def tool_from_xlam(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise RecordError(f"{where} is not an object")
    params = spec.get("parameters")
    if isinstance(params, dict) and params.get("type") in ("object", "dict") and (
        "properties" in params
    ):
        return tool_from_function(spec, where)  # already JSON Schema
    props: dict[str, Any] = {}
    required: list[str] = []
    for pname, pspec in (params or {}).items():
        props[pname], req = param_schema(pspec, pname)
        if req:
            required.append(pname)
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return tool_from_function({**spec, "parameters": schema}, where)


def detect(rec: Any) -> bool:
    return (
        isinstance(rec, dict)
        and isinstance(rec.get("query"), str)
        and "answers" in rec
        and "tools" in rec
    )


def parse(rec: Any, ctx: ParseContext) -> dict[str, Any]:
    if not detect(rec):
        raise RecordError(f"expected {EXPECTED}")
    raw_tools = rec["tools"]
    if isinstance(raw_tools, str):
        raw_tools = loads_lenient(raw_tools, "tools")
    if not isinstance(raw_tools, list):
        raise RecordError("tools is not a list")
    tools = [tool_from_xlam(t, f"tools[{i}]") for i, t in enumerate(raw_tools)]
    answers = rec["answers"]
    if isinstance(answers, str):
        answers = loads_lenient(answers, "answers")
    if not isinstance(answers, list):
        raise RecordError("answers is not a list of calls")
    calls = []
    for j, a in enumerate(answers):
        if not isinstance(a, dict) or not isinstance(a.get("name"), str):
            raise RecordError(f"answers[{j}] is not a call with a name")
        args = parse_arguments(a.get("arguments"), f"answers[{j}]")
        calls.append({"id": call_id(j + 1), "name": a["name"], "arguments": args})
    assistant: dict[str, Any] = {"role": "assistant", "content": ""}
    if calls:
        assistant["tool_calls"] = calls
    else:
        ctx.warn("no answer calls: the assistant turn is empty")
    return {
        "id": ctx.default_id(rec),
        "messages": [{"role": "user", "content": rec["query"]}, assistant],
        "tools": tools,
        "source": ctx.source,
    }
