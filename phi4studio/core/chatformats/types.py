"""Value types of the chat-format registry: rendered text with trained spans, parsed output,
streaming events and guided-decoding specs. Plain data, no behaviour beyond small helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypedDict


class ParsedCall(TypedDict):
    """A tool call read back from model output: arguments always a JSON object."""

    name: str
    arguments: dict[str, Any]


class Span(NamedTuple):
    """`text[start:end]` belongs to a message of `role`; `trained` marks the loss-bearing text.

    Roles are the canonical ones (system, user, assistant, tool) plus `other` for template text
    that belongs to no message (a trailing end-of-sequence token, for example).
    """

    start: int
    end: int
    trained: bool
    role: str


@dataclass(frozen=True)
class Rendered:
    """A conversation rendered for one model: the exact text and spans covering all of it.

    `spans` are sorted, contiguous and cover `text` from 0 to len(text). Trained spans are exactly
    the assistant turns: content, tool calls and the end-of-turn token (not the role header).
    """

    text: str
    spans: tuple[Span, ...]
    format: str
    warnings: tuple[str, ...] = ()

    def trained_text(self) -> str:
        return "".join(self.text[s.start : s.end] for s in self.spans if s.trained)

    def turns(self) -> list[str]:
        """The text of each trained span (one per assistant turn), in order."""
        return [self.text[s.start : s.end] for s in self.spans if s.trained]

    def to_json(self) -> dict[str, Any]:
        """`{"text", "spans": [[start, end, trained, role], ...], "format"}` for run folders."""
        return {
            "text": self.text,
            "spans": [[s.start, s.end, s.trained, s.role] for s in self.spans],
            "format": self.format,
        }


@dataclass
class ParsedOutput:
    """What a model said: its text, the tool calls it made, and every problem met on the way."""

    content: str = ""
    tool_calls: list[ParsedCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# --- streaming events ----------------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    """Text outside tool-call blocks, in order (raw: `ParsedOutput.content` is it, stripped)."""

    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ToolCallStarted:
    """A call began. `name` is None when its arguments arrive before its name."""

    index: int
    name: str | None
    type: Literal["tool_call_started"] = "tool_call_started"


@dataclass(frozen=True)
class ArgumentsDelta:
    """Raw JSON text of a call's arguments as it streams (for a live preview)."""

    index: int
    delta: str
    type: Literal["arguments_delta"] = "arguments_delta"


@dataclass(frozen=True)
class ToolCallDone:
    """A call is complete; `call` is final (the same as in the final ParsedOutput)."""

    index: int
    call: ParsedCall
    type: Literal["tool_call_done"] = "tool_call_done"


StreamEvent = TextDelta | ToolCallStarted | ArgumentsDelta | ToolCallDone


# --- guided decoding -----------------------------------------------------------------------


@dataclass(frozen=True)
class GuidanceSpec:
    """Input for onnxruntime-genai `GeneratorParams.set_guidance(type, text)`.

    `type` is "lark_grammar" or "json_schema". `payload_schema` is the JSON Schema of the tool-call
    payload (the JSON between the call markers) for validating output with `jsonschema`.
    """

    type: Literal["lark_grammar", "json_schema"]
    text: str
    payload_schema: dict[str, Any]
    tool_names: tuple[str, ...] = ()
