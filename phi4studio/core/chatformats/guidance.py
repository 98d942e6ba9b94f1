"""Guided decoding for tool calls: a Lark grammar or a JSON Schema for onnxruntime-genai
(`GeneratorParams.set_guidance(spec.type, spec.text)`, which runs llguidance).

The payload schema has one branch per tool, told apart by the tool name (an enum of one value)
and holding that tool's own argument schema, so a guided model can only call offered tools with
arguments of the right shape. JSON is written with `", "` and `": "` separators (llguidance's
`x-guidance` options), exactly as the training data renders calls.

- `lark_grammar` (default): free text, or free text followed by the family's call markers around
  the payload; with `require_call=True` only calls; with `calls_first=True` text or calls,
  never text then calls (the first token decides, see `CallControl` in core.inference).
  Markers that are special tokens of the tokenizer (Phi-4-mini's `<|tool_call|>`) are
  referenced as tokens; plain-text markers are literals, and free text cannot contain the
  opening marker.
- `json_schema`: the output is the payload alone, a JSON array of calls (read it back with
  `ChatFormat.parse_payload`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from phi4studio.core.chatformats.canonical import Tool
from phi4studio.core.chatformats.types import GuidanceSpec

if TYPE_CHECKING:
    from phi4studio.core.chatformats.formats import CallSyntax

X_GUIDANCE = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}
_DROP = frozenset({"$schema", "$id", "$comment", "examples", "deprecated", "readOnly",
                   "writeOnly", "$anchor", "$dynamicAnchor"})
# What llguidance (onnxruntime-genai 0.18) cannot compile, found by probing it: these keywords
# ("Unimplemented keys"), `format`s other than LLG_FORMATS, and a `oneOf` whose branches may
# overlap (read as `anyOf`). Guidance leaves them out: the model is held to a slightly looser
# schema, and every call is still validated against the tool's full schema afterwards.
LLG_UNSUPPORTED = frozenset({"uniqueItems", "contains", "minContains", "maxContains", "not",
                             "if", "then", "else", "dependentRequired", "dependentSchemas",
                             "propertyNames", "unevaluatedProperties", "unevaluatedItems"})
LLG_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4",
                         "ipv6", "uuid"})
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_SCHEMA_ONE = ("items", "additionalProperties")
_RUST_REGEX_META = set("\\.+*?()|[]{}^$#&-~/")


def build_guidance(
    syntax: CallSyntax,
    tools: list[Tool],
    *,
    kind: Literal["lark_grammar", "json_schema"] = "lark_grammar",
    require_call: bool = False,
    strict: bool = True,
    max_calls: int | None = None,
    calls_first: bool = False,
) -> GuidanceSpec:
    if not tools:
        raise ValueError("guided tool calling needs at least one tool")
    names = tuple(t.name for t in tools)
    if len(set(names)) != len(names):
        raise ValueError("tool names must be unique")
    defs: dict[str, Any] = {}
    call = {"oneOf": [call_schema(t, strict, defs) for t in tools]}
    if kind == "json_schema" or syntax.shape != "object":
        payload: dict[str, Any] = {"type": "array", "items": call, "minItems": 1}
        if max_calls is not None:
            payload["maxItems"] = max_calls
    else:
        payload = dict(call)
    if defs:
        payload["$defs"] = defs
    if kind == "json_schema":
        return GuidanceSpec("json_schema", json.dumps({"x-guidance": X_GUIDANCE, **payload},
                                                      ensure_ascii=False), payload, names)
    return GuidanceSpec("lark_grammar",
                        lark_grammar(syntax, payload, require_call, max_calls, calls_first),
                        payload, names)


def call_schema(tool: Tool, strict: bool = True, defs: dict[str, Any] | None = None) -> Any:
    """`{"name": <this tool>, "arguments": <its inputSchema>}` as a closed object schema."""
    prefix = f"{_safe(tool.name)}__"
    args = _clean(tool.input_schema, strict, prefix)
    if defs is not None:
        for key in ("$defs", "definitions"):
            for name, sub in (args.pop(key, None) or {}).items():
                defs[prefix + name] = sub
        if _refers_to_root(args):
            defs[prefix + "root"] = args
    return {
        "type": "object",
        "properties": {"name": {"type": "string", "enum": [tool.name]}, "arguments": args},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def lark_grammar(
    syntax: CallSyntax, payload: dict[str, Any], require_call: bool, max_calls: int | None = None,
    calls_first: bool = False,
) -> str:
    schema = json.dumps({"x-guidance": X_GUIDANCE, **payload}, ensure_ascii=False)
    if syntax.shape == "object":
        open_, close = syntax.block_open or syntax.open, syntax.block_close or syntax.close
    else:
        open_, close = syntax.open, syntax.close
    if require_call:
        rows = ["start: calls"]
    else:
        rows = ["start: TEXT | calls" if calls_first else "start: TEXT | TEXT? calls"]
    if not require_call:
        if syntax.special_tokens:
            rows.append("TEXT: /(.|\\n)+/")
        else:
            rows.append(f"TEXT: /(.|\\n)+/ & ~/(.|\\n)*{_regex_escape(syntax.open)}(.|\\n)*/")
    if syntax.shape == "object":
        sep = _lit(syntax.between) + " " if syntax.between else ""
        if max_calls is not None and max_calls <= 1:
            rows.append("calls: call")  # Lark refuses a repeat range of {0,0}
        else:
            rep = "*" if max_calls is None else f"{{0,{max_calls - 1}}}"
            rows.append(f"calls: call ({sep}call){rep}")
        rows.append(f"call: {_marker(open_, syntax)} payload {_marker(close, syntax)}".rstrip())
    else:
        rows.append(f"calls: {_marker(open_, syntax)} payload {_marker(close, syntax)}".rstrip())
    rows.append(f"payload: %json {schema}")
    return "\n".join(rows) + "\n"


# --- helpers -------------------------------------------------------------------------------


def _marker(text: str | None, syntax: CallSyntax) -> str:
    if not text:
        return ""
    if syntax.special_tokens and text.startswith("<") and text.endswith(">"):
        return text  # a special token reference
    return _lit(text)


def _lit(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _regex_escape(text: str) -> str:
    return "".join("\\" + c if c in _RUST_REGEX_META else c for c in text)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name) or "tool"


def guidance_schema(schema: Any) -> Any:
    """A copy of a tool's JSON Schema that guided decoding can compile (see LLG_UNSUPPORTED)."""
    return _clean(schema, False, "")


