"""What every importer shares: the report types, record errors and lenient parsing helpers."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

from phi4studio.core.datasets.schema import ToolDef


class RecordError(Exception):
    """One record cannot be imported; the message says why (shown with its line number)."""


@dataclass(frozen=True)
class ImportIssue:
    line: int  # 1-based line (or record/row number for JSON arrays and parquet)
    reason: str
    severity: str = "error"  # "error": the record was skipped; "warning": imported with a caveat
    unit: str = "line"

    def __str__(self) -> str:
        return f"{self.unit} {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did (or would do, for a scan): counts plus every skipped record's reason."""

    path: str
    format: str
    records: int = 0  # records met (examples, bad records; not ignored metadata lines)
    good: int = 0  # records that became valid-shaped examples
    imported: int = 0  # examples written to the store
    skipped: list[ImportIssue] = field(default_factory=list)
    warnings: list[ImportIssue] = field(default_factory=list)
    ignored: int = 0  # lines that hold no example by design (transcript metadata)
    committed: bool = False
    renamed: dict[str, str] = field(default_factory=dict)  # id in the file -> id stored under
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.skipped

    def summary(self) -> str:
        if self.committed:
            head = f"{self.imported} example(s) imported from {self.records} record(s)"
        else:
            head = f"{self.good} of {self.records} record(s) readable, nothing written"
        if self.skipped:
            head += f", {len(self.skipped)} skipped"
        if self.warnings:
            head += f", {len(self.warnings)} warning(s)"
        if self.renamed:
            head += f", {len(self.renamed)} renamed (id taken)"
        return head


@dataclass
class Parsed:
    """One outcome of reading a source: an example (as a dict), an error, or an ignored line."""

    line: int
    example: dict[str, Any] | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    ignored: bool = False
    unit: str = "line"


@dataclass
class ParseContext:
    """Passed to a format's parse(): where the record is, and the source label to stamp."""

    source: str
    line: int
    stem: str
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # per-format inputs (BFCL answers, ...)

    def default_id(self, rec: Any) -> str:
        if isinstance(rec, dict):
            for key in ("id", "uuid", "example_id"):
                v = rec.get(key)
                if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip():
                    return str(v).strip()
        return f"{self.stem}-{self.line}"

    def warn(self, text: str) -> None:
        self.warnings.append(text)


def loads_lenient(text: str, what: str) -> Any:
    """JSON, or failing that a Python literal (Hermes and xLAM data often use single quotes)."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise RecordError(f"{what} is not valid JSON: {exc.msg} (column {exc.colno})") from None


def parse_arguments(value: Any, where: str) -> dict[str, Any]:
    """Tool-call arguments as an object: accepts an object, a JSON string, or empty."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        value = loads_lenient(value, f"the arguments of {where}")
        if isinstance(value, str):  # double-encoded JSON
            value = loads_lenient(value, f"the arguments of {where}")
    if not isinstance(value, dict):
        raise RecordError(f"the arguments of {where} are not a JSON object")
    return value


def content_text(content: Any) -> str:
    """Message content as text: a string, or a list of parts whose text parts are joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict) and isinstance(p.get("text"), str):
                parts.append(p["text"])
        return "\n".join(parts)
    if isinstance(content, dict):
        return json.dumps(content, ensure_ascii=False)
    return str(content)


def tool_from_function(spec: Any, where: str) -> dict[str, Any]:
    """An MCP-style tool from an OpenAI tool/function, an MCP tool or a bare function dict."""
    if not isinstance(spec, dict):
        raise RecordError(f"{where} is not an object")
    if spec.get("type") == "function" and isinstance(spec.get("function"), dict):
        spec = spec["function"]
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise RecordError(f"{where} has no name")
    schema = spec.get("inputSchema", spec.get("input_schema", spec.get("parameters")))
    if schema is None:
        schema = {"type": "object", "properties": {}}
    if isinstance(schema, str):
        schema = loads_lenient(schema, f"the parameters of tool {name!r}")
    if not isinstance(schema, dict):
        raise RecordError(f"the parameters of tool {name!r} are not a JSON Schema object")
    tool: dict[str, Any] = {
        "name": name,
        "description": str(spec.get("description") or ""),
        "inputSchema": schema,
    }
    for key in ("outputSchema", "annotations", "title"):
        if spec.get(key) is not None:
            tool[key] = spec[key]
    return ToolDef.model_validate(tool).model_dump(mode="json", exclude_none=True)


def tools_from_list(value: Any, where: str = "tools") -> list[dict[str, Any]]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = loads_lenient(value, where)
    if isinstance(value, dict):
        value = value.get("tools", [value])
    if not isinstance(value, list):
        raise RecordError(f"{where} is not a list of tool definitions")
    return [tool_from_function(t, f"{where}[{i}]") for i, t in enumerate(value)]


def stub_tool(name: str) -> dict[str, Any]:
    """A permissive definition for a tool a transcript calls but does not define."""
    return {
        "name": name,
        "description": "(definition not in the source; imported from the calls)",
        "inputSchema": {"type": "object"},
    }


_JSON_START = re.compile(r"[\[{]")


def decode_json_objects(text: str) -> list[Any]:
    """Every top-level JSON value in free text (e.g. tool definitions listed in a system prompt)."""
    dec = json.JSONDecoder()
    out: list[Any] = []
    i = 0
    while True:
        m = _JSON_START.search(text, i)
        if m is None:
            return out
        try:
            obj, end = dec.raw_decode(text, m.start())
        except json.JSONDecodeError:
            i = m.start() + 1
            continue
        out.append(obj)
        i = end


def call_id(n: int) -> str:
    return f"call_{n}"
