"""The tool sources panel: tool files, datasets' tools and MCP servers (with their state and
tools), merged into what the model is offered. Tools and sources can be switched off; servers
are added, edited, removed, started and stopped here; "always allow" grants can be revoked."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.mcp import ServerState, risk_label
from phi4studio.core.mcp.catalog import ToolSource

if TYPE_CHECKING:
    from phi4studio.core.playground.workbench import Workbench

KIND_LABEL = {"file": "file", "dataset": "dataset", "mcp": "MCP", "inline": "tools"}
STATE_TEXT = {ServerState.STOPPED: "stopped", ServerState.STARTING: "starting…",
              ServerState.READY: "ready", ServerState.FAILED: "failed"}
ROLE_KEY = Qt.ItemDataRole.UserRole
ROLE_TOOL = Qt.ItemDataRole.UserRole + 1


class ToolsPanel(QWidget):
    add_file = Signal()
    add_server = Signal()
    edit_server = Signal(str)
    start_server = Signal(str)
    stop_server = Signal(str)
    remove_server = Signal(str)

    def __init__(self, wb: Workbench, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.wb = wb
        self.datasets: Callable[[], list[tuple[str, str]]] = list  # (id, name) pairs
        self.add_dataset: Callable[[str, str], None] | None = None
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Source / tool", "State"])
        self.tree.setColumnWidth(0, 200)
        self.tree.itemChanged.connect(self._checked)
        self.tree.itemSelectionChanged.connect(self._selection)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        b = self.buttons = {
            "file": QPushButton("Tool file…", self), "dataset": QPushButton("Dataset…", self),
            "server": QPushButton("MCP server…", self), "edit": QPushButton("Edit", self),
            "start": QPushButton("Start", self), "stop": QPushButton("Stop", self),
            "remove": QPushButton("Remove", self), "revoke": QPushButton("Revoke", self),
        }
        b["revoke"].setToolTip("Ask again before running this tool")
        b["file"].clicked.connect(self.add_file.emit)
        b["server"].clicked.connect(self.add_server.emit)
        b["dataset"].clicked.connect(self._dataset_menu)
        b["edit"].clicked.connect(lambda: self._server_action(self.edit_server))
        b["start"].clicked.connect(lambda: self._server_action(self.start_server))
        b["stop"].clicked.connect(lambda: self._server_action(self.stop_server))
        b["remove"].clicked.connect(self._remove)
        b["revoke"].clicked.connect(self._revoke)
        row1, row2 = QHBoxLayout(), QHBoxLayout()
        for k in ("file", "dataset", "server"):
            row1.addWidget(b[k])
        for k in ("edit", "start", "stop", "remove", "revoke"):
            row2.addWidget(b[k])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(row1)
        lay.addWidget(self.tree, 1)
        lay.addLayout(row2)
        lay.addWidget(self.summary)
        self._filling = False
        self.refresh()

    # --- content ------------------------------------------------------------------------------
    def _sources(self) -> list[tuple[ToolSource, str | None]]:
        """Catalog sources, plus configured servers not started yet (as empty sources)."""
        out: list[tuple[ToolSource, str | None]] = []
        known = set()
        for src in self.wb.catalog.sources:
            server = (src.ref or src.name) if src.kind == "mcp" else None
            out.append((src, server))
            if server:
                known.add(server)
        for cfg in self.wb.hub.configs():
            if cfg.name not in known:
                out.append((ToolSource("mcp", cfg.name, [], ref=cfg.name), cfg.name))
        return out

    def refresh(self) -> None:
        selected = self._selected_key()
        self._filling = True
        self.tree.clear()
        offered = {t["name"] for t in self.wb.catalog.tools()}
        for src, server in self._sources():
            top = QTreeWidgetItem(self.tree)
            top.setText(0, f"{src.name}  ({KIND_LABEL.get(src.kind, src.kind)})")
            top.setData(0, ROLE_KEY, src.key)
            top.setFlags(top.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            top.setCheckState(0, Qt.CheckState.Checked if src.enabled else
                              Qt.CheckState.Unchecked)
            state = f"{len(src.tools)} tool(s)"
            if server is not None:
                st = self.wb.hub.state(server)
                state = STATE_TEXT[st] + (f" · {len(src.tools)} tool(s)" if st is ServerState.READY
                                          else "")
                if self.wb.hub.needs_restart(server):
                    state += " · restart to apply edits"
                session = self.wb.hub.sessions.get(server)
                if st is ServerState.FAILED and session is not None and session.error:
                    top.setToolTip(1, session.error)
                    top.setToolTip(0, session.error)
            elif src.error:
                state = "error"
                top.setToolTip(0, src.error)
            top.setText(1, state)
            for t in src.tools:
                name = str(t.get("name"))
                item = QTreeWidgetItem(top)
                item.setText(0, name)
                item.setData(0, ROLE_TOOL, name)
                item.setToolTip(0, str(t.get("description") or ""))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(0, Qt.CheckState.Unchecked if name in self.wb.catalog.disabled
                                   else Qt.CheckState.Checked)
                label = risk_label(t)
                if name in self.wb.policy.always_allowed:
                    label += " · always allowed"
                if src.enabled and name not in offered and name not in self.wb.catalog.disabled:
                    label += " · hidden (same name above)"
                item.setText(1, label)
            top.setExpanded(len(src.tools) <= 12)
            if src.key == selected:
                self.tree.setCurrentItem(top)
        self._filling = False
        n = len(offered)
        allowed = sorted(self.wb.policy.always_allowed)
        self.summary.setText(f"{n} tool(s) offered to the model."
                             + (f" Always allowed: {', '.join(allowed)}." if allowed else ""))
        self._selection()

    # --- selection and actions ----------------------------------------------------------------
    def _selected(self) -> QTreeWidgetItem | None:
        items = self.tree.selectedItems()
        return items[0] if items else None

    def _selected_key(self) -> str | None:
        item = self._selected()
        if item is None:
            return None
        top = item.parent() or item
        key = top.data(0, ROLE_KEY)
        return str(key) if key else None

    def selected_server(self) -> str | None:
        key = self._selected_key()
        return key[4:] if key and key.startswith("mcp:") else None

    def _selection(self) -> None:
        server = self.selected_server()
        state = self.wb.hub.state(server) if server else None
        configured = server is not None and self.wb.hub.config(server) is not None
        b = self.buttons
        b["edit"].setEnabled(configured)
        b["start"].setEnabled(configured and state in (ServerState.STOPPED, ServerState.FAILED))
        b["stop"].setEnabled(state in (ServerState.READY, ServerState.STARTING))
        b["remove"].setEnabled(self._selected_key() is not None)
        item = self._selected()
        tool = item.data(0, ROLE_TOOL) if item is not None else None
        b["revoke"].setEnabled(bool(tool) and tool in self.wb.policy.always_allowed)

    def _server_action(self, signal: Any) -> None:
        server = self.selected_server()
        if server:
            signal.emit(server)

    def _remove(self) -> None:
        key = self._selected_key()
        if key is None:
            return
        server = self.selected_server()
        if server is not None and self.wb.hub.config(server) is not None:
            self.remove_server.emit(server)
        else:
            self.wb.remove_source(key)

    def _revoke(self) -> None:
        item = self._selected()
        tool = item.data(0, ROLE_TOOL) if item is not None else None
        if tool:
            self.wb.policy.revoke(str(tool))
            self.refresh()

    def _checked(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != 0:
            return
        on = item.checkState(0) == Qt.CheckState.Checked
        tool = item.data(0, ROLE_TOOL)
        if tool:
            self.wb.catalog.set_tool_enabled(str(tool), on)
        else:
            self.wb.catalog.set_enabled(str(item.data(0, ROLE_KEY)), on)

    def _dataset_menu(self) -> None:
        menu = QMenu(self)
        items = self.datasets()
        for ds_id, name in items:
            act = menu.addAction(name)
            act.triggered.connect(lambda _=False, i=ds_id, n=name: self.add_dataset and
                                  self.add_dataset(i, n))
        if not items:
            menu.addAction("(no datasets in this workspace)").setEnabled(False)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.buttons["dataset"].mapToGlobal(self.buttons["dataset"].rect()
                                                       .bottomLeft()))
