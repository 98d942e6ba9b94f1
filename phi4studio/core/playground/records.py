"""Plain data of the Playground: generation settings, one record per model turn and per tool
call, and the events a ChatSession tells its listeners. No behaviour beyond small helpers."""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from phi4studio.core.chatformats import ParsedOutput
from phi4studio.core.datasets.workflows import ArgIssue
from phi4studio.core.mcp.session import ToolOutcome

ToolChoice = Literal["auto", "required"]


@dataclass
class GenerationSettings:
    """What the settings panel edits. `guided`: constrain tool calls to the offered tools'
    schemas with a grammar (on by default; it applies only when tools are offered).
    `tool_choice`: "auto" lets the model answer in text or call tools; "required" makes it call
    (guided only). `max_calls`: at most this many calls in one turn (guided only).
    `tool_words`: weigh the choice of a tool's name by the request's words (guided only;
    core.inference.relevance), as the quick start's evaluation does."""

    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.0
    seed: int | None = None
    greedy: bool = False
    guided: bool = True
    tool_choice: ToolChoice = "auto"
    max_calls: int | None = 4
    tool_words: bool = True

    def problems(self) -> list[str]:
        out = []
        if self.max_new_tokens < 1:
            out.append("max new tokens must be at least 1")
        if self.temperature < 0:
            out.append("temperature must be >= 0")
        if not 0 <= self.top_p <= 1:
            out.append("top-p must be between 0 and 1")
        if self.top_k < 0:
            out.append("top-k must be >= 0")
        if self.repetition_penalty <= 0:
            out.append("repetition penalty must be > 0")
        if self.seed is not None and self.seed < 0:
            out.append("the seed must be >= 0")
        if self.max_calls is not None and self.max_calls < 1:
            out.append("max calls must be at least 1")
        return out

    def request_fields(self) -> dict[str, Any]:
        """The sampling fields of a GenerateRequest."""
        return {
            "max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
            "top_p": self.top_p, "top_k": self.top_k,
            "repetition_penalty": self.repetition_penalty, "seed": self.seed,
            "greedy": self.greedy,
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CallStatus(str, enum.Enum):
    PENDING = "pending"  # waiting for the user's decision
    RUNNING = "running"
    DONE = "done"  # ran; the tool answered
    FAILED = "failed"  # ran; error, timeout or crash (the model is told)
    DENIED = "denied"
    MOCKED = "mocked"  # the user typed the result
    CANCELLED = "cancelled"  # the turn was stopped before the call was settled

    @property
    def settled(self) -> bool:
        return self is not CallStatus.PENDING and self is not CallStatus.RUNNING


@dataclass
class CallRecord:
    """One tool call the model made, as a card shows it and as the conversation keeps it."""

    id: str
    index: int
    name: str
    arguments: dict[str, Any]
    original_arguments: dict[str, Any]
    tool: dict[str, Any] | None  # the offered definition; None: the model named an unknown tool
    issues: list[ArgIssue] = field(default_factory=list)  # against the tool's inputSchema
    guided: bool = False
    turn: int = 0
    status: CallStatus = CallStatus.PENDING
    outcome: ToolOutcome | None = None
    edited: bool = False
    auto_approved: bool = False  # ran without asking (the user always-allowed this tool)
    # required arguments whose values the conversation does not state (made up?): the call
    # then always asks for approval (core.inference.grounding)
    unstated: list[str] = field(default_factory=list)
    # the token budget ran out inside this call and decoding closed it, each value ended as
    # soon as the grammar allowed (CallControl.close_reserve): values may be cut short, so the
    # call always asks for approval
    cut_short: bool = False

    @property
    def valid(self) -> bool:
        return self.tool is not None and not self.issues

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "arguments": self.arguments,
            "original_arguments": self.original_arguments, "known_tool": self.tool is not None,
            "valid": self.valid,
            "issues": [{"path": i.path, "message": i.message} for i in self.issues],
            "guided": self.guided, "status": self.status.value, "edited": self.edited,
            "auto_approved": self.auto_approved, "unstated": self.unstated,
            "cut_short": self.cut_short,
            "outcome": self.outcome.to_json() if self.outcome else None,
        }


@dataclass
class TurnRecord:
    """One generation: what the model saw and said, how fast, and what was read from it."""

    index: int
    model: str = ""
    adapter: str | None = None
    prompt: str = ""
    guided: bool = False
    guidance_type: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    raw_text: str = ""  # with special tokens, exactly as streamed
    parsed: ParsedOutput | None = None
    calls: list[CallRecord] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None
    decode_tokens_per_s: float | None = None
    total_s: float | None = None
    stop_reason: str | None = None
    seed: int | None = None
    restarted: str | None = None  # the worker had died and was restarted for this turn
    # what call control did (docs/inference.md): repeats_dropped, cut_call_dropped,
    # close_mended, loops_broken, closed_at_budget, names_weighed
    control: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None
    finished: bool = False

    @property
    def content(self) -> str:
        return self.parsed.content if self.parsed else ""

    @property
    def parse_errors(self) -> list[str]:
        return list(self.parsed.errors) if self.parsed else []

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "model": self.model, "adapter": self.adapter,
            "prompt": self.prompt, "guided": self.guided, "guidance_type": self.guidance_type,
            "settings": self.settings, "raw_text": self.raw_text, "content": self.content,
            "parse_errors": self.parse_errors, "calls": [c.to_json() for c in self.calls],
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "ttft_s": self.ttft_s, "decode_tokens_per_s": self.decode_tokens_per_s,
            "total_s": self.total_s, "stop_reason": self.stop_reason, "seed": self.seed,
            "restarted": self.restarted, "error": self.error, "control": self.control,
        }


EventKind = Literal[
    "turn_started",  # turn
    "restart",  # turn, text: the worker was restarted (it had died)
    "text",  # turn, text: model text outside calls (raw, streamed)
    "call_started",  # turn, index, text: the tool name (may be "")
    "arguments",  # turn, index, text: raw JSON of the arguments as it streams
    "call_parsed",  # turn, index, data: {"name", "arguments"} (final)
    "tokens",  # turn, text: the raw token text (special tokens kept)
    "turn_finished",  # turn (calls are in turn.calls)
    "turn_failed",  # turn (turn.error)
    "call_updated",  # turn, call
    "messages",  # the conversation changed (user message, tool results, reset)
]


@dataclass(frozen=True)
class SessionEvent:
    kind: EventKind
    turn: TurnRecord | None = None
    call: CallRecord | None = None
    text: str = ""
    index: int = -1
    data: Any = None
