"""The Serve panel: start/stop the local OpenAI- and Anthropic-compatible server for a model,
see its address (and API key off loopback), and its request log.

A self-contained widget over a Qt-free `ServeController` (phi4studio/core/serve/controller.py),
meant to be mounted in the Playground:

    ctl = ServeController(studio.queue.submit, catalog=lambda: studio.workspace.catalog)
    panel = ServePanel(ctl, list_models=lambda: workspace_models(studio.workspace.catalog))

`list_models` returns objects with `name`, `path` and `adapters` ({name: file}); the
Playground's own model list fits. Controller notifications only mark the table dirty; a 10 Hz
timer repaints, so a busy server costs the UI thread next to nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.serve.config import DEFAULT_HOST, DEFAULT_PORT, adapters_in
from phi4studio.core.serve.controller import ServableModel, ServeController, ServeOptions

COLUMNS = ("Time", "API", "Client", "Model", "Tokens in/out", "Latency", "Tool calls", "Status")
FLUSH_MS = 100
ALL_HOSTS = "0.0.0.0"
Index = QModelIndex | QPersistentModelIndex


class RequestLogModel(QAbstractTableModel):
    """The controller's records, newest first."""

    def __init__(self, controller: ServeController, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctl = controller
        self._rows: list[dict[str, Any]] = []
        self.dirty = True

    def refresh(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        self.beginResetModel()
        self._rows = list(reversed(self.ctl.records))
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def record(self, row: int) -> dict[str, Any]:
        return self._rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return r.get("error") or r.get("preview") or None
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        col = index.column()
        if col == 0:
            return time.strftime("%H:%M:%S", time.localtime(float(r.get("created_at") or 0)))
        if col == 1:
            return "OpenAI" if r.get("api") == "openai" else "Anthropic"
        if col == 2:
            return r.get("client", "")
        if col == 3:
            return r.get("model", "")
        if col == 4:
            if r.get("prompt_tokens") is None:
                return ""
            return f"{r.get('prompt_tokens')} / {r.get('completion_tokens') or 0}"
        if col == 5:
            lat = r.get("latency_s")
            return f"{lat:.2f} s" if isinstance(lat, (int, float)) else ""
        if col == 6:
            return ", ".join(r.get("tool_calls") or [])
        status = r.get("status")
        reason = r.get("finish_reason")
        return f"{status} {reason}" if reason else str(status)


class ServePanel(QWidget):
    def __init__(
        self,
        controller: ServeController,
        *,
        list_models: Callable[[], Sequence[Any]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctl = controller
        self.list_models = list_models or (lambda: [])
        self._extra: list[ServableModel] = []

        self.model_box = QComboBox()
        self.browse_btn = QPushButton("Folder…")
        self.adapter_box = QComboBox()
        self.host_edit = QLineEdit(DEFAULT_HOST)
        self.host_edit.setEnabled(False)
        self.remote_check = QCheckBox("Allow other machines (an API key is required)")
        self.port_spin = QSpinBox()
        self.port_spin.setRange(0, 65535)
        self.port_spin.setValue(DEFAULT_PORT)
        self.port_spin.setToolTip("0: any free port")
        self.guided_check = QCheckBox("Guided tool calls (every call valid against its schema)")
        self.start_btn = QPushButton("Start server")
        self.status_label = QLabel("Stopped")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key_edit = QLineEdit()
        self.key_edit.setReadOnly(True)
        self.copy_btn = QPushButton("Copy")
        self.key_row = QWidget()
        kr = QHBoxLayout(self.key_row)
        kr.setContentsMargins(0, 0, 0, 0)
        kr.addWidget(QLabel("API key:"))
        kr.addWidget(self.key_edit, 1)
        kr.addWidget(self.copy_btn)
        self.key_row.setVisible(False)

        self.log_model = RequestLogModel(controller, self)
        self.table = QTableView()
        self.table.setModel(self.log_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)

        model_row = QHBoxLayout()
        model_row.addWidget(self.model_box, 1)
        model_row.addWidget(self.browse_btn)
        form = QFormLayout()
        form.addRow("Model", model_row)
        form.addRow("Adapter", self.adapter_box)
        addr = QHBoxLayout()
        addr.addWidget(self.host_edit, 1)
        addr.addWidget(QLabel("Port"))
        addr.addWidget(self.port_spin)
        form.addRow("Address", addr)
        form.addRow("", self.remote_check)
        form.addRow("", self.guided_check)
        top = QHBoxLayout()
        top.addWidget(self.start_btn)
        top.addWidget(self.status_label, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(top)
        lay.addWidget(self.key_row)
        lay.addWidget(QLabel("Requests"))
        lay.addWidget(self.table, 1)

        self.model_box.currentIndexChanged.connect(self._fill_adapters)
        self.browse_btn.clicked.connect(self._browse)
        self.remote_check.toggled.connect(self._remote_toggled)
        self.start_btn.clicked.connect(self._start_stop)
        self.copy_btn.clicked.connect(self._copy_key)
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self.log_model.refresh)
        self._timer.start()
        controller.add_listener(self._on_controller)
        self.reload_models()
        self._show_state()

    # --- models ---------------------------------------------------------------------------------
    def models(self) -> list[Any]:
        return [*self.list_models(), *self._extra]

    def reload_models(self) -> None:
        current = self.model_box.currentData()
        self.model_box.blockSignals(True)
        self.model_box.clear()
        for m in self.models():
            self.model_box.addItem(str(m.name), m)
        if current is not None:
            for i in range(self.model_box.count()):
                if self.model_box.itemData(i).path == current.path:
                    self.model_box.setCurrentIndex(i)
        self.model_box.blockSignals(False)
        self._fill_adapters()

    def add_model_folder(self, folder: str | Path) -> None:
        path = Path(folder)
        self._extra.append(ServableModel(path.name, path, adapters_in(path)))
        self.reload_models()
        self.model_box.setCurrentIndex(self.model_box.count() - 1)

    def _browse(self) -> None:
        dlg = QFileDialog(self, "Model folder (with genai_config.json)")
        dlg.setFileMode(QFileDialog.FileMode.Directory)
        dlg.fileSelected.connect(self.add_model_folder)
        dlg.open()

    def _fill_adapters(self) -> None:
        self.adapter_box.clear()
        self.adapter_box.addItem("(base model)", None)
        m = self.model_box.currentData()
        for name in sorted(getattr(m, "adapters", {}) or {}):
            self.adapter_box.addItem(name, name)

    # --- actions --------------------------------------------------------------------------------
    def _remote_toggled(self, on: bool) -> None:
        self.host_edit.setEnabled(on)
        self.host_edit.setText(ALL_HOSTS if on else DEFAULT_HOST)

    def options(self) -> ServeOptions | None:
        m = self.model_box.currentData()
        if m is None:
            return None
        return ServeOptions(
            Path(m.path), adapters=dict(getattr(m, "adapters", {}) or {}),
            adapter=self.adapter_box.currentData(), host=self.host_edit.text().strip(),
            port=self.port_spin.value(), guided_tools=self.guided_check.isChecked(),
        )

    def _start_stop(self) -> None:
        if self.ctl.running:
            self.ctl.stop()
            return
        opts = self.options()
        if opts is None:
            self.status_label.setText("Choose a model first (an export, or a folder).")
            return
        self.ctl.start(opts)

    def _copy_key(self) -> None:
        QGuiApplication.clipboard().setText(self.key_edit.text())

    # --- controller -----------------------------------------------------------------------------
    def _on_controller(self, what: str) -> None:
        if what == "record":
            self.log_model.dirty = True
        else:
            self._show_state()

    def _show_state(self) -> None:
        ctl = self.ctl
        running = ctl.running
        self.start_btn.setText("Stop server" if running else "Start server")
        self.start_btn.setEnabled(ctl.state != "stopping")
        for w in (self.model_box, self.browse_btn, self.adapter_box, self.remote_check,
                  self.port_spin, self.guided_check):
            w.setEnabled(not running)
        self.host_edit.setEnabled(not running and self.remote_check.isChecked())
        text = {"stopped": "Stopped", "starting": "Starting…", "stopping": "Stopping…",
                "running": "Running", "failed": "Failed"}[ctl.state]
        if ctl.state == "running" and ctl.url:
            text = f"Running at {ctl.url}  (OpenAI base URL; Anthropic: {ctl.url[:-3]})"
        elif ctl.message and ctl.state in ("failed", "starting"):
            text += f": {ctl.message}"
        self.status_label.setText(text)
        show_key = bool(ctl.api_key) and running
        self.key_row.setVisible(show_key)
        self.key_edit.setText((ctl.api_key or "") if show_key else "")

    def shutdown(self) -> None:
        """Stop the timer and detach from the controller (the server keeps its own life)."""
        self._timer.stop()
        self.ctl.remove_listener(self._on_controller)

    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)
