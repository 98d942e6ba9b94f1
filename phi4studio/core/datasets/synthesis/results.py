"""Valid arguments and plausible results for a tool, with seeded randomness.

Arguments are sampled from the inputSchema and checked with jsonschema (retried until they fit).
Results are sampled from the outputSchema when the tool has one; fields named like an argument
echo it (the weather result names the city asked for); a calculator's `result` is computed from
its `expression` and a length conversion is done for real, so answers are never nonsense.
"""

from __future__ import annotations

import ast
import operator
import random
from collections.abc import Mapping
from typing import Any

from phi4studio.core.datasets.errors import SynthesisError
from phi4studio.core.datasets.synthesis.coherence import (
    ContextSampler,
    fit_to_call,
    result_without_schema,
    topic_of,
)
from phi4studio.core.datasets.synthesis.values import ValueSampler
from phi4studio.core.datasets.validation import argument_faults, validate_arguments

ATTEMPTS = 40
_LENGTH_M = {"m": 1.0, "km": 1000.0, "cm": 0.01, "mm": 0.001, "mi": 1609.344, "ft": 0.3048,
             "in": 0.0254, "yd": 0.9144}
_OPS: dict[type, Any] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg,
    ast.UAdd: operator.pos, ast.Mod: operator.mod,
}


def make_arguments(
    tool: Mapping[str, Any], rng: random.Random, *, include_all: bool = False
) -> dict[str, Any]:
    """Arguments that validate against the tool's inputSchema (or SynthesisError)."""
    schema = tool.get("inputSchema") or {"type": "object"}
    issues = []
    for _ in range(ATTEMPTS):
        sampler = ValueSampler(rng, root=schema)
        args = _sensible(sampler.object(schema, include_all=include_all), schema, rng)
        issues = validate_arguments(tool, args)
        if not issues:
            return args
    raise SynthesisError(
        f"Cannot generate valid arguments for the tool {tool.get('name')!r}: "
        f"{issues[0].message} (at {issues[0].path}).",
        hint="Simplify that part of its inputSchema (e.g. an unusual pattern), or leave the "
        "tool out of the synthesis.",
    )


def _sensible(args: dict[str, Any], schema: Mapping[str, Any],
              rng: random.Random) -> dict[str, Any]:
    """Arguments a person would give: a range in order (start before end), a conversion between
    two different units."""
    for lo, hi in (("start_date", "end_date"), ("start", "end"), ("from_date", "to_date"),
                   ("min_price", "max_price"), ("minimum", "maximum")):
        a, b = args.get(lo), args.get(hi)
        if type(a) is type(b) and isinstance(a, (str, int, float)) and a > b:  # type: ignore[operator]
            args[lo], args[hi] = b, a
    props = schema.get("properties") or {}
    for key in list(args):
        if key.startswith("from_") and args.get("to_" + key[5:]) == args[key]:
            choices = [v for v in (props.get("to_" + key[5:]) or {}).get("enum") or []
                       if v != args[key]]
            if choices:
                args["to_" + key[5:]] = rng.choice(choices)
    return args


def other_value(
    tool: Mapping[str, Any], args: Mapping[str, Any], param: str, rng: random.Random
) -> dict[str, Any] | None:
    """The same arguments with `param` changed to another valid value (None if none found)."""
    schema = (tool.get("inputSchema") or {}).get("properties", {}).get(param)
    if schema is None:
        return None
    root = tool.get("inputSchema") or {}
    for _ in range(ATTEMPTS):
        value = ValueSampler(rng, root=root).sample(schema, param)
        if value != args[param]:
            new = _sensible({**args, param: value}, root, rng)
            if new != args and not validate_arguments(tool, new):
                return new
    return None


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ValueError("exponent too large")
        return float(_OPS[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return float(_OPS[type(node.op)](_eval(node.operand)))
    raise ValueError("not arithmetic")


def arithmetic(expression: str) -> float | None:
    """The value of a plain arithmetic expression, or None."""
    try:
        return _eval(ast.parse(expression, mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None


def _number_key(result: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    return next((k for k in names if isinstance(result.get(k), (int, float))
                 and not isinstance(result.get(k), bool)), None)


def make_result(tool: Mapping[str, Any], args: Mapping[str, Any], rng: random.Random) -> Any:
    """A result that answers this call: sampled from the outputSchema with titles, texts and
    links about the call's topic (coherence.py), fitted to the call, and still valid against
    the outputSchema; without a schema, made from the tool's name and description."""
    schema = tool.get("outputSchema")
    if not (isinstance(schema, Mapping) and schema):
        return result_without_schema(tool, args, rng)
    state = rng.getstate()
    result = ContextSampler(rng, schema, topic_of(args), optional_rate=0.8).sample(schema)
    result = _computed(args, fit_to_call(tool, args, result))
    if argument_faults(schema, result):  # a fit broke the schema: the plain sample instead
        rng.setstate(state)
        result = _computed(args, ValueSampler(rng, root=schema, optional_rate=0.8).sample(schema))
    return result


def _computed(args: Mapping[str, Any], result: Any) -> Any:
    """Echo the arguments a result names; compute arithmetic and length conversions for real."""
    if not isinstance(result, dict):
        return result
    for k, v in args.items():
        if k in result and type(result[k]) is type(v):
            result[k] = v
    key = _number_key(result, ("result", "value", "answer"))
    if isinstance(args.get("expression"), str) and key:
        value = arithmetic(args["expression"])
        if value is not None:
            digits = int(args.get("precision", 4)) if isinstance(args.get("precision"), int) else 4
            result[key] = round(value, digits)
    src, dst = args.get("from_unit"), args.get("to_unit")
    key = _number_key(result, ("converted", "converted_value", "result"))
    value = args.get("value")
    if src in _LENGTH_M and dst in _LENGTH_M and key and isinstance(value, (int, float)):
        result[key] = round(float(value) * _LENGTH_M[str(src)] / _LENGTH_M[str(dst)], 4)
    return result
