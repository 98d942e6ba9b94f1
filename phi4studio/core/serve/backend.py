"""The served model: one inference worker (InferenceClient), its chat format, and one request at
a time with a bounded queue behind it.

The server renders every prompt itself with the model's chat format (the same renderer the
datasets and training use) and sends it as text, so guided decoding and parsing agree with what
the model saw. Each request:

    ticket = backend.reserve()        # ApiError("overloaded") when the queue is full
    await ticket.wait()               # its turn (FIFO)
    async for ev in backend.run(spec):   # Started, TextOut..., CallOut..., Finish
    ticket.release()
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from phi4studio.core.serve.config import ServeConfig
from phi4studio.core.serve.errors import ApiError, bad_request
from phi4studio.core.serve.output import Finish, OutputAssembler, OutputEvent

ToolChoice = Literal["none", "auto", "required", "named"]
X_GUIDANCE = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}


@dataclass
class ChatSpec:
    """A chat request in the studio's canonical shapes, whichever API it came through."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)  # {name, description, inputSchema}
    tool_choice: ToolChoice = "auto"
    tool_name: str | None = None
    parallel_tool_calls: bool = True
    strict_tools: bool = False  # a tool asked for strict schema adherence: guide
    max_tokens: int = 1024
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    response_schema: dict[str, Any] | None = None
    adapter: str = ""  # "" the base model, else an adapter name
    call_id_prefix: str = "call_"


@dataclass
class Started:
    """The first event of a generation: the worker has the prompt (tokens counted)."""

    prompt_tokens: int | None
    guided: bool


BackendEvent = Started | OutputEvent | Finish


@dataclass
class Prepared:
    request: Any  # GenerateRequest
    assembler: OutputAssembler
    guided: bool


class Ticket:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.created = time.perf_counter()
        self.waited_s: float | None = None
        self._held = False
        self._released = False

    async def wait(self) -> None:
        await self._backend._lock.acquire()
        self._held = True
        self.waited_s = time.perf_counter() - self.created

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._backend._pending -= 1
        if self._held:
            self._backend._lock.release()


