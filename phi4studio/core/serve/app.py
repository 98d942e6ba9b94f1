"""The ASGI app (Starlette): OpenAI and Anthropic endpoints over one Backend.

    GET  /health                   {"status": "ok", ...} (no key needed)
    GET  /v1/models[/ID]           OpenAI's list shape; Anthropic's when `anthropic-version` is sent
    POST /v1/chat/completions      OpenAI Chat Completions (stream: SSE chunks)
    POST /v1/messages              Anthropic Messages (stream: Anthropic's event sequence)

Every chat request: checks (address, key, body size, JSON, model, fields) -> a place in the
queue (or 429/529) -> its turn -> generation; a client that goes away while it waits or while
its answer is produced stops the generation. Errors have the API's own shape. One record per
request goes to the RequestLog.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit

from phi4studio.core.serve import anthropic_api, openai_api
from phi4studio.core.serve.backend import Backend, ChatSpec, Started, Ticket
from phi4studio.core.serve.config import ServeConfig, is_loopback
from phi4studio.core.serve.errors import Api, ApiError, bad_request
from phi4studio.core.serve.output import CallOut, Finish, TextOut
from phi4studio.core.serve.reqlog import STATUS_CLIENT_CLOSED, RequestLog, RequestRecord

T = TypeVar("T")


class ClientGone(Exception):
    """The client closed the connection."""


async def race_disconnect(receive: Callable[[], Awaitable[Any]], aw: Awaitable[T]) -> T:
    """Await `aw` unless the client disconnects first (then `aw` is cancelled: ClientGone)."""
    task: asyncio.Future[T] = asyncio.ensure_future(aw)

    async def gone() -> None:
        while True:
            msg = await receive()
            if msg.get("type") == "http.disconnect":
                return

    watcher: asyncio.Future[None] = asyncio.ensure_future(gone())
    try:
        await asyncio.wait([task, watcher],  # type: ignore[type-var]
                           return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise ClientGone()
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(BaseException):
            await watcher


def _api_of(path: str, headers: Any) -> Api:
    if path.startswith("/v1/messages") or "anthropic-version" in headers:
        return "anthropic"
    return "openai"


class ServeApp:
    def __init__(self, config: ServeConfig, backend: Backend, reqlog: RequestLog) -> None:
        self.config = config
        self.backend = backend
        self.log = reqlog
        self.created = int(time.time())

    def build(self) -> Any:
        from starlette.applications import Starlette
        from starlette.routing import Route

        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", self.model, methods=["GET"]),
            Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            Route("/v1/messages", self.messages, methods=["POST"]),
        ]
        return Starlette(routes=routes, exception_handlers={404: self.not_found,
                                                            405: self.not_allowed})

    # --- helpers ------------------------------------------------------------------------------
    @staticmethod
    def error_response(err: ApiError, api: Api, rid: str | None = None) -> Any:
        from starlette.responses import JSONResponse

        headers = err.headers()
        if rid:
            headers.update({"x-request-id": rid, "request-id": rid})
        return JSONResponse(err.body(api), status_code=err.status(api), headers=headers)

    def guard(self, request: Any) -> None:
        """Address, origin and key checks (ApiError)."""
        cfg = self.config
        if cfg.loopback:  # a web page must not reach a loopback server through DNS rebinding
            host = urlsplit("//" + request.headers.get("host", "")).hostname or ""
            if host and not is_loopback(host) and host != cfg.host:
                raise ApiError("permission", f"requests for host {host!r} are refused: this "
                                             "server answers on loopback addresses only")
        origin = request.headers.get("origin")
        if origin and not cfg.api_key:
            o_host = urlsplit(origin).hostname or ""
            if not is_loopback(o_host):
                raise ApiError("permission", f"cross-origin requests from {origin} are refused")
        if cfg.requires_key:
            given = request.headers.get("x-api-key") or ""
            auth = request.headers.get("authorization") or ""
            if auth.lower().startswith("bearer "):
                given = given or auth[7:].strip()
            if not cfg.api_key or not given or not hmac.compare_digest(
                    given.encode(), cfg.api_key.encode()):
                what = "no API key was sent" if not given else "the API key is not valid"
                raise ApiError("authentication", f"{what}: send it as 'Authorization: Bearer "
                                                 "KEY' or 'x-api-key: KEY'",
                               code="invalid_api_key")

    async def read_json(self, request: Any) -> dict[str, Any]:
        limit = self.config.max_body_bytes
        size = request.headers.get("content-length")
        if size and size.isdigit() and int(size) > limit:
            raise ApiError("too_large", f"the request body is {int(size)} bytes; this server "
                                        f"accepts up to {limit} bytes")
        chunks: list[bytes] = []
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise ApiError("too_large", f"the request body is over {limit} bytes")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            raise bad_request("the request body is empty; send a JSON object")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"the request body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        return body

    def resolve(self, body: dict[str, Any]) -> tuple[str, str]:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise bad_request("'model' is required (a string); see GET /v1/models",
                              param="model")
        adapter = self.config.resolve_model(model)
        if adapter is None:
            known = ", ".join(self.config.model_ids())
            raise ApiError("not_found", f"the model {model!r} does not exist on this server "
                                        f"(it serves: {known})", param="model",
                           code="model_not_found")
        return model, adapter

    # --- plain endpoints ----------------------------------------------------------------------
    async def health(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"status": "ok", "model": self.config.name,
                             "queued": self.backend.queued})

    async def models(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        api = _api_of(request.url.path, request.headers)
        try:
            self.guard(request)
        except ApiError as err:
            return self.error_response(err, api)
        ids = self.config.model_ids()
        if api == "anthropic":
            return JSONResponse(anthropic_api.models_list(ids, self._created_at()))
        return JSONResponse(openai_api.models_list(ids, self.created))

    async def model(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        api = _api_of(request.url.path, request.headers)
        mid = request.path_params["model_id"]
        try:
            self.guard(request)
            if mid not in self.config.model_ids():
                raise ApiError("not_found", f"the model {mid!r} does not exist on this server",
                               param="model", code="model_not_found")
        except ApiError as err:
            return self.error_response(err, api)
        if api == "anthropic":
            return JSONResponse(anthropic_api.model_obj(mid, self._created_at()))
        return JSONResponse(openai_api.model_obj(mid, self.created))

    def _created_at(self) -> str:
        return datetime.fromtimestamp(self.created, timezone.utc).isoformat().replace(
            "+00:00", "Z")

    async def not_found(self, request: Any, exc: Exception) -> Any:
        api = _api_of(request.url.path, request.headers)
        err = ApiError("not_found", f"no endpoint {request.method} {request.url.path} (this "
                                    "server has /v1/chat/completions, /v1/messages, /v1/models)")
        return self.error_response(err, api)

    async def not_allowed(self, request: Any, exc: Exception) -> Any:
        api = _api_of(request.url.path, request.headers)
        err = bad_request(f"{request.method} is not allowed on {request.url.path}")
        return self.error_response(err, api)

    # --- chat ---------------------------------------------------------------------------------
    async def chat_completions(self, request: Any) -> Any:
        return await self._chat(request, "openai")

    async def messages(self, request: Any) -> Any:
        return await self._chat(request, "anthropic")

    async def _chat(self, request: Any, api: Api) -> Any:
        t0 = time.perf_counter()
        client = request.client
        where = f"{client.host}:{client.port}" if client else "?"
        agent = request.headers.get("user-agent", "")
        record = RequestRecord(api=api, client=f"{where} {agent}".strip(), model="")
        rid = openai_api.new_id() if api == "openai" else anthropic_api.new_id()
        record.response_id = rid
        ticket: Ticket | None = None
        try:
            self.guard(request)
            body = await self.read_json(request)
            record.model, adapter = self.resolve(body)
            if api == "openai":
                spec, stream, include_usage = openai_api.parse_request(
                    body, self.config.default_max_tokens)
            else:
                spec, stream = anthropic_api.parse_request(body)
                include_usage = True
            spec.adapter = adapter
            record.adapter, record.stream = adapter or None, stream
            record.preview = _preview(spec)
            prepared = self.backend.prepare(spec)
            ticket = self.backend.reserve()
            await race_disconnect(request.receive, ticket.wait())
            record.queue_s = ticket.waited_s
            events = self.backend.run(prepared)
            first = await race_disconnect(request.receive, events.__anext__())
            assert isinstance(first, Started)
            record.ttft_s = time.perf_counter() - t0
        except ClientGone:
            if ticket is not None:
                ticket.release()
            return self._done(record, t0, STATUS_CLIENT_CLOSED, "the client disconnected")
        except ApiError as err:
            if ticket is not None:
                ticket.release()
            self._done(record, t0, err.status(api), err.message)
            return self.error_response(err, api, rid)
        except Exception as exc:  # noqa: BLE001 - the server keeps serving
            if ticket is not None:
                ticket.release()
            failure = ApiError("internal", f"{type(exc).__name__}: {exc}")
            self._done(record, t0, failure.status(api), failure.message)
            return self.error_response(failure, api, rid)
        headers = {"x-request-id": rid, "request-id": rid}
        if stream:
            enc: Any = (openai_api.ChunkStream(rid, record.model, include_usage)
                        if api == "openai" else anthropic_api.EventStream(rid, record.model))
            return _Stream(self._stream(enc, first, events, record),
                           cleanup=lambda: self._end_stream(events, ticket, record, t0),
                           headers=headers)
        try:
            finish = await race_disconnect(request.receive, _collect(events))
        except ClientGone:
            return self._done(record, t0, STATUS_CLIENT_CLOSED, "the client disconnected")
        except ApiError as err:
            self._done(record, t0, err.status(api), err.message)
            return self.error_response(err, api, rid)
        finally:
            ticket.release()
        self._finished(record, finish)
        self._done(record, t0, 200, None)
        from starlette.responses import JSONResponse

        out = (openai_api.completion(rid, record.model, finish) if api == "openai"
               else anthropic_api.message(rid, record.model, finish))
        return JSONResponse(out, headers=headers)

    async def _stream(self, enc: Any, first: Started, events: AsyncIterator[Any],
                      record: RequestRecord) -> AsyncIterator[bytes]:
        for b in enc.start(first):
            yield b
        try:
            async for ev in events:
                if isinstance(ev, Finish):
                    self._finished(record, ev)
                    record.status = 200
                    for b in enc.finish(ev):
                        yield b
                else:
                    for b in enc.event(ev):
                        yield b
        except ApiError as err:
            record.status, record.error = err.status(enc.api), err.message
            for b in enc.error(err):
                yield b

    async def _end_stream(self, events: Any, ticket: Ticket, record: RequestRecord,
                          t0: float) -> None:
        with contextlib.suppress(BaseException):
            await events.aclose()
        ticket.release()
        if record.finish_reason is None and record.error is None:
            self._done(record, t0, STATUS_CLIENT_CLOSED, "the client disconnected")
        else:
            self._done(record, t0, record.status, record.error)

    @staticmethod
    def _finished(record: RequestRecord, finish: Finish) -> None:
        record.finish_reason = finish.reason
        record.prompt_tokens = finish.prompt_tokens
        record.completion_tokens = finish.completion_tokens
        record.tool_calls = [c.name for c in finish.calls]

    def _done(self, record: RequestRecord, t0: float, status: int, error: str | None) -> Any:
        from starlette.responses import Response

        record.status = status
        record.error = error
        record.latency_s = round(time.perf_counter() - t0, 5)
        if record.ttft_s is not None:
            record.ttft_s = round(record.ttft_s, 5)
        if record.queue_s is not None:
            record.queue_s = round(record.queue_s, 5)
        self.log.add(record)
        return Response(status_code=status)


async def _collect(events: AsyncIterator[Any]) -> Finish:
    async for ev in events:
        if isinstance(ev, Finish):
            return ev
        assert isinstance(ev, (TextOut, CallOut))
    raise ApiError("internal", "the generation ended without a result")


def _preview(spec: ChatSpec, limit: int = 80) -> str:
    for m in reversed(spec.messages):
        if m.get("role") in ("user", "tool"):
            text = " ".join(str(m.get("content") or "").split())
            return text[:limit]
    return ""


@functools.lru_cache(maxsize=1)
def _stream_response_cls() -> Any:
    from starlette.responses import StreamingResponse

    class Stream(StreamingResponse):
        """SSE that always runs its cleanup (stop the generation, free the queue, log), also
        when the client disconnects before the first byte."""

        def __init__(self, content: Any, *, cleanup: Callable[[], Awaitable[None]],
                     headers: dict[str, str]) -> None:
            super().__init__(content, media_type="text/event-stream",
                             headers={**headers, "cache-control": "no-cache",
                                      "x-accel-buffering": "no"})
            self._cleanup = cleanup

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            try:
                await super().__call__(scope, receive, send)
            finally:
                await self._cleanup()

    return Stream


def _Stream(content: Any, *, cleanup: Callable[[], Awaitable[None]],
            headers: dict[str, str]) -> Any:
    return _stream_response_cls()(content, cleanup=cleanup, headers=headers)
