"""Generation requests as the inference worker reads them: one definition for both sides.

The app builds a `GenerateRequest` and sends `request.to_command()` on the worker's stdin; the
worker rebuilds it with `GenerateRequest.from_command(cmd)`, which validates every field and raises
`RequestError` with a message that names the field. The wire format is documented in
docs/inference.md.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from phi4studio.core.errors import StudioError

GuidanceType = Literal["json_schema", "lark_grammar", "regex"]
GUIDANCE_TYPES: tuple[str, ...] = ("json_schema", "lark_grammar", "regex")
DEFAULT_MAX_NEW_TOKENS = 256

# The reasons a generation ends (`result.stop_reason`).
STOP_EOS = "eos"  # the model produced an end-of-sequence token
STOP_MAX_TOKENS = "max_tokens"  # max_new_tokens were generated
STOP_CONTEXT = "context_length"  # the model's context window is full
STOP_STRING = "stop_string"  # one of the request's stop strings appeared
STOP_STOPPED = "stopped"  # a `stop` command (or the worker shutting down)
STOP_TEXT_LIMIT = "text_limit"  # decided as a text answer, and `calls.text_tokens` were generated
STOP_REPEAT = "repeated_call"  # the model began repeating a call of this answer (`calls`)
STOP_REASONS = (STOP_EOS, STOP_MAX_TOKENS, STOP_CONTEXT, STOP_STRING, STOP_STOPPED,
                STOP_TEXT_LIMIT, STOP_REPEAT)


class RequestError(StudioError):
    """A generation request the worker refuses (bad field, bad grammar, prompt too long)."""

    def __init__(self, message: str, *, code: str = "bad_request", hint: str | None = None):
        super().__init__(message, hint=hint)
        self.code = code


@dataclass(frozen=True)
class Guidance:
    """Guided decoding (llguidance in onnxruntime-genai): output constrained to `text`.

    `ff_tokens` lets the grammar insert forced tokens without running the model for them (faster;
    the tokens still arrive as token events).
    """

    type: GuidanceType
    text: str
    ff_tokens: bool = False

    @classmethod
    def json_schema(cls, schema: Mapping[str, Any] | str, *, ff_tokens: bool = False) -> Guidance:
        text = schema if isinstance(schema, str) else json.dumps(schema)
        return cls("json_schema", text, ff_tokens)

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text, "ff_tokens": self.ff_tokens}


LOOP_TOKENS = 24  # CallControl.loop_tokens: a looping value is broken after this many tokens
CLOSE_RESERVE = 32  # CallControl.close_reserve: the last tokens of the budget close a first call


@dataclass(frozen=True)
class CallControl:
    """Tool-call decoding the grammar cannot express (docs/inference.md, "Call control").

    - `threshold`: the first step decides between a call and a text answer by probability
      mass: the model's probability for the first token of `marker` against all the rest.
      Greedy decoding compares the marker with the single likeliest other token, so a model
      that spreads a "no" over many ways to start a sentence calls even when a call is the
      less likely answer. The answer is a call when P(marker) >= threshold (the result reports
      it as `p_call`); the whole marker is then written, else the marker's first token is
      barred from that step. None: the sampler decides as usual (`p_call` is still reported).
    - `text_tokens`: once the first token is not the marker, stop after this many tokens (an
      evaluation that scores only calls, with a grammar where calls come first).
    - `stop_repeats`: a call that repeats one already made in this answer, to the character,
      ends it: the output is cut after the call before it and closed with `close` (the
      syntax's end of a call list, e.g. `]</tool_call>`).
    - `loop_tokens`: inside a call, once the last `loop_tokens` tokens repeat a cycle of at
      most 32 tokens (`/1000/1000/1000...`, a run of newlines), the next step bars the token
      that would continue the cycle and puts first the tokens that end the value, so it ends
      instead of filling the budget and leaving the call invalid JSON. 0: off.
    - `close_reserve`: under guided decoding, once no more than `close_reserve` tokens of the
      budget (at most a quarter of it) are left while the answer's first call is still open,
      every step puts first the tokens that end the value being written (a closing quote, `]`
      or `}`, then `,`), so the call closes as the grammar requires instead of being cut off
      as invalid JSON (the result's `closed_at_budget` counts the steps). With `stop_repeats`
      a later call the budget cuts off is dropped instead; without it every call is closed
      so. 0: off.
    - `between` and `more_threshold`: where each call is a block of its own (`close` ends a
      call, `between` goes before the next one), the step after a call's `close` decides
      between another call and the end of the answer. The result reports, for each such step,
      `p_more`: the probability of `between`'s first token against that of ending (the two
      choices the calls-first grammar leaves). With `more_threshold`, another call follows when
      p_more >= more_threshold, else the answer ends; None: the sampler decides as usual.
      Guidance that fast-forwards forced tokens (`ff_tokens`) writes a call's close and the
      choice after it in one step, where no `p_more` can be read: a `more_threshold` turns
      fast-forwarding off for its request.
    - `names`: a prior over the offered tools' names (name -> weight, in nats), added to the
      model's logits while it writes a call's tool name: at each step, the tokens that go on
      with a name that weighs less than the best name the prefix still allows lose the
      difference (core.inference.relevance weighs the tools by the request's words). The
      grammar still decides which names are allowed; a name the prior does not list is left
      alone. The result counts the steps it changed (`names_weighed`).
    """

    marker: str
    close: str = ""
    threshold: float | None = None
    text_tokens: int | None = None
    stop_repeats: bool = True
    loop_tokens: int = LOOP_TOKENS
    between: str = ""
    more_threshold: float | None = None
    close_reserve: int = CLOSE_RESERVE
    names: Mapping[str, float] | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "marker": self.marker, "close": self.close, "threshold": self.threshold,
            "text_tokens": self.text_tokens, "stop_repeats": self.stop_repeats,
            "loop_tokens": self.loop_tokens, "between": self.between,
            "more_threshold": self.more_threshold, "close_reserve": self.close_reserve}
        if self.names:
            wire["names"] = dict(self.names)
        return wire

    @classmethod
    def from_wire(cls, value: Any) -> CallControl | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise RequestError("'calls' must be an object {marker, close, threshold, ...} or null")
        marker, close = value.get("marker"), value.get("close", "")
        if not isinstance(marker, str) or not marker:
            raise RequestError("calls.marker must be a non-empty string")
        if not isinstance(close, str):
            raise RequestError("calls.close must be a string")
        between = value.get("between", "")
        if not isinstance(between, str):
            raise RequestError("calls.between must be a string")
        try:
            threshold = _float(value, "threshold", low=0.0, high=1.0)
            text_tokens = _int(value, "text_tokens", None, low=1)
            repeats = _bool(value, "stop_repeats", True)
            loop = _int(value, "loop_tokens", LOOP_TOKENS, low=0)
            more = _float(value, "more_threshold", low=0.0, high=1.0)
            reserve = _int(value, "close_reserve", CLOSE_RESERVE, low=0)
        except RequestError as exc:
            raise RequestError(f"calls: {exc.message}") from exc
        names = value.get("names")
        if names is not None and not (
                isinstance(names, Mapping) and all(
                    isinstance(k, str) and k and isinstance(v, (int, float))
                    and not isinstance(v, bool) and math.isfinite(v) for k, v in names.items())):
            raise RequestError("calls.names must be an object of tool name -> finite number")
        if more is not None and not (close and between):
            raise RequestError("calls.more_threshold needs calls.close and calls.between (one "
                               "block per call)")
        return cls(marker, close, threshold, text_tokens, repeats is not False, loop, between,
                   more, reserve, {k: float(v) for k, v in names.items()} if names else None)


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class GenerateRequest:
    """One generation. Exactly one of `prompt` (text, tokenized as is), `messages` (rendered by
    the model folder's chat template, with `tools` when given) and `prompt_ids` (token ids, for
    exact comparisons such as export verification).

    Sampling fields left at None use the model folder's genai_config.json `search` defaults.
    `greedy=True` (or `temperature=0`) takes the most likely token at every step and ignores
    temperature, top_p, top_k and seed.
    """

    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    prompt_ids: list[int] | None = None
    tools: list[dict[str, Any]] | None = None
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    greedy: bool = False
    guidance: Guidance | None = None
    calls: CallControl | None = None
    stop: list[str] = field(default_factory=list)
    # None: the worker's active adapter (set_adapter); "" : the base model; a name: that adapter.
    adapter: str | None = None
    # Tokenizer special tokens (BOS...) added to the prompt; None: yes for `prompt`, no for
    # `messages` (the chat template writes them itself).
    add_special_tokens: bool | None = None
    # Return the exact prompt text in the result; None: only when it was rendered from messages.
    echo_prompt: bool | None = None
    id: str = field(default_factory=new_request_id)

    # --- wire ---------------------------------------------------------------------------------
    def to_command(self) -> dict[str, Any]:
        cmd: dict[str, Any] = {"cmd": "generate", "id": self.id,
                               "max_new_tokens": self.max_new_tokens, "greedy": self.greedy}
        if self.prompt is not None:
            cmd["prompt"] = self.prompt
        if self.messages is not None:
            cmd["messages"] = self.messages
        if self.prompt_ids is not None:
            cmd["prompt_ids"] = list(self.prompt_ids)
        if self.tools is not None:
            cmd["tools"] = self.tools
        for name in ("temperature", "top_p", "top_k", "repetition_penalty", "seed", "adapter",
                     "add_special_tokens", "echo_prompt"):
            value = getattr(self, name)
            if value is not None:
                cmd[name] = value
        cmd["guidance"] = self.guidance.to_wire() if self.guidance else None
        if self.calls is not None:
            cmd["calls"] = self.calls.to_wire()
        if self.stop:
            cmd["stop"] = list(self.stop)
        return cmd

    @classmethod
    def from_command(cls, cmd: Mapping[str, Any]) -> GenerateRequest:
        """Validate a `generate` command; RequestError names the first bad field."""
        rid = cmd.get("id")
        if rid is None:
            rid = new_request_id()
        elif not isinstance(rid, (str, int)) or isinstance(rid, bool):
            raise RequestError("'id' must be a string")
        prompt, messages, ids = cmd.get("prompt"), cmd.get("messages"), cmd.get("prompt_ids")
        if sum(x is not None for x in (prompt, messages, ids)) != 1:
            raise RequestError("give exactly one of 'prompt' (text), 'messages' (a list) and "
                               "'prompt_ids' (token ids)")
        if prompt is not None and not isinstance(prompt, str):
            raise RequestError("'prompt' must be a string")
        if ids is not None and (
            not isinstance(ids, list) or not ids
            or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in ids)
        ):
            raise RequestError("'prompt_ids' must be a non-empty list of token ids")
        if messages is not None:
            messages = _messages(messages)
        tools = cmd.get("tools")
        if tools is not None:
            if messages is None:
                raise RequestError("'tools' needs 'messages' (the chat template renders them)")
            if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
                raise RequestError("'tools' must be a list of objects")
        stop = cmd.get("stop") or []
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
            raise RequestError("'stop' must be a list of non-empty strings")
        return cls(
            prompt=prompt,
            messages=messages,
            prompt_ids=list(ids) if ids is not None else None,
            tools=tools,
            max_new_tokens=_int(cmd, "max_new_tokens", DEFAULT_MAX_NEW_TOKENS, low=1),
            temperature=_float(cmd, "temperature", low=0.0),
            top_p=_float(cmd, "top_p", low=0.0, high=1.0),
            top_k=_int(cmd, "top_k", None, low=0),
            repetition_penalty=_float(cmd, "repetition_penalty", low=0.0, exclusive_low=True),
            seed=_int(cmd, "seed", None, low=0),
            greedy=_bool(cmd, "greedy", False) is True,
            guidance=_guidance(cmd.get("guidance")),
            calls=CallControl.from_wire(cmd.get("calls")),
            stop=list(stop),
            adapter=_opt_str(cmd, "adapter"),
            add_special_tokens=_bool(cmd, "add_special_tokens", None),
            echo_prompt=_bool(cmd, "echo_prompt", None),
            id=str(rid),
        )

    # --- derived ------------------------------------------------------------------------------
    @property
    def is_greedy(self) -> bool:
        return self.greedy or self.temperature == 0.0


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise RequestError("'messages' must be a non-empty list")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise RequestError(f"messages[{i}] must be an object with a 'role'")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise RequestError(f"messages[{i}].content must be a string")
    return list(value)


def _guidance(value: Any) -> Guidance | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RequestError("'guidance' must be an object {type, text} or null")
    kind, text = value.get("type"), value.get("text")
    if kind not in GUIDANCE_TYPES:
        raise RequestError(f"guidance.type must be one of {', '.join(GUIDANCE_TYPES)}",
                           code="bad_guidance")
    if isinstance(text, (dict, list)) and kind == "json_schema":
        text = json.dumps(text)
    if not isinstance(text, str) or not text.strip():
        raise RequestError("guidance.text must be a non-empty string", code="bad_guidance")
    ff = value.get("ff_tokens", False)
    if not isinstance(ff, bool):
        raise RequestError("guidance.ff_tokens must be true or false", code="bad_guidance")
    return Guidance(kind, text, ff)


def _int(cmd: Mapping[str, Any], name: str, default: int | None, *, low: int) -> Any:
    value = cmd.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise RequestError(f"'{name}' must be an integer")
    if value < low:
        raise RequestError(f"'{name}' must be >= {low}")
    return int(value)


def _float(
    cmd: Mapping[str, Any],
    name: str,
    *,
    low: float,
    high: float | None = None,
    exclusive_low: bool = False,
) -> float | None:
    value = cmd.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError(f"'{name}' must be a number")
    if value < low or (exclusive_low and value == low) or (high is not None and value > high):
        bound = f"> {low}" if exclusive_low else f">= {low}"
        if high is not None:
            bound += f" and <= {high}"
        raise RequestError(f"'{name}' must be {bound}")
    return float(value)


def _bool(cmd: Mapping[str, Any], name: str, default: bool | None) -> bool | None:
    value = cmd.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RequestError(f"'{name}' must be true or false")
    return value


def _opt_str(cmd: Mapping[str, Any], name: str) -> str | None:
    value = cmd.get(name)
    if value is not None and not isinstance(value, str):
        raise RequestError(f"'{name}' must be a string or null")
    return value


def as_request(value: GenerateRequest | Mapping[str, Any] | str) -> GenerateRequest:
    """A request from a GenerateRequest, a command-like mapping or plain prompt text."""
    if isinstance(value, GenerateRequest):
        return value
    if isinstance(value, str):
        return GenerateRequest(prompt=value)
    return GenerateRequest.from_command({"cmd": "generate", **value})


def stop_strings_hit(text: str, stops: Sequence[str], new_from: int) -> int | None:
    """Index where the first stop string starts in `text`, looking only at what could contain
    characters from `new_from` on; None when no stop string is there."""
    best: int | None = None
    for s in stops:
        i = text.find(s, max(0, new_from - len(s) + 1))
        if i >= 0 and (best is None or i < best):
            best = i
    return best
