"""Reading tool calls back from model output, in one go or incrementally while it streams.

One scanner does both: `parse(text, spec)` feeds the whole text and finishes, `StreamParser` feeds
chunks as they come. Every decision the scanner takes depends only on text it has fully seen (a
possible marker at the end of a chunk waits for the next one), so the result is the same whatever
the chunking, by construction; the tests check it under random chunk boundaries.

Rules (per `ParserSpec`): text outside call blocks is content; a block runs from the open marker
to the close marker found outside JSON strings (or, with no close marker, to the end of the first
JSON value); an end-of-turn string ends the output and anything after it is ignored. Problems
(missing close marker, trailing junk, arguments as a JSON string, a single object where an array
is expected, truncated JSON, ...) are recorded in `errors`; parsing never raises.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Literal

from phi4studio.core.chatformats.payload import ARGUMENT_KEYS, decode_payload
from phi4studio.core.chatformats.types import (
    ArgumentsDelta,
    ParsedCall,
    ParsedOutput,
    StreamEvent,
    TextDelta,
    ToolCallDone,
    ToolCallStarted,
)

__all__ = ["ParserSpec", "StreamParser", "decode_payload", "parse"]



@dataclass(frozen=True)
class ParserSpec:
    """How one family marks tool calls in model output.

    `shape`: what a block holds: "array" (a JSON array of calls), "object" (one call per block) or
    "any". `bare_json`: whether output that is nothing but call JSON (no markers) is read as calls:
    "off", "quiet" (no error) or "error" (read, and recorded as a format error). `alternates`:
    other accepted blocks as (open, close, payload prefix), e.g. Phi-4-mini's `functools[...]`
    as ("functools[", None, "[") (the prefix is payload text the open marker swallowed).
    """

    open: str
    close: str | None
    shape: Literal["array", "object", "any"] = "any"
    stop: tuple[str, ...] = ()
    bare_json: Literal["off", "quiet", "error"] = "error"
    alternates: tuple[tuple[str, str | None, str], ...] = ()

    @property
    def blocks(self) -> dict[str, tuple[str | None, str]]:
        """Open marker -> (close marker, payload prefix)."""
        out = {self.open: (self.close, "")}
        for open_, close, prefix in self.alternates:
            out.setdefault(open_, (close, prefix))
        return out

    @property
    def markers(self) -> tuple[str, ...]:
        ends = [c for c, _ in self.blocks.values()]
        return tuple(m for m in (*self.blocks, *ends, *self.stop) if m)


def parse(text: str, spec: ParserSpec) -> ParsedOutput:
    """Content, tool calls and problems of a complete model output."""
    scanner = _Scanner(spec)
    scanner.feed(text)
    scanner.finish()
    return scanner.result()


class StreamParser:
    """Incremental parser: `feed(chunk)` returns events; `finish()` returns the last events, after
    which `result` equals `parse(full_text)`. Chunks may be str or UTF-8 bytes split anywhere."""

    def __init__(self, spec: ParserSpec) -> None:
        self._scanner = _Scanner(spec)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._finished = False

    def feed(self, chunk: str | bytes) -> list[StreamEvent]:
        if self._finished:
            raise RuntimeError("StreamParser.feed() after finish()")
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        return self._scanner.feed(text) if text else []

    def finish(self) -> list[StreamEvent]:
        if self._finished:
            return []
        self._finished = True
        tail = self._decoder.decode(b"", final=True)
        events = self._scanner.feed(tail) if tail else []
        return events + self._scanner.finish()

    @property
    def result(self) -> ParsedOutput:
        return self._scanner.result()


# --- the scanner ---------------------------------------------------------------------------


class _Block:
    """Lexer state inside one call block: JSON strings, depth, and the live call tracker."""

    def __init__(self, base_index: int, close: str | None) -> None:
        self.close = close
        self.payload: list[str] = []
        self.in_string = False
        self.escape = False
        self.depth = 0
        self.seen_container = False
        self.call_depth = 0  # 1: the payload is a call object; 2: an array of call objects
        self.base = base_index
        self.objects = -1  # index (in this block) of the call object being read
        self.mode = "none"  # key / colon / value / in_value, for the current call object
        self.key_raw: list[str] | None = None
        self.key = ""
        self.name_raw: list[str] | None = None
        self.capturing_args = False
        self.args_delta: list[str] = []
        self.started: set[int] = set()

    def text(self) -> str:
        return "".join(self.payload)


class _Scanner:
    def __init__(self, spec: ParserSpec) -> None:
        self.spec = spec
        self.pending = ""
        self.mode: Literal["text", "block", "stopped"] = "text"
        self.outside: list[str] = []
        self.calls: list[ParsedCall] = []
        self.errors: list[str] = []
        self.block: _Block | None = None
        self.started: set[int] = set()
        self.junk_after_stop = False
        self.finished = False
        self.bare_used = False
        self._blocks = spec.blocks
        self._starts = (*self._blocks, *spec.stop)
        self._text_prefixes = _proper_prefixes(self._starts)
        self._prefixes = _proper_prefixes(spec.markers)

    # -- public ---------------------------------------------------------------------------
    def feed(self, text: str) -> list[StreamEvent]:
        self.pending += text
        return self._advance(final=False)

    def finish(self) -> list[StreamEvent]:
        events = self._advance(final=True)
        self.finished = True
        if not self.calls and self.spec.bare_json != "off":
            events += self._bare_json()
        if self.junk_after_stop:
            self.errors.append("text after the end-of-turn marker was ignored")
        return events

    def result(self) -> ParsedOutput:
        content = "" if self.bare_used else "".join(self.outside).strip()
        return ParsedOutput(content, list(self.calls), list(self.errors))

    # -- driver ---------------------------------------------------------------------------
    def _advance(self, final: bool) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        while True:
            if self.mode == "stopped":
                if self.pending.strip():
                    self.junk_after_stop = True
                self.pending = ""
                return events
            if self.mode == "text":
                if not self._text_step(final, events):
                    return events
            elif not self._block_step(final, events):
                return events

    def _text_step(self, final: bool, events: list[StreamEvent]) -> bool:
        """Consume outside text; True when a marker switched the mode (loop again)."""
        hit, marker = _earliest(self.pending, self._starts)
        if hit >= 0:
            self._emit_text(self.pending[:hit], events)
            self.pending = self.pending[hit + len(marker) :]
            if marker in self._blocks:
                close, prefix = self._blocks[marker]
                self.mode = "block"
                self.block = _Block(len(self.calls), close)
                for c in prefix:
                    self.block.payload.append(c)
                    self._lex(self.block, c, events)
            else:
                self.mode = "stopped"
            return True
        keep = 0 if final else _held_back(self.pending, self._text_prefixes)
        self._emit_text(self.pending[: len(self.pending) - keep], events)
        self.pending = self.pending[len(self.pending) - keep :]
        return False

    def _emit_text(self, text: str, events: list[StreamEvent]) -> None:
        if text:
            self.outside.append(text)
            events.append(TextDelta(text))

    def _block_step(self, final: bool, events: list[StreamEvent]) -> bool:
        """Scan block characters; True when the block ended (loop again in text mode)."""
        b = self.block
        assert b is not None
        close = b.close
        text = self.pending
        i = 0
        n = len(text)
        ended: str | None = None
        while i < n:
            c = text[i]
            if not b.in_string:
                if close and text.startswith(close, i):
                    ended, i = "closed", i + len(close)
                    break
                if any(text.startswith(m, i) for m in self._starts):
                    ended = "interrupted"  # the marker stays in pending for text mode
                    break
                if not final and text[i:] in self._prefixes:
                    break  # maybe a marker: wait for more text
                if close is None and b.seen_container and b.depth == 0:
                    ended = "value"
                    break
                if close is None and not b.seen_container and not c.isspace() \
                        and c not in "{[":
                    ended = "value"
                    break
            b.payload.append(c)
            self._lex(b, c, events)
            i += 1
        self.pending = text[i:]
        if b.args_delta:
            events.append(ArgumentsDelta(b.base + b.objects, "".join(b.args_delta)))
            b.args_delta.clear()
        if ended is None and not final:
            return False
        payload = b.text()
        if ended is None:  # end of output inside the block
            if close and b.in_string and close in payload:
                cut = payload.index(close)
                self.errors.append(
                    f"unbalanced quotes in a tool call; it was closed at the first {close}"
                )
                self.pending = payload[cut + len(close) :] + self.pending
                payload = payload[:cut]
            elif close:
                self.errors.append(f"missing closing marker {close}")
        elif ended == "interrupted" and close:
            self.errors.append(f"missing closing marker {close}")
        self._close_block(payload, events)
        return True

    def _close_block(self, payload: str, events: list[StreamEvent]) -> None:
        b = self.block
        assert b is not None
        calls, errors = decode_payload(payload, self.spec.shape)
        self.errors.extend(errors)
        for call in calls:
            idx = len(self.calls)
            if idx not in self.started:
                self.started.add(idx)
                events.append(ToolCallStarted(idx, call["name"]))
            self.calls.append(call)
            events.append(ToolCallDone(idx, call))
        self.block = None
        self.mode = "text"

    # -- live call tracking (names and argument deltas while a block streams) ---------------
    def _lex(self, b: _Block, c: str, events: list[StreamEvent]) -> None:
        at_call = b.call_depth > 0 and b.depth == b.call_depth
        if b.in_string:
            if b.capturing_args:
                b.args_delta.append(c)
            if b.key_raw is not None:
                b.key_raw.append(c)
            if b.name_raw is not None:
                b.name_raw.append(c)
            if b.escape:
                b.escape = False
            elif c == "\\":
                b.escape = True
            elif c == '"':
                b.in_string = False
                self._string_closed(b, events)
            return
        if b.capturing_args and at_call and c in ",}":
            b.capturing_args = False
        if b.call_depth == 0 and c in "{[":
            b.call_depth = 1 if c == "{" else 2
        if c == '"':
            b.in_string = True
            if at_call and b.mode == "key":
                b.key_raw = [c]
            elif at_call and b.mode == "value":
                b.mode = "in_value"
                if b.key == "name":
                    b.name_raw = [c]
                self._value_start(b, c, events)
            elif b.capturing_args:
                b.args_delta.append(c)
            return
        if c.isspace():
            if b.capturing_args:
                b.args_delta.append(c)
            return
        if at_call and b.mode == "value":
            b.mode = "in_value"
            self._value_start(b, c, events)
        elif b.capturing_args:
            b.args_delta.append(c)
        if c in "{[":
            b.seen_container = True
            b.depth += 1
            if c == "{" and b.depth == b.call_depth:
                if b.args_delta:
                    events.append(ArgumentsDelta(b.base + b.objects, "".join(b.args_delta)))
                    b.args_delta.clear()
                b.objects += 1
                b.mode = "key"
        elif c in "}]":
            b.depth -= 1
        elif at_call and c == ":" and b.mode == "colon":
            b.mode = "value"
        elif at_call and c == ",":
            b.mode = "key"

    def _value_start(self, b: _Block, c: str, events: list[StreamEvent]) -> None:
        if b.key in ARGUMENT_KEYS:
            idx = b.base + b.objects
            if idx not in self.started:
                self.started.add(idx)
                events.append(ToolCallStarted(idx, None))
            b.capturing_args = True
            b.args_delta.append(c)

    def _string_closed(self, b: _Block, events: list[StreamEvent]) -> None:
        if b.key_raw is not None:
            b.key = _loads_str("".join(b.key_raw))
            b.key_raw = None
            b.mode = "colon"
        elif b.name_raw is not None:
            name = _loads_str("".join(b.name_raw))
            b.name_raw = None
            idx = b.base + b.objects
            if idx not in self.started and name:
                self.started.add(idx)
                events.append(ToolCallStarted(idx, name))
        if b.capturing_args and b.depth == b.call_depth:
            b.capturing_args = False  # arguments given as one JSON string

    # -- calls without markers ---------------------------------------------------------------
    def _bare_json(self) -> list[StreamEvent]:
        text = "".join(self.outside).strip()
        if not text or text[0] not in "{[" or self.errors:
            return []
        calls, errors = decode_payload(text, "any", strict=True)
        if not calls or errors:
            return []
        if self.spec.bare_json == "error":
            self.errors.append("tool call without markers")
        self.bare_used = True
        events: list[StreamEvent] = []
        for call in calls:
            idx = len(self.calls)
            events.append(ToolCallStarted(idx, call["name"]))
            self.calls.append(call)
            events.append(ToolCallDone(idx, call))
        return events


# --- helpers -------------------------------------------------------------------------------


def _loads_str(raw: str) -> str:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw.strip('"')
    return value if isinstance(value, str) else raw


def _proper_prefixes(markers: tuple[str, ...]) -> frozenset[str]:
    return frozenset(m[:k] for m in markers for k in range(1, len(m)))


def _held_back(text: str, prefixes: frozenset[str]) -> int:
    """Length of the longest suffix of `text` that may be the start of a marker."""
    longest = max((len(p) for p in prefixes), default=0)
    for k in range(min(longest, len(text)), 0, -1):
        if text[-k:] in prefixes:
            return k
    return 0


def _earliest(text: str, markers: tuple[str, ...]) -> tuple[int, str]:
    best, found = -1, ""
    for m in markers:
        if not m:
            continue
        i = text.find(m)
        if i != -1 and (best == -1 or i < best or (i == best and len(m) > len(found))):
            best, found = i, m
    return best, found
