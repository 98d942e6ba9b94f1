"""Berkeley Function Calling Leaderboard: a question file plus its possible-answer file.

    question:  {"id": "simple_0", "question": [[{"role": "user", "content": "..."}]],
                "function": [{"name": "calc_area", "description": "...",
                              "parameters": {"type": "dict", "properties": {...},
                                             "required": [...]}}]}
    answer:    {"id": "simple_0",
                "ground_truth": [{"calc_area": {"base": [10], "unit": ["units", ""]}}]}

BFCL types become JSON Schema (dict -> object, float -> number, tuple -> array, any -> no type; Java
and JavaScript names such as String, HashMap, ArrayList as their JSON kin). Each ground-truth
parameter lists its acceptable values: the first is used, and a parameter whose first acceptable
value is "" (may be left out) is left out. Ground truth written as call strings (`f(a=1)`) is read
too. Irrelevance entries have no answer: the assistant declines without a call. The scenario comes
from the id's category (simple -> single, multiple, parallel, parallel_multiple -> parallel,
irrelevance).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from phi4studio.core.datasets.importers.common import (
    ParseContext,
    RecordError,
    call_id,
    content_text,
    tool_from_function,
)

EXPECTED = 'a BFCL entry with "id", "question" and "function"'
ANSWERS_EXPECTED = 'a BFCL possible answer with "id" and "ground_truth"'
IRRELEVANT_REPLY = "I can't help with that using the functions I have available."

_TYPES: dict[str, dict[str, Any]] = {
    "dict": {"type": "object"}, "object": {"type": "object"}, "hashmap": {"type": "object"},
    "map": {"type": "object"},
    "float": {"type": "number"}, "double": {"type": "number"}, "number": {"type": "number"},
    "integer": {"type": "integer"}, "int": {"type": "integer"}, "long": {"type": "integer"},
    "short": {"type": "integer"}, "byte": {"type": "integer"}, "bigint": {"type": "integer"},
    "string": {"type": "string"}, "str": {"type": "string"}, "char": {"type": "string"},
    "boolean": {"type": "boolean"}, "bool": {"type": "boolean"},
    "array": {"type": "array"}, "list": {"type": "array"}, "tuple": {"type": "array"},
    "arraylist": {"type": "array"}, "set": {"type": "array"},
    "any": {}, "null": {"type": "null"},
}
_OMIT = object()


def bfcl_schema(spec: Any) -> Any:
    """Convert one BFCL parameter schema (recursively) to JSON Schema."""
    if not isinstance(spec, Mapping):
        return spec
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "type":
            mapped = _TYPES.get(str(value).lower())
            if mapped is None:
                out.setdefault("description", f"(BFCL type {value})")
            else:
                out.update(mapped)
        elif key == "properties" and isinstance(value, Mapping):
            out["properties"] = {k: bfcl_schema(v) for k, v in value.items()}
        elif key == "items":
            out["items"] = bfcl_schema(value)
        elif key == "additionalProperties" and isinstance(value, Mapping):
            out["additionalProperties"] = bfcl_schema(value)
        elif key == "optional":
            continue  # BFCL marks this in `required` already
        elif key == "description" and "description" in out:
            out["description"] = f"{value} {out['description']}"
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" not in out and spec.get("type") == "dict":
        out["properties"] = {}
    return out


def tool_from_bfcl(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise RecordError(f"{where} is not an object")
    params = bfcl_schema(spec.get("parameters") or {"type": "dict", "properties": {}})
    params["type"] = "object"
    return tool_from_function({**spec, "parameters": params}, where)


def _pick(values: Any) -> Any:
    """The first acceptable value of a ground-truth parameter ("" first: leave it out)."""
    if isinstance(values, list):
        if not values or values[0] == "":
            return _OMIT
        return _pick_nested(values[0])
    return _pick_nested(values)


def _pick_nested(value: Any) -> Any:
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        out = {k: _pick(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _OMIT}
    return value


def _call_from_string(text: str, where: str) -> tuple[str, dict[str, Any]]:
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise RecordError(f"{where}: {text[:60]!r} is not a call ({exc.msg})") from None
    if not isinstance(node, ast.Call):
        raise RecordError(f"{where}: {text[:60]!r} is not a call")
    if node.args:
        raise RecordError(f"{where}: positional arguments in {text[:60]!r} cannot be named")
    try:
        args = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    except ValueError:
        raise RecordError(f"{where}: an argument of {text[:60]!r} is not a literal") from None
    return ast.unparse(node.func), args


def answer_calls(
    ground_truth: Any, where: str = "ground_truth"
) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(ground_truth, list):
        raise RecordError(f"{where} is not a list")
    calls: list[tuple[str, dict[str, Any]]] = []
    for i, entry in enumerate(ground_truth):
        if isinstance(entry, str):
            calls.append(_call_from_string(entry, f"{where}[{i}]"))
        elif isinstance(entry, dict) and len(entry) == 1:
            name, params = next(iter(entry.items()))
            if not isinstance(params, dict):
                raise RecordError(f"{where}[{i}] has no parameter object for {name!r}")
            args = {k: _pick(v) for k, v in params.items()}
            calls.append((str(name), {k: v for k, v in args.items() if v is not _OMIT}))
        else:
            raise RecordError(f"{where}[{i}] is not a {{function: {{param: [values]}}}} entry")
    return calls


def scenario_of(entry_id: str) -> str | None:
    s = entry_id.lower()
    for key, scenario in (
        ("irrelevance", "irrelevance"), ("parallel", "parallel"), ("multiple", "multiple"),
        ("multi_turn", "multi_turn"), ("simple", "single"), ("java", "single"), ("sql", "single"),
    ):
        if key in s:
            return scenario
    return None


def detect(rec: Any) -> bool:
    return isinstance(rec, dict) and "question" in rec and ("function" in rec or "functions" in rec)


def detect_answers(rec: Any) -> bool:
    return isinstance(rec, dict) and "ground_truth" in rec and "question" not in rec


def _turns(question: Any) -> list[list[dict[str, Any]]]:
    if isinstance(question, str):
        return [[{"role": "user", "content": question}]]
    if isinstance(question, list) and question and all(isinstance(q, dict) for q in question):
        return [question]
    if isinstance(question, list) and all(isinstance(t, list) for t in question):
        return question
    raise RecordError("question is neither text, a message list, nor a list of turns")


def parse(rec: Any, ctx: ParseContext) -> dict[str, Any]:
    if not detect(rec):
        raise RecordError(f"expected {EXPECTED}")
    entry_id = ctx.default_id(rec)
    funcs = rec.get("function", rec.get("functions"))
    funcs = funcs if isinstance(funcs, list) else [funcs]
    tools = [tool_from_bfcl(f, f"function[{i}]") for i, f in enumerate(funcs)]
    scenario = scenario_of(entry_id)
    answers: Mapping[str, Any] | None = ctx.extra.get("answers")
    turns = _turns(rec["question"])
    if scenario == "irrelevance":
        per_turn: list[list[tuple[str, dict[str, Any]]]] = [[] for _ in turns]
    elif answers is None:
        raise RecordError("no possible answer: give the BFCL possible_answer file for this set")
    elif entry_id not in answers:
        raise RecordError(f"no possible answer for id {entry_id!r} in the answers file")
    else:
        gt = answers[entry_id]
        if len(turns) > 1 and isinstance(gt, list) and all(isinstance(t, list) for t in gt):
            per_turn = [answer_calls(t, f"ground_truth[{i}]") for i, t in enumerate(gt)]
        else:
            per_turn = [answer_calls(gt)] + [[] for _ in turns[1:]]
    messages: list[dict[str, Any]] = []
    n = 0
    for turn, calls in zip(turns, per_turn, strict=False):
        for m in turn:
            role = m.get("role") if isinstance(m, dict) else None
            if role not in ("system", "user", "assistant"):
                raise RecordError(f"question turn has a message with role {role!r}")
            messages.append({"role": role, "content": content_text(m.get("content"))})
        if calls:
            tcs = []
            for name, args in calls:
                n += 1
                tcs.append({"id": call_id(n), "name": name, "arguments": args})
            messages.append({"role": "assistant", "content": "", "tool_calls": tcs})
        else:
            messages.append({"role": "assistant", "content": IRRELEVANT_REPLY})
    out: dict[str, Any] = {
        "id": entry_id, "messages": messages, "tools": tools, "source": ctx.source,
        "tags": ["bfcl"],
    }
    if scenario is not None:
        out["scenario"] = scenario
    return out
