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
from phi4studio.core.datasets.synthesis.values import ValueSampler
from phi4studio.core.datasets.validation import validate_arguments

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
        args = sampler.object(schema, include_all=include_all)
        issues = validate_arguments(tool, args)
        if not issues:
            return args
    raise SynthesisError(
        f"Cannot generate valid arguments for the tool {tool.get('name')!r}: "
        f"{issues[0].message} (at {issues[0].path}).",
        hint="Simplify that part of its inputSchema (e.g. an unusual pattern), or leave the "
        "tool out of the synthesis.",
    )


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
            new = {**args, param: value}
            if not validate_arguments(tool, new):
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
    schema = tool.get("outputSchema")
    if isinstance(schema, Mapping) and schema:
        result = ValueSampler(rng, root=schema, optional_rate=0.8).sample(schema)
    else:
        result = {"status": "ok"}
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
