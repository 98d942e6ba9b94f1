"""Workbench: the Playground tab's state and services, without Qt (the view only binds it).

    wb = Workbench(hub, queue=studio.queue, workspace=lambda: studio.workspace,
                   provider=lambda: studio.settings.inference_device.value)
    await wb.load(model, adapter="ft", compare=Compare("adapter", adapter=""))   # A/B
    await wb.send("Weather in Oslo?", deciders)     # one Decide per side (the approval cards)
    wb.stop(); wb.reset(); await wb.close()

It owns the inference clients (one worker per loaded model, run through the JobQueue in the GPU
slot; base vs adapter shares one worker), the chat sessions (one, or two side by side), the tool
catalog (files, datasets, live MCP servers kept in sync with their state), the approval policy
and the generation settings. Listeners hear "models", "loading", "sessions" (new chats after a
load), "reset" (a new chat), "catalog", "busy" and "error" (with a message).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from phi4studio.core.errors import StudioError
from phi4studio.core.mcp import ApprovalPolicy, McpHub, ToolCatalog, ToolSource
from phi4studio.core.mcp.catalog import source_from_file, source_from_session
from phi4studio.core.playground.ab import ABSession
from phi4studio.core.playground.flow import CatalogExecutor, Decide, ToolRunner, converse
from phi4studio.core.playground.models import (
    ModelChoice,
    exported_models,
    format_for_model,
    model_from_folder,
)
from phi4studio.core.playground.records import GenerationSettings, TurnRecord
from phi4studio.core.playground.session import ChatSession

if TYPE_CHECKING:
    from phi4studio.core.jobs import JobQueue
    from phi4studio.core.mcp.session import McpSession
    from phi4studio.core.workspace import Workspace

log = logging.getLogger(__name__)

Listener = Callable[[str, str], None]  # (what changed, message)
ClientFactory = Callable[..., Any]


@dataclass(frozen=True)
class Compare:
    """The B side: the same loaded model with another adapter ("" = the base model), or
    another model (with its own worker)."""

    kind: Literal["adapter", "model"]
    adapter: str | None = None
    model: ModelChoice | None = None

    @property
    def label(self) -> str:
        if self.kind == "model" and self.model is not None:
            return self.model.name + (f" + {self.adapter}" if self.adapter else "")
        return f"adapter {self.adapter}" if self.adapter else "base model"


class Workbench:
    def __init__(
        self,
        hub: McpHub | None = None,
        *,
        queue: JobQueue | None = None,
        workspace: Callable[[], Workspace] | None = None,
        provider: Callable[[], str] | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self.hub = hub or McpHub()
        self.queue = queue
        self._workspace = workspace
        self._provider = provider or (lambda: "auto")
        self._factory = client_factory
        self.catalog = ToolCatalog()
        self.catalog.add_listener(lambda: self._emit("catalog"))
        self.policy = ApprovalPolicy()
        self.settings = GenerationSettings()
        self.system = ""
        self.format_override: str | None = None
        self.folders: list[ModelChoice] = []  # folders the user opened this session
        self.model: ModelChoice | None = None
        self.adapter: str | None = None
        self.compare: Compare | None = None
        self.sessions: list[ChatSession] = []
        self.ab: ABSession | None = None
        self.clients: dict[Path, Any] = {}
        self.busy = False
        self._listeners: list[Listener] = []
        self._send_task: asyncio.Task[Any] | None = None
        self.hub.add_listener(self._server_changed)

    # --- listeners ----------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, what: str, message: str = "") -> None:
        for fn in list(self._listeners):
            try:
                fn(what, message)
            except Exception:
                log.exception("workbench listener failed")

    # --- models -------------------------------------------------------------------------------
    def models(self) -> list[ModelChoice]:
        """The workspace's exports, then folders opened this session (no duplicates)."""
        out: list[ModelChoice] = []
        if self._workspace is not None:
            try:
                out = exported_models(self._workspace())
            except Exception as exc:  # noqa: BLE001 - a damaged catalog must not break the tab
                log.warning("cannot list exports: %s", exc)
        seen = {m.path for m in out}
        return out + [m for m in self.folders if m.path not in seen]

    def add_folder(self, path: Path | str) -> ModelChoice:
        choice = model_from_folder(path)
        self.folders = [m for m in self.folders if m.path != choice.path] + [choice]
        self._emit("models")
        return choice

    def add_model(self, choice: ModelChoice) -> ModelChoice:
        """A model handed over by another tab (Export's "Open in Playground")."""
        self.folders = [m for m in self.folders if m.path != choice.path] + [choice]
        self._emit("models")
        return choice

    def _client(self, model: ModelChoice, *, slot: bool) -> Any:
        client = self.clients.get(model.path)
        if client is not None:
            return client
        kw: dict[str, Any] = {"provider": model.provider or self._provider(),
                              "adapters": dict(model.adapters)}
        if self.queue is not None:
            kw["submit"] = self.queue.submit
            kw["resources"] = {"gpu": 1} if slot else {}
        if self._factory is not None:
            client = self._factory(model.path, **kw)
        else:
            from phi4studio.core.inference import InferenceClient

            client = InferenceClient(model.path, **kw)
        self.clients[model.path] = client
        return client

    async def load(self, model: ModelChoice, adapter: str | None = None,
                   compare: Compare | None = None) -> None:
        """Load the model (and the B side when comparing); the conversation starts afresh.
        Raises StudioError (also told to listeners as "error") when a model cannot load."""
        if self.busy:
            raise StudioError("Stop the chat in progress before loading another model.")
        if adapter and adapter not in model.adapters:
            raise StudioError(f"{model.name} has no adapter named {adapter!r}.")
        self._emit("loading", f"Loading {model.name}…")
        wanted = {model.path} | ({compare.model.path} if compare and compare.model else set())
        for path in [p for p in self.clients if p not in wanted]:
            await self._close_client(path)
        try:
            fmt = format_for_model(model.path, self.format_override)
            a_client = self._client(model, slot=True)
            await a_client.start()
            sessions = [ChatSession(a_client, fmt, settings=self.settings, adapter=adapter or "",
                                    model_name=model.name, system=self.system)]
            if compare is not None:
                b_model = compare.model if compare.kind == "model" and compare.model else model
                b_fmt = fmt if b_model is model else format_for_model(b_model.path,
                                                                      self.format_override)
                b_client = a_client if b_model is model else self._client(b_model, slot=False)
                await b_client.start()
                sessions.append(ChatSession(b_client, b_fmt, settings=self.settings,
                                            adapter=compare.adapter or "",
                                            model_name=b_model.name, system=self.system))
        except StudioError as exc:
            self._emit("error", str(exc))
            raise
        self.model, self.adapter, self.compare = model, adapter, compare
        self.sessions = sessions
        self.ab = ABSession(sessions[0], sessions[1], labels=self.labels()) \
            if len(sessions) == 2 else None
        self._emit("sessions")

    def labels(self) -> tuple[str, str]:
        a = (self.model.name if self.model else "A") + (f" + {self.adapter}" if self.adapter
                                                        else "")
        b = self.compare.label if self.compare else "B"
        return a, b

    def info(self, side: int = 0) -> dict[str, Any]:
        """The worker's `start` event of a side (provider, fallback reason, context length)."""
        if side >= len(self.sessions):
            return {}
        info = getattr(self.sessions[side].client, "info", None)
        return dict(info) if isinstance(info, dict) else {}

    async def _close_client(self, path: Path) -> None:
        client = self.clients.pop(path, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    # --- chat ---------------------------------------------------------------------------------
    def apply_settings(self) -> None:
        """Settings, system prompt and tools as now set, for the next turn of every side."""
        tools = self.catalog.tools()
        for s in self.sessions:
            s.settings = self.settings
            s.system = self.system
            s.tools = list(tools)

    def runner(self) -> ToolRunner:
        return ToolRunner(CatalogExecutor(self.hub, self.catalog), self.policy)

    async def send(self, text: str, deciders: list[Decide]) -> list[list[TurnRecord]]:
        """The user's message to every side; each runs its own approve -> run -> continue loop.
        `deciders[i]` asks the user about side i's calls."""
        if not self.sessions:
            raise StudioError("Load a model first.")
        if self.busy:
            raise StudioError("The model is still answering.")
        self.apply_settings()
        self.busy = True
        self._emit("busy")
        try:
            runner = self.runner()
            if self.ab is not None:
                a, b = await self.ab.send(text, runner, deciders[0], deciders[1])
                return [a, b]
            return [await converse(self.sessions[0], text, runner, deciders[0])]
        finally:
            self.busy = False
            self._emit("busy")

    def stop(self) -> None:
        for s in self.sessions:
            s.stop()

    def reset(self) -> None:
        """A new chat with the same model(s) and tools."""
        for s in self.sessions:
            s.reset()
        self._emit("reset")

    # --- tools --------------------------------------------------------------------------------
    def add_file_source(self, path: Path) -> ToolSource:
        src = self.catalog.add(source_from_file(path))
        if src.error:
            self._emit("error", src.error)
        return src

    def add_source(self, source: ToolSource) -> None:
        self.catalog.add(source)
        if source.error:
            self._emit("error", source.error)

    def remove_source(self, key: str) -> None:
        self.catalog.remove(key)

    async def start_server(self, name: str) -> None:
        try:
            await self.hub.start(name)
        except StudioError as exc:
            self._emit("error", str(exc))

    async def stop_server(self, name: str) -> None:
        await self.hub.stop(name)

    def _server_changed(self, session: McpSession | None) -> None:
        if session is not None and session.state.value in ("ready", "failed", "stopped"):
            src = source_from_session(session)
            if session.state.value == "stopped":
                src.error = "stopped"
            self.catalog.add(src)  # tells listeners
        else:
            self._emit("catalog")

    async def close(self) -> None:
        self.stop()
        for path in list(self.clients):
            await self._close_client(path)
        await self.hub.close()
        self.hub.remove_listener(self._server_changed)
