"""Claude Agent SDK / Claude Code session transcripts (JSONL under ~/.claude/projects/...).

Each line is one event: `{"type": "user"|"assistant", "uuid", "parentUuid", "isSidechain",
"sessionId", "message": {"role", "content": str | [blocks]}}`, where blocks are `text`,
`thinking`, `tool_use` {id, name, input} and `tool_result` {tool_use_id, content, is_error}.
Claude Code writes one line per content block, so assistant lines sharing `message.id` are merged
into one message. Other line types (summary, system, file-history-snapshot, ...) and `isMeta`
lines are metadata and are ignored. The main conversation and each sidechain (a sub-agent's own
thread) become separate examples. Tool names are kept as they are (`mcp__server__tool`); tools
come from a given catalog, else a permissive stub is made for each tool called.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from phi4studio.core.datasets.importers.common import ParseContext, Parsed, stub_tool
from phi4studio.core.datasets.importers.reading import Record

EXPECTED = 'a session event with "type": "user"|"assistant", "uuid" and "message"'
_EVENT_KEYS = ("uuid", "parentUuid", "sessionId", "leafUuid", "message", "messageId", "snapshot")
_TYPES = {
    "user", "assistant", "system", "summary", "file-history-snapshot", "queue-operation", "result",
}


def detect(rec: Any) -> bool:
    return (
        isinstance(rec, dict)
        and rec.get("type") in _TYPES
        and any(k in rec for k in _EVENT_KEYS)
        and not isinstance(rec.get("messages"), list)
    )


@dataclass
class _Chain:
    key: str
    first_line: int
    session: str
    sidechain: bool
    messages: list[dict[str, Any]] = field(default_factory=list)
    by_message_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    call_names: dict[str, str] = field(default_factory=dict)


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, dict) and p.get("type") == "text":
                parts.append(str(p.get("text", "")))
            elif isinstance(p, dict):
                parts.append(f"[{p.get('type', 'content')}]")
        text = "\n".join(parts)
    elif isinstance(content, str):
        text = content
    elif content is None:
        text = ""
    else:
        text = json.dumps(content, ensure_ascii=False)
    if block.get("is_error") and "error" not in text.lower()[:40]:
        text = f"Error: {text}"
    return text


def _add_assistant(chain: _Chain, msg: dict[str, Any]) -> None:
    blocks = msg.get("content")
    blocks = [{"type": "text", "text": blocks}] if isinstance(blocks, str) else (blocks or [])
    mid = str(msg.get("id") or "")
    target = chain.by_message_id.get(mid) if mid else None
    if target is None:
        target = {"role": "assistant", "content": ""}
    texts = [target["content"]] if target["content"] else []
    for b in blocks:
        if not isinstance(b, dict):
            continue
        if b.get("type") == "text" and str(b.get("text", "")).strip():
            texts.append(str(b["text"]))
        elif b.get("type") in ("tool_use", "server_tool_use"):
            call: dict[str, Any] = {
                "id": str(b.get("id")),
                "name": str(b.get("name")),
                "arguments": b.get("input") if isinstance(b.get("input"), dict) else {},
            }
            target.setdefault("tool_calls", []).append(call)
            chain.call_names[str(b.get("id"))] = str(b.get("name"))
    target["content"] = "\n\n".join(texts)
    if mid and mid in chain.by_message_id:
        return
    if target["content"] or target.get("tool_calls"):
        chain.messages.append(target)
        if mid:
            chain.by_message_id[mid] = target


def _add_user(chain: _Chain, msg: dict[str, Any]) -> None:
    content = msg.get("content")
    if isinstance(content, str):
        if content.strip():
            chain.messages.append({"role": "user", "content": content})
        return
    texts = []
    for b in content or []:
        if not isinstance(b, dict):
            continue
        if b.get("type") == "tool_result":
            cid = str(b.get("tool_use_id"))
            tool_msg = {"role": "tool", "content": _result_text(b), "tool_call_id": cid}
            if cid in chain.call_names:
                tool_msg["name"] = chain.call_names[cid]
            chain.messages.append(tool_msg)
        elif b.get("type") == "text" and str(b.get("text", "")).strip():
            texts.append(str(b["text"]))
    if texts:
        chain.messages.append({"role": "user", "content": "\n\n".join(texts)})


def parse_file(records: Iterable[Record], ctx: ParseContext) -> Iterator[Parsed]:
    chains: dict[str, _Chain] = {}
    side_root: dict[str, str] = {}  # uuid of a sidechain event -> its sidechain's root uuid
    for rec in records:
        value = rec.value
        if isinstance(value, Exception):
            yield Parsed(rec.line, error=str(value), unit=rec.unit)
            continue
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            yield Parsed(rec.line, error=f"expected {EXPECTED}", unit=rec.unit)
            continue
        if value.get("type") not in ("user", "assistant") or value.get("isMeta"):
            yield Parsed(rec.line, ignored=True, unit=rec.unit)
            continue
        msg = value.get("message")
        if not isinstance(msg, dict):
            yield Parsed(rec.line, error="a user/assistant event without a message object")
            continue
        session = str(value.get("sessionId") or ctx.stem)
        sidechain = bool(value.get("isSidechain"))
        key = session
        if sidechain:
            uid, parent = str(value.get("uuid")), str(value.get("parentUuid"))
            root = str(value.get("agentId") or side_root.get(parent, uid))
            side_root[uid] = root
            key = f"{session}:side:{root}"
        chain = chains.get(key)
        if chain is None:
            chain = chains[key] = _Chain(key, rec.line, session, sidechain)
        if value["type"] == "assistant":
            _add_assistant(chain, msg)
        else:
            _add_user(chain, msg)
    n_side = 0
    tools_given: list[dict[str, Any]] = list(ctx.extra.get("tools") or [])
    for chain in chains.values():
        if not chain.messages:
            continue
        if chain.sidechain:
            n_side += 1
        ex_id = f"{chain.session}-side-{n_side}" if chain.sidechain else chain.session
        known = {t["name"] for t in tools_given}
        called = dict.fromkeys(c for c in chain.call_names.values() if c not in known)
        tools = tools_given + [stub_tool(n) for n in called]
        warnings = []
        if called:
            warnings.append(
                f"{len(called)} tool(s) had no definition and got a permissive stub: "
                + ", ".join(called)
            )
        tags = ["claude-code"] + (["sidechain"] if chain.sidechain else [])
        example = {
            "id": ex_id, "messages": chain.messages, "tools": tools, "source": ctx.source,
            "tags": tags,
        }
        yield Parsed(chain.first_line, example=example, warnings=warnings)