def _clean(schema: Any, strict: bool, prefix: str, nested: bool = False) -> Any:
    """A copy without keywords llguidance rejects, refs renamed into the shared `$defs`, and
    (strict) objects closed to unknown properties. A nested object that names no property
    and requires none is a free-form map (BFCL's `gradeDict`: "keys represent subjects"):
    closed, it could only be `{}`, so it stays open. The arguments object itself is closed
    even then: a tool without parameters takes none."""
    if isinstance(schema, list):
        return [_clean(s, strict, prefix, True) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP or key in LLG_UNSUPPORTED:
            continue
        if key == "format" and isinstance(value, str) and value not in LLG_FORMATS:
            continue
        if key == "$ref" and isinstance(value, str):
            out[key] = _rename_ref(value, prefix)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out["anyOf" if key == "oneOf" else key] = [_clean(v, strict, prefix, True)
                                                       for v in value]
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: _clean(v, strict, prefix, True) for k, v in value.items()}
        elif key in _SCHEMA_ONE and isinstance(value, (dict, list)):
            out[key] = _clean(value, strict, prefix, True)
        else:
            out[key] = value
    is_object = out.get("type") == "object" or (
        "properties" in out and "type" not in out and "$ref" not in out
    )
    if strict and is_object and "additionalProperties" not in out:
        # A required key the schema does not describe (BFCL's `population`: required adults,
        # children, singles, no properties) stays allowed, with any value: closing the object
        # over it would make the schema unsatisfiable, and llguidance refuses the grammar.
        found = out.get("properties")
        props: dict[str, Any] = found if isinstance(found, dict) else {}
        loose = [k for k in out.get("required") or () if isinstance(k, str) and k not in props]
        if loose:
            out["properties"] = {**props, **{k: {} for k in loose}}
        if props or loose or "patternProperties" in out or not nested:
            out["additionalProperties"] = False
    return out


def _rename_ref(ref: str, prefix: str) -> str:
    for head in ("#/$defs/", "#/definitions/"):
        if ref.startswith(head):
            return "#/$defs/" + prefix + ref[len(head):]
    if ref == "#":
        return "#/$defs/" + prefix + "root"
    return ref


def _refers_to_root(schema: Any) -> bool:
    if isinstance(schema, dict):
        return any(
            (k == "$ref" and isinstance(v, str) and v.endswith("__root")) or _refers_to_root(v)
            for k, v in schema.items()
        )
    if isinstance(schema, list):
        return any(_refers_to_root(v) for v in schema)
    return False
