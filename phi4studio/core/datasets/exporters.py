"""Exporters: canonical JSONL, OpenAI fine-tuning JSONL, ShareGPT/Hermes JSONL, TRL JSONL.

    export_jsonl(store, path, "openai", flt=ExampleFilter(split="train"))

Streams the store in batches and writes through a temp file renamed into place, so a cancelled or
failed export leaves no half file. Each format's record converter (to_openai, to_sharegpt, ...) is
public for previews. Rendered prompt text for a model family is the chat-format registry's job.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.importers.sharegpt import HERMES_SYSTEM
from phi4studio.core.datasets.schema import Example
from phi4studio.core.fileio import atomic_open

if TYPE_CHECKING:
    from phi4studio.core.datasets.query import ExampleFilter
    from phi4studio.core.datasets.store import DatasetStore

Record = dict[str, Any]


def _d(ex: Example | Mapping[str, Any]) -> Mapping[str, Any]:
    return ex.to_dict() if isinstance(ex, Example) else ex


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def openai_tool(tool: Mapping[str, Any]) -> Record:
    return {
        "type": "function",
        "function": {
            "name": tool["name"],
            "description": tool.get("description", ""),
            "parameters": tool.get("inputSchema") or {"type": "object", "properties": {}},
        },
    }


def to_canonical(ex: Example | Mapping[str, Any]) -> Record:
    return dict(_d(ex))


def _openai_messages(d: Mapping[str, Any], *, args_as_string: bool) -> list[Record]:
    out: list[Record] = []
    for m in d.get("messages") or []:
        role = m["role"]
        if role == "assistant" and m.get("tool_calls"):
            out.append({
                "role": "assistant",
                "content": m.get("content") or None,
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {
                            "name": c["name"],
                            "arguments": _dumps(c["arguments"]) if args_as_string
                            else c["arguments"],
                        },
                    }
                    for c in m["tool_calls"]
                ],
            })
        elif role == "tool":
            msg: Record = {"role": "tool", "tool_call_id": m.get("tool_call_id", ""),
                           "content": m.get("content", "")}
            if not args_as_string and m.get("name"):
                msg["name"] = m["name"]
            out.append(msg)
        else:
            out.append({"role": role, "content": m.get("content", "")})
    return out


def to_openai(ex: Example | Mapping[str, Any]) -> Record:
    """OpenAI chat fine-tuning: arguments as JSON strings, tools as functions."""
    d = _d(ex)
    rec: Record = {"messages": _openai_messages(d, args_as_string=True)}
    if d.get("tools"):
        rec["tools"] = [openai_tool(t) for t in d["tools"]]
    return rec


def to_trl(ex: Example | Mapping[str, Any]) -> Record:
    """TRL conversational rows: arguments as objects (what chat templates with tools expect)."""
    d = _d(ex)
    rec: Record = {"messages": _openai_messages(d, args_as_string=False)}
    if d.get("tools"):
        rec["tools"] = [openai_tool(t) for t in d["tools"]]
    return rec


def to_sharegpt(ex: Example | Mapping[str, Any]) -> Record:
    """ShareGPT / Hermes: tools in the system turn, <tool_call> and <tool_response> blocks."""
    d = _d(ex)
    msgs = list(d.get("messages") or [])
    conv: list[Record] = []
    system = ""
    if msgs and msgs[0]["role"] == "system":
        system = msgs.pop(0).get("content", "")
    if d.get("tools"):
        tools_text = _dumps([openai_tool(t) for t in d["tools"]])
        system = (system + "\n\n" if system else "") + HERMES_SYSTEM.format(tools=tools_text)
    if system:
        conv.append({"from": "system", "value": system})
    for m in msgs:
        role = m["role"]
        if role == "tool":
            block = "<tool_response>\n" + _dumps(
                {"name": m.get("name", ""), "content": m.get("content", "")}
            ) + "\n</tool_response>"
            if conv and conv[-1]["from"] == "tool":
                conv[-1]["value"] += "\n" + block
            else:
                conv.append({"from": "tool", "value": block})
        elif role == "assistant":
            parts = [m["content"]] if m.get("content") else []
            for c in m.get("tool_calls") or []:
                parts.append(
                    "<tool_call>\n" + _dumps({"name": c["name"], "arguments": c["arguments"]})
                    + "\n</tool_call>"
                )
            conv.append({"from": "gpt", "value": "\n".join(parts)})
        else:
            conv.append({"from": "human" if role == "user" else role,
                         "value": m.get("content", "")})
    rec: Record = {"id": d["id"], "conversations": conv}
    for key in ("scenario", "split"):
        if d.get(key):
            rec[key] = d[key]
    if d.get("tags"):
        rec["tags"] = d["tags"]
    return rec


@dataclass(frozen=True)
class ExportFormat:
    name: str
    title: str
    convert: Callable[[Example | Mapping[str, Any]], Record]


EXPORT_FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("canonical", "Phi-4 Studio canonical JSONL", to_canonical),
        ExportFormat("openai", "OpenAI fine-tuning JSONL", to_openai),
        ExportFormat("sharegpt", "ShareGPT / Hermes JSONL", to_sharegpt),
        ExportFormat("trl", "TRL conversational JSONL", to_trl),
    )
}


@dataclass(frozen=True)
class ExportReport:
    path: str
    format: str
    written: int


def export_jsonl(
    source: DatasetStore | Iterable[Example | Mapping[str, Any]],
    path: Path,
    fmt: str = "canonical",
    *,
    flt: ExampleFilter | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ExportReport:
    if fmt not in EXPORT_FORMATS:
        raise DatasetError(
            f"Unknown export format {fmt!r}.", hint=f"Choose one of: {', '.join(EXPORT_FORMATS)}."
        )
    from phi4studio.core.datasets.store import DatasetStore

    convert = EXPORT_FORMATS[fmt].convert
    if isinstance(source, DatasetStore):
        total = source.count(flt)
        items: Iterable[Example | Mapping[str, Any]] = source.iter_dicts(flt)
    else:
        total, items = 0, source
    n = 0
    with atomic_open(Path(path), "w") as fh:
        for ex in items:
            if n % 500 == 0:
                if cancelled is not None and cancelled():
                    from phi4studio.core.jobs.model import JobCancelled

                    raise JobCancelled()
                if progress is not None and total:
                    progress(n / total, f"{n} of {total} example(s) written")
            fh.write(_dumps(convert(ex)) + "\n")
            n += 1
    if progress is not None:
        progress(1.0, f"{n} example(s) written")
    return ExportReport(str(path), fmt, n)
