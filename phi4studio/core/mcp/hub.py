"""McpHub: the configured MCP servers of a session and their live connections.

    hub = McpHub(McpServerStore.in_config_dir(dirs.config), submit=queue.submit)
    session = await hub.start("notes")       # McpServerError when it cannot start
    outcome = await hub.call("notes", "add_note", {"text": "hi"})
    await hub.close()                        # stops every server

Listeners hear every state change of every session (and config edits, with session None).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from phi4studio.core.jobs.model import Job
from phi4studio.core.mcp.config import McpConfigError, McpServerConfig, McpServerStore
from phi4studio.core.mcp.session import McpSession, ServerState, ToolOutcome

log = logging.getLogger(__name__)

Listener = Callable[["McpSession | None"], None]


class McpHub:
    def __init__(
        self,
        store: McpServerStore | None = None,
        *,
        submit: Callable[[Job], object] | None = None,
        start_timeout_s: float = 60.0,
        ping_interval_s: float | None = 5.0,
    ) -> None:
        self.store = store
        self.submit = submit
        self.start_timeout_s = start_timeout_s
        self.ping_interval_s = ping_interval_s
        self.sessions: dict[str, McpSession] = {}
        self._extra: dict[str, McpServerConfig] = {}  # servers not in the store (CLI, tests)
        self._listeners: list[Listener] = []

    # --- listeners ----------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, session: McpSession | None) -> None:
        for fn in list(self._listeners):
            try:
                fn(session)
            except Exception:
                log.exception("MCP hub listener failed")

    # --- configuration ------------------------------------------------------------------------
    def configs(self) -> list[McpServerConfig]:
        stored = list(self.store.servers) if self.store is not None else []
        return stored + [c for n, c in self._extra.items() if all(s.name != n for s in stored)]

    def config(self, name: str) -> McpServerConfig | None:
        return next((c for c in self.configs() if c.name == name), None)

    def add_transient(self, config: McpServerConfig) -> None:
        """A server for this session only (not saved): the CLI's --mcp, tests."""
        self._extra[config.name] = config
        self._emit(None)

    def put(self, config: McpServerConfig, *, replace: str | None = None) -> None:
        """Save a new or edited server. A running one keeps its old settings until restarted
        (`needs_restart`)."""
        if self.store is None:
            raise McpConfigError("There is no MCP server list to save to.")
        self.store.put(config, replace=replace)
        if replace is not None and replace != config.name and replace in self.sessions:
            self.sessions[config.name] = self.sessions.pop(replace)
        self._emit(None)

    async def remove(self, name: str) -> None:
        await self.stop(name)
        self.sessions.pop(name, None)
        self._extra.pop(name, None)
        if self.store is not None:
            self.store.remove(name)
        self._emit(None)

    def needs_restart(self, name: str) -> bool:
        s, cfg = self.sessions.get(name), self.config(name)
        return (s is not None and cfg is not None and s.state is ServerState.READY
                and s.config != cfg)

    # --- sessions -----------------------------------------------------------------------------
    def session(self, name: str) -> McpSession:
        cfg = self.config(name)
        if cfg is None:
            raise McpConfigError(f"No MCP server named {name!r} is configured.")
        s = self.sessions.get(name)
        if s is None:
            s = McpSession(cfg, submit=self.submit, start_timeout_s=self.start_timeout_s,
                           ping_interval_s=self.ping_interval_s)
            s.add_listener(self._emit)
            self.sessions[name] = s
        elif s.state in (ServerState.STOPPED, ServerState.FAILED):
            s.config = cfg  # started again: with the current settings
        return s

    def state(self, name: str) -> ServerState:
        s = self.sessions.get(name)
        return s.state if s is not None else ServerState.STOPPED

    async def start(self, name: str) -> McpSession:
        s = self.session(name)
        if s.state is ServerState.READY and s.config != self.config(name):
            await s.stop()
            s.config = self.config(name) or s.config
        await s.start()
        return s

    async def stop(self, name: str) -> None:
        s = self.sessions.get(name)
        if s is not None and s.state in (ServerState.READY, ServerState.STARTING):
            await s.stop()

    async def close(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.sessions.values()),
                             return_exceptions=True)

    def ready(self) -> list[McpSession]:
        return [s for s in self.sessions.values() if s.state is ServerState.READY]

    # --- execution ----------------------------------------------------------------------------
    def can_run(self, server: str | None) -> bool:
        s = self.sessions.get(server) if server else None
        return s is not None and s.state is ServerState.READY

    async def call(self, server: str, name: str, arguments: dict[str, Any], *,
                   timeout_s: float | None = None) -> ToolOutcome:
        s = self.sessions.get(server)
        if s is None:
            return ToolOutcome(f"the MCP server {server!r} is not running", True, "not_running",
                               server=server)
        return await s.call_tool(name, arguments, timeout_s=timeout_s)
