"""Scoring one model output: the counts every metric is built from (metrics.py sums them).

A turn's counts (all integers):

- turns / turns_correct: checked turns; those whose calls pass the AST check (none expected:
  no call made);
- outputs / outputs_json_valid: generations; those whose call blocks parse without any error;
- calls / calls_schema_valid: calls made; those naming an offered tool with arguments valid
  against its JSON Schema;
- calls_checked / calls_correct: calls compared with expected ones; those matched to one (name
  and arguments);
- params_expected / params_correct: parameters the expected calls require; those the model
  gave with an acceptable value;
- selections / selections_right: expected calls; those whose tool the model chose (multiset);
- irrelevant_turns / irrelevant_silent: turns where no call applies; those without a call;
- recovery_turns / recovery_correct: turns after a tool error or asking for missing
  information; those done right.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from phi4studio.core.evaluation.checker import (
    ExpectedCall,
    check_param,
    check_turn,
    find_tool,
    required_params,
)

COUNTERS = ("turns", "turns_correct", "outputs", "outputs_json_valid", "calls",
            "calls_schema_valid", "calls_checked", "calls_correct", "params_expected",
            "params_correct", "selections", "selections_right", "irrelevant_turns",
            "irrelevant_silent", "recovery_turns", "recovery_correct")


def zero() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


def add(total: dict[str, int], part: Mapping[str, Any]) -> dict[str, int]:
    for key in COUNTERS:
        total[key] = total.get(key, 0) + int(part.get(key, 0) or 0)
    return total


_VALIDATORS: dict[str, Any] = {}


def schema_valid(tools: Sequence[Mapping[str, Any]], call: Mapping[str, Any]) -> bool:
    """The call names an offered tool and its arguments satisfy that tool's inputSchema."""
    tool = find_tool(tools, str(call.get("name")))
    if tool is None:
        return False
    schema = tool.get("inputSchema") or {"type": "object"}
    key = json.dumps(schema, sort_keys=True, default=str)
    validator: Any = _VALIDATORS.get(key)
    if validator is None:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
            validator = Draft202012Validator(schema)
        except SchemaError:
            validator = False
        if len(_VALIDATORS) > 2000:
            _VALIDATORS.clear()
        _VALIDATORS[key] = validator
    if validator is False or validator is None:
        return isinstance(call.get("arguments"), Mapping)
    return bool(validator.is_valid(call.get("arguments")))


def output_counts(tools: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]],
                  parse_errors: Sequence[str]) -> dict[str, int]:
    """Counts any generation contributes: JSON validity and schema validity of its calls."""
    c = zero()
    c["outputs"] = 1
    c["outputs_json_valid"] = int(not parse_errors)
    c["calls"] = len(calls)
    c["calls_schema_valid"] = sum(schema_valid(tools, call) for call in calls)
    return c


def score_turn(tools: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]],
               parse_errors: Sequence[str], expected: Sequence[ExpectedCall], *,
               recovery: bool = False, unreadable: bool = False) -> dict[str, Any]:
    """Verdict and counts for one checked turn (a replay checkpoint).

    BFCL's rule: an output that does not decode into calls is no call (so right where none is
    expected). `unreadable` (the runner sets it on the studio's own splits): the output
    attempted a call and none could be read, which makes the turn wrong: a garbled attempt is
    not a decline."""
    check = check_turn(tools, calls, expected)
    valid, error, error_type = check.valid, check.error, check.error_type
    if unreadable and valid:
        valid, error_type = False, "unreadable_call"
        error = "A call was attempted and could not be read" + (
            f": {parse_errors[0]}" if parse_errors else ".")
    c = output_counts(tools, calls, parse_errors)
    c["turns"] = 1
    c["turns_correct"] = int(valid)
    c["calls_checked"] = len(calls)
    c["calls_correct"] = len(check.matches)
    if not expected:
        c["irrelevant_turns"] = 1
        c["irrelevant_silent"] = int(not calls and not unreadable)
    exp_names = [next(iter(e)) for e in expected]
    c["selections"] = len(expected)
    c["selections_right"] = sum((Counter(exp_names) & Counter(str(x.get("name"))
                                                              for x in calls)).values())
    p_exp, p_ok = _param_counts(tools, calls, expected, check.matches)
    c["params_expected"], c["params_correct"] = p_exp, p_ok
    if recovery:
        c["recovery_turns"] = 1
        c["recovery_correct"] = int(valid)
    matched = {j for _, j in check.matches}
    per_tool: dict[str, list[int]] = {}
    for j, name in enumerate(exp_names):
        row = per_tool.setdefault(name, [0, 0])
        row[0] += 1
        row[1] += int(j in matched)
    return {"correct": valid, "error": error, "error_type": error_type,
            "counts": c, "tools": per_tool, "matches": check.matches}


def _param_counts(tools: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]],
                  expected: Sequence[ExpectedCall],
                  matches: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """Expected parameters, and those given right: each expected call is paired with its AST
    match, else with the unused call of the same tool that gets the most parameters right."""
    used = {i for i, _ in matches}
    paired = {j: i for i, j in matches}
    total = right = 0
    for j, exp in enumerate(expected):
        name, possible = next(iter(exp.items()))
        need = required_params(exp)
        total += len(need)
        tool = find_tool(tools, name)
        props = ((tool or {}).get("inputSchema") or {}).get("properties") or {}
        if j in paired:
            right += len(need)
            continue
        best, best_i = 0, None
        for i, call in enumerate(calls):
            if i in used or call.get("name") != name:
                continue
            args = call.get("arguments") or {}
            ok = sum(1 for p in need if p in args and p in props
                     and check_param(props[p], p, args[p], possible[p]).valid)
            if best_i is None or ok > best:
                best, best_i = ok, i
        if best_i is not None:
            used.add(best_i)
            right += best
    return total, right


def is_error_result(content: Any) -> bool:
    """Whether a tool result reports an error (an `error`/`exception` key, or text saying so)."""
    if isinstance(content, str):
        text = content.strip()
        try:
            content = json.loads(text)
        except ValueError:
            low = text.lower()
            return low.startswith(("error", "exception")) or "error:" in low[:80]
    if isinstance(content, Mapping):
        return any(content.get(k) for k in ("error", "exception", "isError"))
    return False
