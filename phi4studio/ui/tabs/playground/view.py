"""Playground tab: chat with a local model, inspect every tool call, decide which ones run.

Binds the Qt-free Workbench (core/playground/workbench.py): the model and adapter pickers and
the A/B choice on top; settings and tool sources on the left; the transcript (or two, side by
side) in the middle with a ToolCallCard per call; the inspector on the right; the message box,
Send / Stop / New chat / Save to dataset at the bottom. Background work runs as asyncio tasks on
the one loop (workers and MCP servers as jobs in the JobQueue); dialogs open with open().
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.errors import StudioError
from phi4studio.core.mcp import Approval, McpHub, McpServerStore
from phi4studio.core.playground.keep import conversation_example, save_example
from phi4studio.core.playground.models import ModelChoice
from phi4studio.core.playground.records import CallRecord, SessionEvent
from phi4studio.core.playground.workbench import Compare, Workbench
from phi4studio.core.studio import Studio
from phi4studio.ui.tabs.playground.dialogs import NEW_DATASET, SaveDialog, ServerDialog
from phi4studio.ui.tabs.playground.panels import InspectorPanel, SettingsPanel
from phi4studio.ui.tabs.playground.tools_panel import ToolsPanel
from phi4studio.ui.tabs.playground.transcript import TranscriptView
from phi4studio.ui.widgets.tool_call_card import ToolCallCard

log = logging.getLogger(__name__)
BASE = "\x00base"  # the adapter combo's "base model" entry


class PlaygroundView(QWidget):
    def __init__(self, studio: Studio, parent: QWidget | None = None,
                 workbench: Workbench | None = None) -> None:
        super().__init__(parent)
        self.studio = studio
        self.library = studio.library
        self.servers = McpServerStore.in_config_dir(studio.dirs.config)
        self.wb = workbench or Workbench(
            McpHub(self.servers, submit=studio.queue.submit), queue=studio.queue,
            workspace=lambda: studio.workspace,
            provider=lambda: str(studio.settings.inference_device.value))
        self.tasks: set[asyncio.Task[Any]] = set()
        self.pending: dict[str, asyncio.Future[Approval]] = {}
        self.transcripts: list[TranscriptView] = []
        self.send_task: asyncio.Task[Any] | None = None
        self._build()
        self.wb.add_listener(self._wb_changed)
        if self.servers.message:
            self.status.setText(self.servers.message)
        self.refresh_models()
        handoff = getattr(studio, "handoff", None)
        if handoff is not None:
            from phi4studio.core.handoff import OpenModelRequest

            handoff.subscribe(OpenModelRequest, self.open_model)

    # --- layout -------------------------------------------------------------------------------
    def _build_serve_panel(self) -> QWidget:
        """Serve: the chosen model as a local OpenAI / Anthropic compatible endpoint."""
        from phi4studio.core.serve.controller import ServeController
        from phi4studio.ui.widgets.serve_panel import ServePanel

        studio = self.studio
        self.serve_controller = ServeController(studio.queue.submit,
                                                catalog=lambda: studio.workspace.catalog)
        self.serve_controller.load_history()
        self.serve_panel = ServePanel(self.serve_controller, list_models=self.wb.models,
                                      parent=self)
        return self.serve_panel

    def shutdown(self) -> None:
        """The window is closing: detach the Serve panel (the queue stops the server itself)."""
        self.serve_panel.shutdown()
        for t in list(self.tasks):
            t.cancel()

    def _build(self) -> None:
        self.model_combo = QComboBox(self)
        self.model_combo.setMinimumContentsLength(24)
        self.model_combo.currentIndexChanged.connect(self._model_picked)
        self.open_button = QPushButton("Open folder…", self)
        self.open_button.clicked.connect(self._open_folder)
        self.adapter_combo = QComboBox(self)
        self.compare_check = QCheckBox("Compare with", self)
        self.compare_combo = QComboBox(self)
        self.compare_combo.setMinimumContentsLength(18)
        self.compare_check.toggled.connect(self.compare_combo.setEnabled)
        self.compare_combo.setEnabled(False)
        self.load_button = QPushButton("Load", self)
        self.load_button.clicked.connect(self.load)
        self.status = QLabel("Choose an exported model, or open a model folder.", self)
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        for w in (QLabel("Model", self), self.model_combo, self.open_button,
                  QLabel("Adapter", self), self.adapter_combo, self.compare_check,
                  self.compare_combo, self.load_button):
            top.addWidget(w)
        top.addStretch(1)
        self.settings_panel = SettingsPanel(self.wb.settings, self)
        self.settings_panel.changed.connect(self._settings_changed)
        self.tools_panel = ToolsPanel(self.wb, self)
        self.tools_panel.datasets = lambda: [(d.id, d.name) for d in self.library.datasets()]
        self.tools_panel.add_dataset = self.add_dataset_tools
        self.tools_panel.add_file.connect(self._add_tool_file)
        self.tools_panel.add_server.connect(lambda: self.edit_server(None))
        self.tools_panel.edit_server.connect(self.edit_server)
        self.tools_panel.start_server.connect(lambda n: self.spawn(self.wb.start_server(n)))
        self.tools_panel.stop_server.connect(lambda n: self.spawn(self.wb.stop_server(n)))
        self.tools_panel.remove_server.connect(self._remove_server)
        left = QTabWidget(self)
        left.addTab(self.tools_panel, "Tools")
        left.addTab(self.settings_panel, "Settings")
        left.addTab(self._build_serve_panel(), "Serve")
        self.chats = QSplitter(Qt.Orientation.Horizontal, self)
        self.inspector = InspectorPanel(self)
        self.inspector.measure.connect(self.measure_guidance)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(left)
        split.addWidget(self.chats)
        split.addWidget(self.inspector)
        split.setStretchFactor(1, 3)
        split.setSizes([300, 700, 320])
        self.input = QPlainTextEdit(self)
        self.input.setPlaceholderText("Message the model (Ctrl+Enter to send)")
        self.input.setMaximumHeight(80)
        self.send_button = QPushButton("Send", self)
        self.stop_button = QPushButton("Stop", self)
        self.new_button = QPushButton("New chat", self)
        self.save_button = QPushButton("Save to dataset…", self)
        self.send_button.clicked.connect(self.send)
        self.stop_button.clicked.connect(self.stop)
        self.new_button.clicked.connect(self.new_chat)
        self.save_button.clicked.connect(self.save_to_dataset)
        QShortcut(QKeySequence("Ctrl+Return"), self.input, activated=self.send)
        bottom = QHBoxLayout()
        bottom.addWidget(self.input, 1)
        col = QVBoxLayout()
        for b in (self.send_button, self.stop_button, self.new_button, self.save_button):
            col.addWidget(b)
        bottom.addLayout(col)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addWidget(split, 1)
        lay.addLayout(bottom)
        self._set_transcripts(["Chat"])
        self._update_buttons()

    def _set_transcripts(self, titles: list[str]) -> None:
        for t in self.transcripts:
            t.setParent(None)
            t.deleteLater()
        self.transcripts = []
        while self.chats.count():
            w = self.chats.widget(0)
            w.setParent(None)
            w.deleteLater()
        for i, title in enumerate(titles):
            box = QWidget(self.chats)
            bl = QVBoxLayout(box)
            bl.setContentsMargins(0, 0, 0, 0)
            head = QLabel(f"<b>{title}</b>", box)
            tv = TranscriptView(title, box)
            tv.on_card = lambda card, side=i: self._wire_card(side, card)
            tv.card_context = self._card_context
            bl.addWidget(head)
            bl.addWidget(tv, 1)
            self.chats.addWidget(box)
            self.transcripts.append(tv)

    # --- tasks --------------------------------------------------------------------------------
    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            self._update_buttons()
            return
        exc = task.exception()
        if exc is not None:
            msg = str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
            self.status.setText(msg)
            if not isinstance(exc, StudioError):
                log.error("playground task failed", exc_info=exc)
        self._update_buttons()

    # --- models -------------------------------------------------------------------------------
    def refresh_models(self, select: Path | None = None) -> None:
        current = select or self._chosen_path()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for m in self.wb.models():
            self.model_combo.addItem(m.label, m)
        self.model_combo.blockSignals(False)
        for i in range(self.model_combo.count()):
            if self.model_combo.itemData(i).path == current:
                self.model_combo.setCurrentIndex(i)
        self._model_picked()

    def _chosen_path(self) -> Path | None:
        m = self.model_combo.currentData()
        return m.path if isinstance(m, ModelChoice) else None

    def _model_picked(self, *_: Any) -> None:
        m = self.model_combo.currentData()
        self.adapter_combo.clear()
        self.compare_combo.clear()
        self.adapter_combo.addItem("base model", BASE)
        if isinstance(m, ModelChoice):
            for name in m.adapters:
                self.adapter_combo.addItem(name, name)
                self.compare_combo.addItem(f"adapter {name}", ("adapter", name))
            self.compare_combo.insertItem(0, "base model", ("adapter", ""))
            for other in self.wb.models():
                if other.path != m.path:
                    self.compare_combo.addItem(f"model {other.name}", ("model", other))
        self._update_buttons()

    def _open_folder(self) -> None:
        dlg = QFileDialog(self, "Open a model folder (with genai_config.json)")
        dlg.setFileMode(QFileDialog.FileMode.Directory)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.fileSelected.connect(self.open_folder)
        dlg.open()

    def open_folder(self, path: str) -> ModelChoice | None:
        try:
            choice = self.wb.add_folder(path)
        except StudioError as exc:
            self.status.setText(str(exc))
            return None
        self.refresh_models(choice.path)
        return choice

    def open_model(self, request: Any) -> None:
        """Export's "Open in Playground" (core/handoff.py OpenModelRequest): load it here."""
        choice = self.wb.add_model(ModelChoice(
            str(request.label), Path(request.model_dir), "export", dict(request.adapters),
            export_id=request.export_id, provider=request.provider))
        self.refresh_models(choice.path)
        i = self.adapter_combo.findData(request.active_adapter or BASE)
        self.adapter_combo.setCurrentIndex(max(0, i))
        self._show_me()
        self.load()

    def _show_me(self) -> None:
        w = self.parentWidget()
        while w is not None and not isinstance(w, QTabWidget):
            w = w.parentWidget()
        if isinstance(w, QTabWidget) and w.indexOf(self) >= 0:
            w.setCurrentWidget(self)

    def compare_choice(self) -> Compare | None:
        if not self.compare_check.isChecked():
            return None
        data = self.compare_combo.currentData()
        if not data:
            return None
        kind, value = data
        if kind == "model":
            return Compare("model", model=value)
        return Compare("adapter", adapter=value)

    def load(self) -> asyncio.Task[Any] | None:
        m = self.model_combo.currentData()
        if not isinstance(m, ModelChoice):
            self.status.setText("Choose a model first.")
            return None
        adapter = self.adapter_combo.currentData()
        self.wb.format_override = self.settings_panel.format_override
        return self.spawn(self.wb.load(m, None if adapter == BASE else adapter,
                                       self.compare_choice()))

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self.busy:  # new exports, or another workspace
            self.refresh_models()

    # --- workbench events ---------------------------------------------------------------------
    def _wb_changed(self, what: str, message: str) -> None:
        if what == "sessions":
            self._bind_sessions()
        elif what == "reset":
            for t in self.transcripts:
                t.clear()
            self.inspector.clear()
        elif what == "catalog":
            self.tools_panel.refresh()
            if message:
                self.status.setText(message)
        elif what == "models":
            pass
        elif what in ("loading", "error"):
            self.status.setText(message)
        self._update_buttons()

    def _bind_sessions(self) -> None:
        labels = self.wb.labels()
        n = len(self.wb.sessions)
        self._set_transcripts([labels[i] for i in range(n)])
        self.inspector.clear()
        for i, s in enumerate(self.wb.sessions):
            s.add_listener(lambda ev, side=i: self._session_event(side, ev))
        info = self.wb.info(0)
        fmt = self.wb.sessions[0].fmt.name if self.wb.sessions else "?"
        where = f"{info.get('provider', '?')}"
        if info.get("fallback_reason"):
            where += f" (fallback: {info['fallback_reason']})"
        self.status.setText(f"Loaded {' vs '.join(labels[:n])} · chat format {fmt} · {where}")

    def _session_event(self, side: int, ev: SessionEvent) -> None:
        if side < len(self.transcripts):
            self.transcripts[side].on_event(ev)
        if ev.kind in ("turn_finished", "turn_failed") and ev.turn is not None:
            label = self.wb.labels()[side] if len(self.wb.sessions) > 1 else "Chat"
            self.inspector.add_turn(label, ev.turn)
            cost = self.wb.sessions[side].guidance_cost()
            if cost.get("ratio"):
                self.inspector.show_cost(cost, " (this chat)")
        elif ev.kind == "restart":
            self.status.setText(ev.text)
        elif ev.kind == "call_updated" and ev.call is not None and ev.call.auto_approved is False \
                and ev.call.name in self.wb.policy.always_allowed:
            self.tools_panel.refresh()  # "always allow" was just granted

    def _settings_changed(self) -> None:
        self.wb.system = self.settings_panel.system_prompt

    # --- chat ---------------------------------------------------------------------------------
    def send(self) -> asyncio.Task[Any] | None:
        text = self.input.toPlainText().strip()
        if not text or self.busy or not self.wb.sessions:
            if not self.wb.sessions:
                self.status.setText("Load a model first.")
            return None
        self.input.clear()
        for t in self.transcripts:
            t.add_user(text)
        self._settings_changed()
        self.send_task = self.spawn(self.wb.send(text, [self._decider(i) for i in
                                                        range(len(self.wb.sessions))]))
        self._update_buttons()
        return self.send_task

    @property
    def busy(self) -> bool:
        return self.wb.busy or (self.send_task is not None and not self.send_task.done())

    def _decider(self, side: int) -> Any:
        async def decide(call: CallRecord) -> Approval:
            fut: asyncio.Future[Approval] = asyncio.get_running_loop().create_future()
            self.pending[call.id] = fut
            try:
                return await fut
            finally:
                self.pending.pop(call.id, None)

        return decide

    def _wire_card(self, side: int, card: ToolCallCard) -> None:
        card.decided.connect(lambda approval, c=card: self.decide(c, approval))

    def decide(self, card: ToolCallCard, approval: Approval) -> None:
        fut = self.pending.get(card.call.id) if card.call is not None else None
        if fut is not None and not fut.done():
            fut.set_result(approval)

    def _card_context(self, call: CallRecord) -> tuple[bool, str | None]:
        server = self.wb.catalog.server_of(call.name)
        return self.wb.hub.can_run(server), server

    def stop(self) -> None:
        if any(s.busy for s in self.wb.sessions):
            self.wb.stop()
        elif self.send_task is not None:  # waiting for decisions: end the turn
            self.send_task.cancel()

    def new_chat(self) -> None:
        if self.busy:
            return
        self.wb.reset()

    def measure_guidance(self) -> None:
        if not self.wb.sessions or self.busy:
            return
        session = self.wb.sessions[0]
        self.wb.apply_settings()

        async def run() -> None:
            cost = await session.measure_guidance_cost()
            self.inspector.show_cost(cost, " (measured)")

        self.spawn(run())

    def _update_buttons(self) -> None:
        loaded = bool(self.wb.sessions)
        busy = self.busy
        self.send_button.setEnabled(loaded and not busy)
        self.stop_button.setEnabled(busy)
        self.new_button.setEnabled(loaded and not busy)
        self.save_button.setEnabled(loaded and not busy and any(s.messages for s in
                                                                self.wb.sessions))
        self.load_button.setEnabled(not busy and self.model_combo.count() > 0)

    # --- tools --------------------------------------------------------------------------------
    def _add_tool_file(self) -> None:
        dlg = QFileDialog(self, "Add a tool file")
        dlg.setNameFilter("Tool catalogs (*.json);;All files (*)")
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.fileSelected.connect(lambda p: self.wb.add_file_source(Path(p)))
        dlg.open()

    def add_dataset_tools(self, dataset_id: str, name: str) -> asyncio.Task[Any]:
        from phi4studio.core.jobs import ExecutorJob
        from phi4studio.core.mcp import source_from_dataset

        store = self.library.store(dataset_id)
        job = ExecutorJob(f"Tools of {name}",
                          lambda _ctx: source_from_dataset(store, name, dataset_id),
                          category="playground")
        self.studio.queue.submit(job)

        async def done() -> None:
            await self.studio.queue.wait(job)
            if job.result is not None:
                self.wb.add_source(job.result)
            elif job.error:
                self.status.setText(job.error)

        return self.spawn(done())

    def edit_server(self, name: str | None) -> ServerDialog:
        cfg = self.wb.hub.config(name) if name else None

        def save(config: Any, old: str | None) -> None:
            self.wb.hub.put(config, replace=old)
            self.tools_panel.refresh()

        dlg = ServerDialog(self, save, cfg)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()
        return dlg

    def _remove_server(self, name: str) -> None:
        async def remove() -> None:
            await self.wb.hub.remove(name)
            self.wb.remove_source(f"mcp:{name}")

        self.spawn(remove())

    # --- save to dataset ----------------------------------------------------------------------
    def save_to_dataset(self) -> SaveDialog | None:
        sessions = [s for s in self.wb.sessions if s.messages]
        if not sessions:
            return None
        labels = self.wb.labels()
        sides = [(labels[i], conversation_example(s)) for i, s in enumerate(self.wb.sessions)
                 if s.messages]
        datasets = [(d.id, d.name) for d in self.library.datasets()]

        def save(ds_id: str, new_name: str, example: dict[str, Any]) -> str:
            if ds_id == NEW_DATASET:
                ds_id = self.library.create(self.library.unique_name(new_name or "Playground")).id
            saved = save_example(self.library, ds_id, example)
            self.status.setText(f"Saved as {saved} in {self.library.get(ds_id).name}.")
            return saved

        dlg = SaveDialog(self, sides[0][1], datasets, save, sides)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()
        return dlg
