"""Repeated array items where a tool's schema wants them unique (`uniqueItems`).

A small tuned model that loops inside a list writes one item again (`"to": ["ana@x.org",
"ana@x.org"]`, the same attendee twice): the call is then invalid for its schema, and no
grammar can forbid it (llguidance has no `uniqueItems`, core.chatformats.guidance). The
evaluation's repeat handling (`stop_repeats`, which ends a call list at a repeated call) drops
such an item the same way: `drop_repeated_items` keeps each array's first occurrence of a
value, only where the schema says the items are unique, and names what it dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def drop_repeated_items(calls: Sequence[Mapping[str, Any]],
                        tools: Sequence[Mapping[str, Any]]
                        ) -> tuple[list[dict[str, Any]], list[str]]:
    """`calls` with the repeats of `uniqueItems` arrays dropped (the first of each value
    kept), and where (`send_email.to[2]`); calls of unknown tools are left as they are."""
    schemas = {str(t.get("name")): t.get("inputSchema") or t.get("parameters") or {}
               for t in tools}
    out: list[dict[str, Any]] = []
    dropped: list[str] = []
    for call in calls:
        name = str(call.get("name"))
        args = call.get("arguments")
        schema = schemas.get(name)
        if schema is None or not isinstance(args, Mapping):
            out.append(dict(call))
            continue
        out.append({**call, "arguments": _unique(args, schema, name, dropped)})
    return out, dropped


def _unique(value: Any, schema: Any, path: str, dropped: list[str]) -> Any:
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, Mapping):
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        return {k: _unique(v, props.get(k), f"{path}.{k}", dropped) for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items")
        kept: list[Any] = []
        seen: set[str] = set()
        for i, item in enumerate(value):
            key = json.dumps(item, sort_keys=True)
            if schema.get("uniqueItems") is True and key in seen:
                dropped.append(f"{path}[{i}]")
                continue
            seen.add(key)
            kept.append(_unique(item, items, f"{path}[{i}]", dropped))
        return kept
    return value
