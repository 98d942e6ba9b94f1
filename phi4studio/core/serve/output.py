"""From the worker's streamed text to what an API returns: text deltas, complete tool calls and
the finish (reason, content, calls, token counts).

- `StopScanner` cuts the output at the first stop string, holding back text that may be the
  start of one, so a stop sequence never reaches the client (the APIs leave it out).
- `TextShaper` drops leading whitespace and holds trailing whitespace until more text follows:
  the streamed text then equals the non-streamed `content`.
- `OutputAssembler` runs both and, for requests with tools, the chat format's stream parser.
  Calls are emitted whole (name and final JSON arguments) when the parser has read them; with
  guided decoding a call that does not validate against its tool's schema (the output was cut
  by max_tokens) is dropped, so every returned call is valid.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length", "tool_calls", "stop_sequence"]


class StopScanner:
    def __init__(self, stops: Iterable[str]) -> None:
        self.stops = [s for s in dict.fromkeys(stops) if s]
        self.hit: str | None = None
        self._buf = ""

    def feed(self, text: str) -> str:
        """The part of `text` that is certainly before any stop string."""
        if self.hit is not None:
            return ""
        if not self.stops:
            return text
        buf = self._buf + text
        best: tuple[int, str] | None = None
        for s in self.stops:
            i = buf.find(s)
            if i >= 0 and (best is None or i < best[0]):
                best = (i, s)
        if best is not None:
            self.hit = best[1]
            self._buf = ""
            return buf[: best[0]]
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(buf)), hold, -1):
                if buf.endswith(s[:k]):
                    hold = k
                    break
        self._buf = buf[len(buf) - hold:] if hold else ""
        return buf[: len(buf) - hold] if hold else buf

    def finish(self) -> str:
        out, self._buf = ("" if self.hit is not None else self._buf), ""
        return out


class TextShaper:
    def __init__(self) -> None:
        self._started = False
        self._pending = ""
        self.text = ""  # everything released so far

    def feed(self, text: str) -> str:
        if not self._started:
            text = text.lstrip()
            if not text:
                return ""
            self._started = True
        body = text.rstrip()
        if not body:
            self._pending += text
            return ""
        out = self._pending + body
        self._pending = text[len(body):]
        self.text += out
        return out

    def drop_pending(self) -> None:
        self._pending = ""


@dataclass
class ToolCall:
    index: int
    id: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass
class Finish:
    reason: FinishReason
    content: str
    calls: list[ToolCall]
    prompt_tokens: int
    completion_tokens: int
    stop_sequence: str | None = None
    worker_reason: str = ""
    raw_text: str = ""
    problems: list[str] = field(default_factory=list)
    dropped_calls: int = 0


@dataclass
class TextOut:
    text: str


@dataclass
class CallOut:
    call: ToolCall


OutputEvent = TextOut | CallOut


def new_call_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


class OutputAssembler:
    """One generation's output. `feed(text)` and `finish(result)` return OutputEvents."""

    def __init__(
        self,
        *,
        parser: Any | None,  # a chat-format StreamParser, or None for text only
        end_of_turn: Sequence[str],
        user_stops: Sequence[str],
        validators: dict[str, Any] | None = None,  # tool name -> jsonschema validator (guided)
        max_calls: int | None = None,
        call_id_prefix: str = "call_",
    ) -> None:
        self.parser = parser
        self.user_stops = list(user_stops)
        stops = self.user_stops if parser is not None else [*self.user_stops, *end_of_turn]
        self.scanner = StopScanner(stops)
        self.shaper = TextShaper()
        self.validators = validators
        self.max_calls = max_calls
        self.prefix = call_id_prefix
        self.calls: list[ToolCall] = []
        self.dropped = 0
        self.raw: list[str] = []

    def feed(self, text: str) -> list[OutputEvent]:
        self.raw.append(text)
        return self._route(self.scanner.feed(text), final=False)

    def finish(self, result: dict[str, Any]) -> tuple[list[OutputEvent], Finish]:
        events = self._route(self.scanner.finish(), final=True)
        problems: list[str] = []
        if self.parser is not None:
            problems = list(self.parser.result.errors)
        worker_reason = str(result.get("stop_reason") or "")
        hit = self.scanner.hit
        reason: FinishReason
        if worker_reason in ("max_tokens", "context_length") and hit is None:
            reason = "length"
        elif hit is not None and hit in self.user_stops:
            reason = "stop_sequence"
        elif self.calls:
            reason = "tool_calls"
        else:
            reason = "stop"
        finish = Finish(
            reason=reason,
            content=self.shaper.text,
            calls=list(self.calls),
            prompt_tokens=int(result.get("prompt_tokens") or 0),
            completion_tokens=int(result.get("completion_tokens") or 0),
            stop_sequence=hit if reason == "stop_sequence" else None,
            worker_reason=worker_reason,
            raw_text="".join(self.raw),
            problems=problems,
            dropped_calls=self.dropped,
        )
        return events, finish

    def _route(self, text: str, *, final: bool) -> list[OutputEvent]:
        out: list[OutputEvent] = []
        if self.parser is None:
            shaped = self.shaper.feed(text) if text else ""
            if shaped:
                out.append(TextOut(shaped))
            return out
        events = list(self.parser.feed(text)) if text else []
        if final:
            events += self.parser.finish()
        for ev in events:
            kind = getattr(ev, "type", "")
            if kind == "text":
                shaped = self.shaper.feed(ev.text)
                if shaped:
                    out.append(TextOut(shaped))
            elif kind == "tool_call_started":
                self.shaper.drop_pending()
            elif kind == "tool_call_done":
                call = self._accept(ev.call)
                if call is not None:
                    out.append(CallOut(call))
        return out

    def _accept(self, parsed: Any) -> ToolCall | None:
        name = str(parsed.get("name") or "")
        args = parsed.get("arguments")
        args = dict(args) if isinstance(args, dict) else {}
        if self.max_calls is not None and len(self.calls) >= self.max_calls:
            self.dropped += 1
            return None
        if self.validators is not None:
            validator = self.validators.get(name)
            if validator is None or not validator.is_valid(args):
                self.dropped += 1
                return None
        call = ToolCall(len(self.calls), new_call_id(self.prefix), name, args)
        self.calls.append(call)
        return call