class Backend:
    def __init__(self, config: ServeConfig, *, worker_args: list[str] | None = None) -> None:
        from phi4studio.core.inference import InferenceClient

        self.config = config
        self.client = InferenceClient(
            config.model_dir, provider=config.provider,
            adapters={k: str(v) for k, v in config.adapters.items()},
            worker_args=worker_args or [],
        )
        self.fmt: Any = None
        self.info: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._pending = 0  # requests served or waiting

    async def start(self) -> dict[str, Any]:
        from phi4studio.core.chatformats import detect_format

        self.fmt = detect_format(self.config.model_dir)
        self.info = await self.client.start()
        return self.info

    async def close(self) -> None:
        await self.client.close()

    @property
    def context_length(self) -> int | None:
        value = self.info.get("context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def queued(self) -> int:
        return max(0, self._pending - 1)

    # --- queue --------------------------------------------------------------------------------
    def reserve(self) -> Ticket:
        if self._pending >= 1 + self.config.max_queue:
            raise ApiError(
                "overloaded",
                f"the server is busy: one request is being served and {self.config.max_queue} "
                "are waiting (the queue is full); retry shortly",
                code="queue_full",
            )
        self._pending += 1
        return Ticket(self)

    # --- generation ---------------------------------------------------------------------------
    def prepare(self, spec: ChatSpec) -> Prepared:
        """The worker request, the output assembler and whether decoding is guided (rendering
        and schema checks happen here, before the request queues). ApiError if it can't run."""
        from phi4studio.core.chatformats import TemplateError
        from phi4studio.core.inference import GenerateRequest, Guidance

        fmt = self.fmt
        tool_mode = bool(spec.tools) and spec.tool_choice != "none" and not spec.response_schema
        prompt_tools = spec.tools if tool_mode else []
        try:
            prompt = fmt.render_prompt(spec.messages, prompt_tools)
        except (TemplateError, ValueError, TypeError) as exc:
            raise bad_request(f"the conversation cannot be rendered with this model's chat "
                              f"template: {exc}", param="messages") from exc
        guidance = None
        validators: dict[str, Any] | None = None
        max_calls = None if spec.parallel_tool_calls else 1
        guided = False
        if spec.response_schema is not None:
            guidance = Guidance.json_schema({"x-guidance": X_GUIDANCE, **spec.response_schema})
            guided = True
        elif tool_mode:
            guided = spec.tool_choice in ("required", "named") or self.config.guided_tools \
                or spec.strict_tools
            if guided:
                offered = spec.tools
                if spec.tool_choice == "named":
                    offered = [t for t in spec.tools if t["name"] == spec.tool_name]
                    max_calls = 1
                try:
                    gs = fmt.guidance(offered, require_call=spec.tool_choice != "auto",
                                      max_calls=max_calls)
                except ValueError as exc:
                    raise bad_request(f"tools: {exc}", param="tools") from exc
                guidance = Guidance(gs.type, gs.text)
                validators = _validators(offered)
        eot = fmt.parser_spec.stop
        request = GenerateRequest(
            prompt=prompt, add_special_tokens=False, max_new_tokens=spec.max_tokens,
            temperature=spec.temperature, top_p=spec.top_p, top_k=spec.top_k, seed=spec.seed,
            stop=[*dict.fromkeys([*spec.stop, *eot])], guidance=guidance, adapter=spec.adapter,
            echo_prompt=False,
        )
        assembler = OutputAssembler(
            parser=fmt.stream_parser() if tool_mode else None, end_of_turn=eot,
            user_stops=spec.stop, validators=validators, max_calls=max_calls,
            call_id_prefix=spec.call_id_prefix,
        )
        return Prepared(request, assembler, guided)

    async def run(self, prepared: Prepared) -> AsyncIterator[BackendEvent]:
        """Started, then text and call events, then one Finish. Raises ApiError."""
        from phi4studio.core.inference import GenerationError, WorkerDiedError, WorkerStartError

        request, assembler, guided = prepared.request, prepared.assembler, prepared.guided
        started = False
        try:
            async for ev in self.client.generate(request):
                kind = ev.get("type")
                if kind == "token":
                    if not started:
                        started = True
                        yield Started(ev.get("prompt_tokens"), guided)
                    for out in assembler.feed(str(ev.get("text") or "")):
                        yield out
                elif kind == "result":
                    data = ev.get("data") or {}
                    if not started:
                        started = True
                        yield Started(data.get("prompt_tokens"), guided)
                    events, finish = assembler.finish(data)
                    for out in events:
                        yield out
                    yield finish
                    return
        except GenerationError as exc:
            raise _api_error(exc, guided) from exc
        except (WorkerDiedError, WorkerStartError) as exc:
            raise ApiError("unavailable", f"the model is not available: {exc} (the next "
                                          "request starts it again)") from exc


def _validators(tools: list[dict[str, Any]]) -> dict[str, Any]:
    from jsonschema.validators import validator_for

    out: dict[str, Any] = {}
    for t in tools:
        schema = t.get("inputSchema") or {"type": "object"}
        out[t["name"]] = validator_for(schema)(schema)
    return out


def _api_error(exc: Any, guided: bool) -> ApiError:
    code = getattr(exc, "code", "")
    message = str(getattr(exc, "message", None) or exc)
    if code == "prompt_too_long":
        return bad_request(message, param="messages", code="context_length_exceeded")
    if code == "bad_guidance":
        what = "a tool's input schema" if guided else "the schema"
        return bad_request(f"{what} cannot be used for guided decoding: {message}",
                           param="tools", code="invalid_schema")
    if code in ("bad_request", "empty_prompt", "template_error", "adapter_error"):
        return bad_request(message)
    return ApiError("internal", f"generation failed: {message}")


def check_json_schema(schema: Any, where: str) -> dict[str, Any]:
    """The schema as a dict if it is a valid JSON Schema; ApiError naming `where` if not."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, dict):
        raise bad_request(f"{where} must be a JSON Schema object", param=where,
                          code="invalid_schema")
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise bad_request(f"{where} is not a valid JSON Schema: {exc.message}", param=where,
                          code="invalid_schema") from exc
    try:
        json.dumps(schema)
    except (TypeError, ValueError) as exc:  # pragma: no cover - it came from JSON
        raise bad_request(f"{where} is not JSON: {exc}", param=where) from exc
    return schema
