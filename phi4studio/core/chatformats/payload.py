"""Decoding the JSON of a tool-call block into calls, leniently: every deviation from the
expected shape is recorded as an error, and broken JSON gets second chances (truncated JSON is
completed, a Python literal is read as one)."""

from __future__ import annotations

import ast
import json
import warnings
from typing import Any

from phi4studio.core.chatformats.types import ParsedCall

ARGUMENT_KEYS = ("arguments", "parameters")


def decode_payload(
    payload: str, shape: str = "any", *, strict: bool = False
) -> tuple[list[ParsedCall], list[str]]:
    """The calls in the JSON between two markers, and the problems found.

    `strict`: only accept text that is exactly call JSON (used to spot calls without markers).
    """
    errors: list[str] = []
    s = payload.strip()
    if not s:
        return [], ["empty tool-call block"]
    values: list[Any] = []
    decoder = json.JSONDecoder()
    idx = 0
    while idx < len(s):
        try:
            value, end = decoder.raw_decode(s, idx)
        except ValueError as exc:
            if strict:
                return [], ["not JSON"]
            value, end, note = _lenient(s[idx:])
            if note is None:
                errors.append(f"tool call is not valid JSON: {exc}")
                break
            errors.append(note)
            end += idx
        values.append(value)
        idx = end
        while idx < len(s) and s[idx].isspace():
            idx += 1
        if idx < len(s) and s[idx] not in "{[":
            if strict:
                return [], ["trailing text"]
            errors.append(f"trailing text after the tool-call JSON: {s[idx:idx + 40]!r}")
            break
    if len(values) > 1 and shape == "array":
        errors.append("several JSON values in one tool-call block (expected one array)")
    calls: list[ParsedCall] = []
    for value in values:
        if isinstance(value, list):
            if shape == "object":
                errors.append("a JSON array of calls where one call object was expected")
            items = value
        else:
            if shape == "array" and isinstance(value, dict):
                errors.append("a single call object where a JSON array was expected")
            items = [value]
        for item in items:
            call = _to_call(item, errors)
            if call is not None:
                calls.append(call)
    if strict and errors:
        return [], errors
    return calls, errors


def _to_call(item: Any, errors: list[str]) -> ParsedCall | None:
    if not isinstance(item, dict):
        errors.append(f"a tool call must be a JSON object, got {type(item).__name__}")
        return None
    fn = item.get("function")
    if isinstance(fn, dict) and "name" in fn:  # OpenAI shape
        item = fn
    name = item.get("name")
    if not isinstance(name, str) or not name:
        errors.append("a tool call without a name")
        return None
    key = next((k for k in ARGUMENT_KEYS if k in item), None)
    args: Any = item.get(key) if key else None
    if key is None:
        errors.append(f"call to {name} has no arguments (read as {{}})")
        args = {}
    elif isinstance(args, str):
        errors.append(f"arguments of {name} given as a JSON string")
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            errors.append(f"arguments of {name} are not valid JSON")
            args = {}
    if not isinstance(args, dict):
        errors.append(f"arguments of {name} are not a JSON object")
        args = {}
    return {"name": name, "arguments": args}


def _lenient(s: str) -> tuple[Any, int, str | None]:
    """Second chances for broken JSON: truncated (closers added) or a Python literal."""
    closers = _missing_closers(s)
    if closers is not None:
        try:
            return json.loads(s + closers), len(s), "truncated tool-call JSON was completed"
        except ValueError:
            pass
    try:
        with warnings.catch_warnings():  # invalid escapes in model output are not our warnings
            warnings.simplefilter("ignore")
            value = ast.literal_eval(s)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None, 0, None
    if isinstance(value, (dict, list)):
        return value, len(s), "tool call written as a Python literal, not JSON"
    return None, 0, None


def _missing_closers(s: str) -> str | None:
    stack: list[str] = []
    in_string = escape = False
    for c in s:
        if in_string:
            if escape:
                escape = False
            elif c == "\\":
                escape = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "{[":
            stack.append("}" if c == "{" else "]")
        elif c in "}]" and (not stack or stack.pop() != c):
            return None
    if not stack and not in_string:
        return None
    return ('"' if in_string else "") + "".join(reversed(stack))
