"""A live MCP server: started over stdio with the official `mcp` SDK, its tools listed, tools
called with a timeout and cancel.

    session = McpSession(McpServerConfig("notes", "uvx", ["mcp-server-notes"]))
    tools = await session.start()            # state: starting -> ready (or failed, with the error)
    outcome = await session.call_tool("add_note", {"text": "hi"}, timeout_s=30)
    outcome.text, outcome.is_error, outcome.kind   # ok | tool_error | timeout | crash | ...
    await session.stop()                     # state: stopped

One coroutine owns the connection (the SDK's stdio client and ClientSession are entered and left
in the same task, as anyio requires); calls are made from any task on the loop. With
`submit=queue.submit` that coroutine runs as a CoroutineJob, so the server shows in the jobs
panel and cancelling it there stops the server. A server that dies is noticed at the next call
(the call fails with kind "crash") or by a ping every `ping_interval_s` while idle; the state
goes to failed with the last lines the server wrote to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi4studio.core.errors import StudioError
from phi4studio.core.jobs.model import CoroutineJob, Job
from phi4studio.core.mcp.config import McpServerConfig

log = logging.getLogger(__name__)

MAX_PAGES = 100
CONNECTION_CLOSED = -32000  # mcp_types.CONNECTION_CLOSED
REQUEST_TIMEOUT = -32001  # mcp_types.REQUEST_TIMEOUT


class ServerState(str, enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"


class McpServerError(StudioError):
    """The server could not be started, or stopped answering."""


@dataclass
class ToolOutcome:
    """What running (or not running) a tool call gave, as the conversation receives it.

    kind: ok, tool_error (the tool's result had isError), timeout, crash (the server died),
    cancelled, not_running, protocol (the server refused the request), mock (typed by the user),
    denied (the user refused to run it).
    """

    text: str
    is_error: bool = False
    kind: str = "ok"
    structured: Any = None
    duration_s: float = 0.0
    server: str | None = None

    def message_content(self) -> str:
        """The tool message the model reads: the result text, or the error in words."""
        if not self.is_error:
            return self.text
        return self.text if self.text.lower().startswith("error") else f"Error: {self.text}"

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "is_error": self.is_error, "kind": self.kind,
                "structured": self.structured, "duration_s": round(self.duration_s, 4),
                "server": self.server}


def leaf_error(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, which anyio task groups raise."""
    while True:
        inner = getattr(exc, "exceptions", None)
        if not inner:
            return exc
        exc = inner[0]


def read_tail(fh: Any, limit: int = 2000) -> str:
    """The end of a temp file the server's stderr went to."""
    try:
        fh.flush()
        fh.seek(0)
        text = str(fh.read())
    except (OSError, ValueError):
        return ""
    return text[-limit:].strip()


def last_lines(text: str, n: int = 3) -> str:
    lines = [" ".join(ln.split()) for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def outcome_from_result(result: Any, server: str | None, duration_s: float) -> ToolOutcome:
    """A ToolOutcome from the SDK's CallToolResult: text blocks joined, others described."""
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(str(getattr(block, "text", "")))
        elif kind in ("image", "audio"):
            mime = getattr(block, "mime_type", None) or getattr(block, "mimeType", "")
            size = len(str(getattr(block, "data", "") or "")) * 3 // 4
            parts.append(f"[{kind} {mime}, about {size} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource {getattr(block, 'uri', '')}]")
        elif kind == "resource":
            res = getattr(block, "resource", None)
            text = getattr(res, "text", None)
            parts.append(str(text) if text is not None else f"[resource {getattr(res, 'uri', '')}]")
        else:
            parts.append(f"[{kind or 'content'}]")
    structured = getattr(result, "structured_content", None)
    text = "\n".join(parts)
    if not text and structured is not None:
        text = json.dumps(structured, ensure_ascii=False)
    is_error = bool(getattr(result, "is_error", False))
    return ToolOutcome(text, is_error, "tool_error" if is_error else "ok", structured, duration_s,
                       server)


def tool_dict(tool: Any) -> dict[str, Any]:
    """The SDK's Tool as a canonical MCP-style dict (name, description, inputSchema, ...)."""
    from phi4studio.core.datasets.importers.common import RecordError, tool_from_function

    raw = tool.model_dump(by_alias=True, exclude_none=True, mode="json")
    try:
        return tool_from_function(raw, f"tool {raw.get('name')!r}")
    except RecordError as exc:
        raise McpServerError(f"The MCP server listed a bad tool: {exc}") from exc


Listener = Callable[["McpSession"], None]


class McpSession:
    def __init__(
        self,
        config: McpServerConfig,
        *,
        submit: Callable[[Job], object] | None = None,
        start_timeout_s: float = 60.0,
        ping_interval_s: float | None = 5.0,
    ) -> None:
        self.config = config
        self.submit = submit
        self.start_timeout_s = start_timeout_s
        self.ping_interval_s = ping_interval_s
        self.state = ServerState.STOPPED
        self.error: str | None = None
        self.tools: list[dict[str, Any]] = []
        self.server_name = ""
        self.server_version = ""
        self.instructions: str | None = None
        self.started_at: float | None = None
        self.job: Job | None = None
        self._session: Any = None
        self._stop: asyncio.Event | None = None
        self._ready: asyncio.Future[None] | None = None
        self._done: asyncio.Future[None] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._errlog: Any = None
        self._listeners: list[Listener] = []

    @property
    def name(self) -> str:
        return self.config.name

    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _set_state(self, state: ServerState, error: str | None = None) -> None:
        self.state = state
        self.error = error
        for fn in list(self._listeners):
            try:
                fn(self)
            except Exception:
                log.exception("MCP session listener failed")

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> list[dict[str, Any]]:
        """Start the server and list its tools. Raises McpServerError (state failed) if it
        cannot be started, initialized or listed within start_timeout_s."""
        if self.state is ServerState.READY:
            return self.tools
        if self.state is ServerState.STARTING and self._ready is not None:
            await asyncio.shield(self._ready)
            return self.tools
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready = loop.create_future()
        self._done = loop.create_future()
        self.tools = []
        self._set_state(ServerState.STARTING)
        if self.submit is not None:
            self.job = CoroutineJob(f"MCP server: {self.name}", self._serve, category="mcp",
                                    group=f"mcp:{self.name}", long_lived=True)
            self.submit(self.job)
        else:
            self.job = None
            self._task = asyncio.ensure_future(self._serve(None))
        await asyncio.shield(self._ready)
        return self.tools

    async def stop(self, timeout_s: float = 10.0) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._done is not None and not self._done.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._done), timeout_s)
            except asyncio.TimeoutError:
                if self._task is not None:
                    self._task.cancel()
                if self.job is not None and self.job._queue is not None:
                    self.job._queue.cancel(self.job)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._done), 5.0)
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    async def restart(self) -> list[dict[str, Any]]:
        await self.stop()
        return await self.start()

    async def _serve(self, job: Job | None) -> None:
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client

        cfg = self.config
        params = StdioServerParameters(command=cfg.command, args=list(cfg.args),
                                       env=dict(cfg.env) or None,
                                       cwd=Path(cfg.cwd) if cfg.cwd else None)
        assert self._stop is not None and self._ready is not None and self._done is not None
        ready, done, stop = self._ready, self._done, self._stop
        failure: str | None = None
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
            self._errlog = errlog
            try:
                async with (
                    stdio_client(params, errlog=errlog) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await asyncio.wait_for(self._initialize(session), self.start_timeout_s)
                    self._session = session
                    self.started_at = time.time()
                    if job is not None:
                        job.set_progress(None, f"ready: {len(self.tools)} tool(s)")
                    self._set_state(ServerState.READY)
                    ready.set_result(None)
                    failure = await self._watch(session, stop)
            except asyncio.CancelledError:
                failure = None
                if not ready.done():
                    ready.set_exception(McpServerError(f"Starting {self.name!r} was cancelled."))
                    failure = "cancelled while starting"
            except Exception as exc:  # noqa: BLE001 - every failure becomes the state's error
                failure = self._describe(exc, errlog, starting=not ready.done())
            finally:
                self._session = None
                tail = read_tail(errlog)
                self._errlog = None
                if job is not None and tail:
                    job.add_log_lines(tail.splitlines()[-50:])
                if failure is not None and not ready.done():
                    ready.set_exception(McpServerError(failure))
                if failure is not None and self.state is not ServerState.FAILED:
                    self._set_state(ServerState.FAILED, failure)
                elif failure is None and self.state is not ServerState.FAILED:
                    self._set_state(ServerState.STOPPED)
                if not done.done():
                    done.set_result(None)
        if failure is not None and job is not None:
            raise McpServerError(failure)

    async def _initialize(self, session: Any) -> None:
        from mcp_types import PaginatedRequestParams

        init = await session.initialize()
        info = init.server_info
        self.server_name = info.name or ""
        self.server_version = info.version or ""
        self.instructions = getattr(init, "instructions", None)
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await session.list_tools(
                params=PaginatedRequestParams(cursor=cursor) if cursor else None)
            tools += [tool_dict(t) for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                break
        self.tools = tools

    async def _watch(self, session: Any, stop: asyncio.Event) -> str | None:
        """Wait for stop; ping while idle. Returns why the server failed, or None."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.ping_interval_s)
            except asyncio.TimeoutError:
                if self.state is not ServerState.READY:
                    return self.error or "the server stopped answering"
                try:
                    await asyncio.wait_for(session.send_ping(), 15.0)
                except Exception as exc:  # noqa: BLE001
                    return self._describe(exc, self._errlog, starting=False)
        return self.error if self.state is ServerState.FAILED else None

    def _describe(self, exc: BaseException, errlog: Any, *, starting: bool) -> str:
        leaf = leaf_error(exc)
        tail = read_tail(errlog) if errlog is not None else ""
        shown = self.config.command_line
        if isinstance(leaf, asyncio.TimeoutError) or isinstance(exc, asyncio.TimeoutError):
            what = (f"the MCP server {self.name!r} ({shown}) did not start within "
                    f"{self.start_timeout_s:g} s" if starting else
                    f"the MCP server {self.name!r} stopped answering")
        elif isinstance(leaf, OSError) and not tail:
            what = f"cannot start the MCP server {self.name!r} ({shown}): {leaf}"
        elif isinstance(leaf, McpServerError):
            what = leaf.message
        elif getattr(leaf, "code", None) == CONNECTION_CLOSED:
            what = (f"the MCP server {self.name!r} ({shown}) exited before it answered"
                    if starting else f"the MCP server {self.name!r} exited")
        else:
            reason = str(leaf) or type(leaf).__name__
            verb = "failed to start" if starting else "stopped"
            what = f"the MCP server {self.name!r} {verb}: {reason}"
        return f"{what}. Its stderr said: {last_lines(tail)}" if tail else what

    # --- calls --------------------------------------------------------------------------------
    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None, *,
                        timeout_s: float | None = None) -> ToolOutcome:
        """Run one tool. Never raises for the server's or tool's failures: they come back as an
        outcome with is_error and a kind. Cancelling the awaiting task cancels the call."""
        t0 = time.perf_counter()
        session = self._session
        if session is None or self.state is not ServerState.READY:
            why = self.error or f"the server is {self.state.value}"
            return ToolOutcome(f"the MCP server {self.name!r} is not running ({why})", True,
                               "not_running", server=self.name)
        timeout = timeout_s if timeout_s is not None else self.config.timeout_s
        try:
            result = await session.call_tool(name, arguments or {}, read_timeout_seconds=timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the user and the model
            return self._call_failed(exc, name, timeout, time.perf_counter() - t0)
        return outcome_from_result(result, self.name, time.perf_counter() - t0)

    def _call_failed(self, exc: Exception, name: str, timeout: float, dt: float) -> ToolOutcome:
        code = getattr(exc, "code", None)
        if code == REQUEST_TIMEOUT:
            return ToolOutcome(f"the tool {name!r} did not answer within {timeout:g} s", True,
                               "timeout", duration_s=dt, server=self.name)
        if code == CONNECTION_CLOSED or isinstance(leaf_error(exc), (OSError, EOFError)):
            why = self._describe(exc, self._errlog, starting=False)
            self._set_state(ServerState.FAILED, why)
            if self._stop is not None:
                self._stop.set()
            return ToolOutcome(f"the MCP server {self.name!r} died while running {name!r}",
                               True, "crash", duration_s=dt, server=self.name)
        return ToolOutcome(f"the MCP server refused the call to {name!r}: {exc}", True,
                           "protocol", duration_s=dt, server=self.name)
