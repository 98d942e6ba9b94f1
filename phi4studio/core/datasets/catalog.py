"""Tool catalogs: the tools a dataset is about, saved as JSON (`{"tools": [...]}`, MCP's tools/list
shape). Loading also accepts a bare list, OpenAI `tools` ([{"type": "function", "function": ...}])
and plain function definitions (`parameters` instead of `inputSchema`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.importers.common import RecordError, tools_from_list
from phi4studio.core.fileio import atomic_write_json


def tools_from_value(value: Any, where: str = "the catalog") -> list[dict[str, Any]]:
    """Tool definitions (canonical MCP-style dicts) from any accepted catalog shape."""
    if isinstance(value, Mapping) and "tools" not in value and "name" not in value:
        raise DatasetError(f"{where} has no \"tools\" list.")
    try:
        tools = tools_from_list(value, "tools")
    except RecordError as exc:
        raise DatasetError(f"{where}: {exc}") from exc
    names = [t["name"] for t in tools]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DatasetError(f"{where} defines these tools more than once: {', '.join(dupes)}.")
    return tools


def load_tool_catalog(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise DatasetError(f"Cannot read the tool catalog {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"The tool catalog {path} is not valid JSON: {exc.msg} (line {exc.lineno})."
        ) from exc
    return tools_from_value(value, str(path))


def save_tool_catalog(
    path: Path,
    tools: Iterable[Mapping[str, Any]],
    *,
    server: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> None:
    """Write a catalog atomically; `server` records where the tools came from (MCP command)."""
    doc: dict[str, Any] = {"tools": tools_from_value(list(tools))}
    if name:
        doc["name"] = name
    if server:
        doc["server"] = dict(server)
    doc["saved_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    atomic_write_json(path, doc)
