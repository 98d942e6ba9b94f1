"""The tool catalog of a chat: tools merged from several sources.

    catalog = ToolCatalog()
    catalog.add(source_from_file(Path("tools.json")))        # a JSON file of tool definitions
    catalog.add(source_from_dataset(store, "Everyday tools"))  # the tools a dataset offers
    catalog.add(source_from_session(mcp_session))            # a live MCP server's tools
    catalog.tools()            # what the model is offered: enabled sources, first name wins
    catalog.server_of("add_note")   # the live server that can run it (None: mock only)

A name offered by two sources is taken from the first one added (listed in `conflicts()`); a
tool can be switched off by name (`disabled`). Only tools from live servers can be executed;
the others can be answered with a typed (mock) result.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from phi4studio.core.datasets.store import DatasetStore
    from phi4studio.core.mcp.session import McpSession

SourceKind = Literal["file", "dataset", "mcp", "inline"]


@dataclass
class ToolSource:
    kind: SourceKind
    name: str  # file path, dataset name, server name
    tools: list[dict[str, Any]] = field(default_factory=list)
    enabled: bool = True
    error: str | None = None  # why the source gave no tools (server failed, file unreadable)
    ref: str | None = None  # dataset id / server name / file path: what the source points to

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.ref or self.name}"

    @property
    def executable(self) -> bool:
        return self.kind == "mcp"


@dataclass(frozen=True)
class CatalogEntry:
    tool: dict[str, Any]
    source: ToolSource

    @property
    def name(self) -> str:
        return str(self.tool.get("name"))

    @property
    def server(self) -> str | None:
        return (self.source.ref or self.source.name) if self.source.kind == "mcp" else None


Listener = Callable[[], None]


class ToolCatalog:
    def __init__(self, sources: Iterable[ToolSource] = ()) -> None:
        self.sources: list[ToolSource] = list(sources)
        self.disabled: set[str] = set()
        self._listeners: list[Listener] = []

    # --- listeners ----------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def changed(self) -> None:
        for fn in list(self._listeners):
            fn()

    # --- sources ------------------------------------------------------------------------------
    def add(self, source: ToolSource) -> ToolSource:
        """Add a source, or replace the one with the same key (kept in its place)."""
        for i, s in enumerate(self.sources):
            if s.key == source.key:
                source.enabled = s.enabled
                self.sources[i] = source
                break
        else:
            self.sources.append(source)
        self.changed()
        return source

    def remove(self, key: str) -> bool:
        before = len(self.sources)
        self.sources = [s for s in self.sources if s.key != key]
        if len(self.sources) != before:
            self.changed()
            return True
        return False

    def get(self, key: str) -> ToolSource | None:
        return next((s for s in self.sources if s.key == key), None)

    def set_enabled(self, key: str, enabled: bool) -> None:
        src = self.get(key)
        if src is not None and src.enabled != enabled:
            src.enabled = enabled
            self.changed()

    def set_tool_enabled(self, name: str, enabled: bool) -> None:
        before = set(self.disabled)
        if enabled:
            self.disabled.discard(name)
        else:
            self.disabled.add(name)
        if before != self.disabled:
            self.changed()

    # --- the merged view ----------------------------------------------------------------------
    def entries(self, *, include_disabled: bool = False) -> list[CatalogEntry]:
        seen: set[str] = set()
        out: list[CatalogEntry] = []
        for src in self.sources:
            if not src.enabled:
                continue
            for t in src.tools:
                name = str(t.get("name") or "")
                if not name or name in seen:
                    continue
                seen.add(name)
                if include_disabled or name not in self.disabled:
                    out.append(CatalogEntry(t, src))
        return out

    def tools(self) -> list[dict[str, Any]]:
        """The tools offered to the model (copies: callers may keep them)."""
        return [copy.deepcopy(e.tool) for e in self.entries()]

    def entry(self, name: str) -> CatalogEntry | None:
        return next((e for e in self.entries(include_disabled=True) if e.name == name), None)

    def tool(self, name: str) -> dict[str, Any] | None:
        e = self.entry(name)
        return e.tool if e is not None else None

    def server_of(self, name: str) -> str | None:
        e = self.entry(name)
        return e.server if e is not None else None

    def conflicts(self) -> list[str]:
        """Names offered by more than one enabled source (the first source's tool is used)."""
        count: dict[str, int] = {}
        for src in self.sources:
            if src.enabled:
                for n in {str(t.get("name")) for t in src.tools}:
                    count[n] = count.get(n, 0) + 1
        return sorted(n for n, c in count.items() if c > 1)


# --- sources ----------------------------------------------------------------------------------


def source_from_file(path: Path) -> ToolSource:
    """A tool catalog file (resources/samples/tools.json shape, OpenAI tools, plain functions);
    a file that cannot be read gives a source with its error and no tools."""
    from phi4studio.core.datasets.catalog import load_tool_catalog
    from phi4studio.core.errors import StudioError

    path = Path(path)
    try:
        tools = load_tool_catalog(path)
    except StudioError as exc:
        return ToolSource("file", path.name, [], error=str(exc), ref=str(path))
    return ToolSource("file", path.name, tools, ref=str(path))


def tools_of_examples(examples: Iterable[Mapping[str, Any]], limit: int | None = None
                      ) -> list[dict[str, Any]]:
    """The distinct tools offered across examples, by name (the first definition wins)."""
    seen: dict[str, dict[str, Any]] = {}
    for ex in examples:
        for t in ex.get("tools") or []:
            if isinstance(t, Mapping) and isinstance(t.get("name"), str):
                seen.setdefault(t["name"], dict(t))
        if limit is not None and len(seen) >= limit:
            break
    return list(seen.values())


def source_from_dataset(store: DatasetStore, name: str, dataset_id: str | None = None
                        ) -> ToolSource:
    """Every tool the dataset's examples offer (read in batches; runs in an executor job for
    a large dataset)."""
    return ToolSource("dataset", name, tools_of_examples(store.iter_dicts()), ref=dataset_id)


def source_from_session(session: McpSession) -> ToolSource:
    error = session.error if session.state.value == "failed" else None
    return ToolSource("mcp", session.name, list(session.tools), error=error, ref=session.name)
