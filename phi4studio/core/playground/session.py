"""ChatSession: one conversation with one model (and adapter), streamed through the inference
worker, with tool calls read while they stream and checked against the offered tools.

    session = ChatSession(client, detect_format(model_dir), tools=catalog.tools())
    session.add_listener(on_event)           # SessionEvent: text, call_started, arguments, ...
    session.add_user("Weather in Oslo?")
    turn = await session.generate()          # TurnRecord: prompt, timings, raw text, calls
    for call in turn.calls:                  # CallRecord: validated against inputSchema
        session.settle(call, outcome)        # a ToolOutcome (ran, mocked or denied)
    turn = await session.generate()          # the model continues with the tool results

The session renders the prompt itself with the model family's chat format (the exact text goes
to the worker and into the turn record), so the studio's tool conventions apply to every model.
Guided decoding (on by default when tools are offered) constrains calls to the offered tools'
schemas. The worker keeps no state: each turn sends the whole conversation. `flow.converse`
drives the approve -> execute -> continue loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from phi4studio.core.chatformats import (
    ArgumentsDelta,
    ChatFormat,
    TextDelta,
    ToolCallDone,
    ToolCallStarted,
)
from phi4studio.core.datasets.workflows import ArgIssue, check_value
from phi4studio.core.inference import CallControl, GenerateRequest, Guidance, InferenceError
from phi4studio.core.inference.floats import as_schema_floats
from phi4studio.core.inference.grounding import (
    Said,
    conversation_text,
    invented_variants,
    ungrounded,
)
from phi4studio.core.mcp.session import ToolOutcome
from phi4studio.core.playground.records import (
    CallRecord,
    CallStatus,
    GenerationSettings,
    SessionEvent,
    TurnRecord,
)

# what call control reports it did (docs/inference.md, "Call control"); a turn keeps the counts
CONTROL_COUNTS = ("repeats_dropped", "cut_call_dropped", "close_mended", "loops_broken",
                  "closed_at_budget", "names_weighed")

log = logging.getLogger(__name__)

Listener = Callable[[SessionEvent], None]


class Generator(Protocol):
    """What a session needs of an InferenceClient (tests pass a fake)."""

    def generate(self, request: GenerateRequest) -> AsyncIterator[dict[str, Any]]: ...

    def stop_generation(self, request_id: str | None = None) -> bool: ...


def check_call(tool: Mapping[str, Any] | None, name: str, arguments: Any) -> list[ArgIssue]:
    """Problems of one call: an unknown tool, or arguments against its inputSchema, each with
    the JSON path inside the arguments ($ is the arguments object)."""
    if tool is None:
        return [ArgIssue("$", f"{name!r} is not one of the offered tools")]
    if not isinstance(arguments, dict):
        return [ArgIssue("$", "the arguments are not a JSON object")]
    return check_value(arguments, tool.get("inputSchema") or {})


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:10]


class ChatSession:
    def __init__(
        self,
        client: Generator,
        fmt: ChatFormat,
        *,
        tools: list[dict[str, Any]] | None = None,
        settings: GenerationSettings | None = None,
        adapter: str | None = None,
        model_name: str = "",
        system: str = "",
        lock: asyncio.Lock | None = None,
    ) -> None:
        self.client = client
        self.fmt = fmt
        self.tools: list[dict[str, Any]] = list(tools or [])
        self.settings = settings or GenerationSettings()
        self.adapter = adapter  # None: the worker's active adapter; "": the base model
        self.model_name = model_name
        self.system = system
        self.lock = lock  # shared by A/B sides on one CPU: one generation at a time
        self.messages: list[dict[str, Any]] = []
        self.turns: list[TurnRecord] = []
        self.offered: dict[str, dict[str, Any]] = {}  # every tool offered so far, by name
        self._listeners: list[Listener] = []
        self._request_id: str | None = None
        self._stopping = False

    # --- listeners ----------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, ev: SessionEvent) -> None:
        for fn in list(self._listeners):
            try:
                fn(ev)
            except Exception:
                log.exception("chat session listener failed")

    # --- conversation -------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._request_id is not None

    def conversation(self) -> list[dict[str, Any]]:
        """The messages as the model sees them (the system prompt first, when set)."""
        head = [{"role": "system", "content": self.system}] if self.system.strip() else []
        return head + self.messages

    def add_user(self, text: str) -> None:
        if self.awaiting_calls():
            raise InferenceError("Settle the pending tool calls first (run, deny or mock them).")
        self.messages.append({"role": "user", "content": text})
        self._emit(SessionEvent("messages"))

    def reset(self) -> None:
        self.messages.clear()
        self.turns.clear()
        self.offered.clear()
        self._emit(SessionEvent("messages"))

    def last_turn(self) -> TurnRecord | None:
        return self.turns[-1] if self.turns else None

    def pending_calls(self) -> list[CallRecord]:
        turn = self.last_turn()
        return [c for c in turn.calls if not c.status.settled] if turn else []

    def awaiting_calls(self) -> bool:
        return bool(self.pending_calls())

    def can_continue(self) -> bool:
        """The last turn made calls and every one is settled: the model should go on."""
        turn = self.last_turn()
        return (turn is not None and bool(turn.calls) and not self.awaiting_calls()
                and bool(self.messages) and self.messages[-1].get("role") == "tool")

    # --- generation ---------------------------------------------------------------------------
    def build_request(self, *, guided: bool | None = None,
                      max_new_tokens: int | None = None) -> tuple[GenerateRequest, bool]:
        """The next turn's request (the prompt rendered here) and whether it is guided."""
        problems = self.settings.problems()
        if problems:
            raise InferenceError("Invalid generation settings: " + "; ".join(problems))
        prompt = self.fmt.render_prompt(self.conversation(), self.tools or None)
        fields = self.settings.request_fields()
        if max_new_tokens is not None:
            fields["max_new_tokens"] = max_new_tokens
        use_guidance = (self.settings.guided if guided is None else guided) and bool(self.tools)
        guidance = None
        if use_guidance:
            required = self.settings.tool_choice == "required"
            spec = self.fmt.guidance(self.tools, require_call=required,
                                     max_calls=self.settings.max_calls)
            guidance = Guidance(spec.type, spec.text)
        stops = [s for s in self.fmt.end_of_turn if s]
        req = GenerateRequest(prompt=prompt, add_special_tokens=False, echo_prompt=True,
                              guidance=guidance, stop=stops, adapter=self.adapter,
                              calls=self._control() if guidance is not None else None, **fields)
        return req, use_guidance

    def _control(self) -> CallControl | None:
        """Call control for a guided turn (docs/inference.md): the sampler still decides
        between text and calls, but a call that repeats an earlier one ends the list, a value
        that loops is ended, and the end of the budget closes the first call, so that what the
        card shows is a whole call; with `tool_words` the tool's name is weighed by the
        request's words. None for formats without a call marker."""
        from phi4studio.core.inference.relevance import WEIGHT, name_weights

        syn = self.fmt.syntax
        if not syn.open:
            return None
        names = (name_weights(self.tools, self.conversation(), WEIGHT)
                 if self.settings.tool_words else None)
        return CallControl(syn.open, self.fmt.calls_close, stop_repeats=True, names=names)

    async def generate(self) -> TurnRecord:
        """One model turn over the conversation so far. Never raises for the model's or the
        worker's failures: the record holds the error (turn_failed); CancelledError stops it."""
        if self.busy:
            raise InferenceError("This chat is already generating.")
        turn = TurnRecord(index=len(self.turns), model=self.model_name, adapter=self.adapter,
                          settings=self.settings.to_json())
        try:
            req, turn.guided = self.build_request()
        except Exception as exc:  # noqa: BLE001 - a template or schema problem, for the user
            turn.error = str(exc)
            turn.finished = True
            self.turns.append(turn)
            self._emit(SessionEvent("turn_failed", turn))
            return turn
        turn.prompt = req.prompt or ""
        turn.guidance_type = req.guidance.type if req.guidance else None
        for t in self.tools:
            self.offered.setdefault(str(t.get("name")), t)
        self.turns.append(turn)
        self._request_id = req.id
        self._stopping = False
        self._emit(SessionEvent("turn_started", turn))
        try:
            if self.lock is not None:
                async with self.lock:
                    await self._stream(req, turn)
            else:
                await self._stream(req, turn)
        except asyncio.CancelledError:
            turn.stop_reason = turn.stop_reason or "stopped"
            self._finish(turn, req)
            raise
        except InferenceError as exc:
            turn.error = exc.message
            turn.error_code = getattr(exc, "code", None) or type(exc).__name__
            turn.finished = True
            self._emit(SessionEvent("turn_failed", turn))
        else:
            self._finish(turn, req)
        finally:
            self._request_id = None
        return turn

    async def _stream(self, req: GenerateRequest, turn: TurnRecord) -> None:
        parser = self.fmt.stream_parser()
        async for ev in self.client.generate(req):
            kind = ev.get("type")
            if kind == "restart":
                turn.restarted = str(ev.get("message") or "the inference worker was restarted")
                self._emit(SessionEvent("restart", turn, text=turn.restarted))
            elif kind == "token":
                text = str(ev.get("text") or "")
                turn.raw_text += text
                self._emit(SessionEvent("tokens", turn, text=text))
                for pev in parser.feed(text):
                    self._parser_event(turn, pev)
            elif kind == "result":
                data = ev.get("data") or {}
                self._take_result(turn, data)
        for pev in parser.finish():
            self._parser_event(turn, pev)

    def _parser_event(self, turn: TurnRecord, ev: Any) -> None:
        if isinstance(ev, TextDelta):
            self._emit(SessionEvent("text", turn, text=ev.text))
        elif isinstance(ev, ToolCallStarted):
            self._emit(SessionEvent("call_started", turn, index=ev.index, text=ev.name or ""))
        elif isinstance(ev, ArgumentsDelta):
            self._emit(SessionEvent("arguments", turn, index=ev.index, text=ev.delta))
        elif isinstance(ev, ToolCallDone):
            self._emit(SessionEvent("call_parsed", turn, index=ev.index, data=dict(ev.call)))

    @staticmethod
    def _take_result(turn: TurnRecord, data: Mapping[str, Any]) -> None:
        text = data.get("text")
        if isinstance(text, str):
            turn.raw_text = text
        if isinstance(data.get("prompt"), str):
            turn.prompt = data["prompt"]
        for name in ("prompt_tokens", "completion_tokens", "ttft_s", "decode_tokens_per_s",
                     "total_s", "stop_reason", "seed"):
            if data.get(name) is not None:
                setattr(turn, name, data[name])
        turn.control = {k: int(data[k]) for k in CONTROL_COUNTS
                        if isinstance(data.get(k), int) and data[k] > 0}

    def _finish(self, turn: TurnRecord, req: GenerateRequest) -> None:
        turn.parsed = self.fmt.parse(turn.raw_text)
        stopped = turn.stop_reason == "stopped"
        by_name = {str(t.get("name")): t for t in self.tools}
        said = Said(conversation_text(self.messages))
        # whole numbers at `number` places as floats, as the evaluation reads them
        parsed = as_schema_floats(turn.parsed.tool_calls, self.tools)
        # a second call of a tool with a value of its own: shown as not stated, asked first
        variants = dict(invented_variants(parsed, said))
        for i, call in enumerate(parsed):
            tool = by_name.get(call["name"])
            args = call["arguments"]
            turn.calls.append(CallRecord(
                id=new_call_id(), index=i, name=call["name"], arguments=dict(args),
                original_arguments=dict(args), tool=tool, issues=check_call(tool, call["name"],
                                                                           args),
                guided=turn.guided, turn=turn.index,
                status=CallStatus.CANCELLED if stopped else CallStatus.PENDING,
                unstated=[*dict.fromkeys([*ungrounded(call, tool, said),
                                          *variants.get(i, [])])]))
        if turn.control.get("closed_at_budget") and turn.calls:
            turn.calls[0].cut_short = True
        cut = [e for e in turn.parsed.errors if "truncated" in e or "missing closing" in e]
        if cut and turn.calls:  # the output ended inside the last call: it may be incomplete
            turn.calls[-1].issues.append(ArgIssue(
                "$", f"the output ended inside this call ({turn.stop_reason or 'cut off'}): "
                     "its arguments may be incomplete"))
        msg: dict[str, Any] = {"role": "assistant", "content": turn.parsed.content}
        live = [c for c in turn.calls if c.status is CallStatus.PENDING]
        if live:
            msg["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments}
                                 for c in live]
        self.messages.append(msg)
        turn.finished = True
        self._emit(SessionEvent("turn_finished", turn))
        self._emit(SessionEvent("messages"))

    def stop(self) -> bool:
        """Stop the generation in progress (it ends between two tokens, with what it had)."""
        if self._request_id is None:
            return False
        self._stopping = True
        return self.client.stop_generation(self._request_id)

    # --- tool calls ---------------------------------------------------------------------------
    def call_by_id(self, call_id: str) -> CallRecord | None:
        for turn in reversed(self.turns):
            for c in turn.calls:
                if c.id == call_id:
                    return c
        return None

    def edit_arguments(self, call: CallRecord, arguments: dict[str, Any]) -> None:
        """The user corrected a call before running it: the conversation keeps the corrected
        call (as a dataset example would); the record keeps what the model said."""
        if call.status.settled:
            raise InferenceError("This call is already settled; its arguments cannot change.")
        call.arguments = dict(arguments)
        call.edited = call.arguments != call.original_arguments
        call.issues = check_call(call.tool, call.name, call.arguments)
        if call.edited:  # the user's own values: nothing is made up or cut short any more
            call.unstated = []
            call.cut_short = False
        for m in self.messages:
            for c in m.get("tool_calls") or []:
                if c.get("id") == call.id:
                    c["arguments"] = call.arguments
        self._emit(SessionEvent("call_updated", self._turn_of(call), call))

    def mark_running(self, call: CallRecord) -> None:
        call.status = CallStatus.RUNNING
        self._emit(SessionEvent("call_updated", self._turn_of(call), call))

    def settle(self, call: CallRecord, outcome: ToolOutcome,
               status: CallStatus | None = None) -> None:
        """Record a call's outcome. When every call of the turn is settled, their results join
        the conversation as tool messages, in call order."""
        if call.status.settled:
            return
        call.outcome = outcome
        if status is None:
            status = CallStatus.FAILED if outcome.is_error else CallStatus.DONE
            if outcome.kind == "mock":
                status = CallStatus.MOCKED
        call.status = status
        turn = self._turn_of(call)
        self._emit(SessionEvent("call_updated", turn, call))
        if turn is not None and all(c.status.settled for c in turn.calls):
            self._add_results(turn)

    def deny(self, call: CallRecord, reason: str | None = None) -> None:
        text = reason or "The user denied running this tool call."
        self.settle(call, ToolOutcome(text, True, "denied"), CallStatus.DENIED)

    def mock(self, call: CallRecord, text: str, *, is_error: bool = False) -> None:
        self.settle(call, ToolOutcome(text, is_error, "mock"), CallStatus.MOCKED)

    def cancel_pending(self, reason: str = "The call was cancelled before it ran.") -> None:
        for call in self.pending_calls():
            self.settle(call, ToolOutcome(reason, True, "cancelled"), CallStatus.CANCELLED)

    def _turn_of(self, call: CallRecord) -> TurnRecord | None:
        return next((t for t in self.turns if call in t.calls), None)

    def _add_results(self, turn: TurnRecord) -> None:
        asked = {c["id"] for m in self.messages for c in (m.get("tool_calls") or [])}
        for c in turn.calls:
            if c.id in asked and c.outcome is not None:
                self.messages.append({"role": "tool", "tool_call_id": c.id, "name": c.name,
                                      "content": c.outcome.message_content()})
        self._emit(SessionEvent("messages"))

    # --- figures ------------------------------------------------------------------------------
    def guidance_cost(self) -> dict[str, float | None]:
        """Mean decode tokens/s of this session's guided and free turns, and the ratio."""
        def mean(guided: bool) -> float | None:
            v = [t.decode_tokens_per_s for t in self.turns
                 if t.guided == guided and t.decode_tokens_per_s and not t.error]
            return sum(v) / len(v) if v else None

        g, f = mean(True), mean(False)
        return {"guided_tps": g, "free_tps": f, "ratio": (g / f) if g and f else None}

    async def measure_guidance_cost(self, max_new_tokens: int = 48) -> dict[str, Any]:
        """Run the next turn's prompt once guided and once free (greedy, not added to the
        conversation) and compare decode speed."""
        if not self.tools:
            raise InferenceError("Guided decoding needs tools: add a tool source first.")
        out: dict[str, Any] = {}
        for guided in (False, True):
            req, _ = self.build_request(guided=guided, max_new_tokens=max_new_tokens)
            req.greedy = True
            data: dict[str, Any] = {}
            async with self.lock or contextlib.nullcontext():
                async for ev in self.client.generate(req):
                    if ev.get("type") == "result":
                        data = ev.get("data") or {}
            key = "guided" if guided else "free"
            out[f"{key}_tps"] = data.get("decode_tokens_per_s")
            out[f"{key}_tokens"] = data.get("completion_tokens")
        g, f = out.get("guided_tps"), out.get("free_tps")
        out["ratio"] = (g / f) if g and f else None
        return out
