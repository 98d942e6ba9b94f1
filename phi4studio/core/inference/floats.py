"""Numbers written in the type their schema gives them.

JSON Schema's `number` is Python's `float` (pydantic and FastMCP map them so; `integer` is
`int`), but a model writes a whole number as `3`, which `json.loads` reads as an int. A Python
tool checking its argument's type, or a checker reading "a list of floats" strictly (BFCL's AST
checker does, inside arrays), then finds an int where a float was declared.
`as_schema_floats` writes each whole-number value at a `number` place of the tool's schema as
a float (`3` -> `3.0`); `integer` places, untyped places and unknown tools are left as they
are. The value is the same number: only its Python type follows the schema (a whole number
too large for a float to hold exactly stays an int).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_EXACT = 2 ** 53  # beyond it a float would not hold the same number


def as_schema_floats(calls: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
                     ) -> list[dict[str, Any]]:
    """`calls` with the whole numbers at `number` places of their tool's schema as floats."""
    schemas = {str(t.get("name")): t.get("inputSchema") or t.get("parameters") for t in tools}
    out: list[dict[str, Any]] = []
    for call in calls:
        schema = schemas.get(str(call.get("name")))
        args = call.get("arguments")
        if isinstance(schema, Mapping) and isinstance(args, Mapping):
            out.append({**call, "arguments": _floats(args, schema)})
        else:
            out.append(dict(call))
    return out


def _is_number(schema: Mapping[str, Any]) -> bool:
    t = schema.get("type")
    types = t if isinstance(t, list) else [t]
    return "number" in types and "integer" not in types


def _floats(value: Any, schema: Any) -> Any:
    if not isinstance(schema, Mapping):
        return value
    if type(value) is int and _is_number(schema) and abs(value) <= _EXACT:
        return float(value)
    if isinstance(value, Mapping):
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        extra = schema.get("additionalProperties")
        return {k: _floats(v, props.get(k, extra)) for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items")
        return [_floats(v, items) for v in value]
    return value
