"""The Playground's dialogs: an MCP server's settings, and "Save to dataset". Both are opened
with open() and report through `finished`; neither blocks the event loop."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.errors import StudioError
from phi4studio.core.mcp.config import McpConfigError, McpServerConfig
from phi4studio.core.playground.keep import check_example
from phi4studio.ui.widgets.tool_call_card import mono

NEW_DATASET = "__new__"


class ServerDialog(QDialog):
    """Name, command line, environment (KEY=VALUE lines), working folder, call timeout.
    `on_save(config, old_name)` stores it; an error it raises stays in the dialog."""

    def __init__(self, parent: QWidget, on_save: Callable[[McpServerConfig, str | None], None],
                 config: McpServerConfig | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit MCP server" if config else "Add MCP server")
        self.old_name = config.name if config else None
        self.on_save = on_save
        self.name = QLineEdit(config.name if config else "", self)
        self.command = QLineEdit(config.command_line if config else "", self)
        self.command.setPlaceholderText('e.g. uvx mcp-server-time   or   npx -y "@scope/server" .')
        self.env = QPlainTextEdit("\n".join(f"{k}={v}" for k, v in (config.env if config
                                                                     else {}).items()), self)
        self.env.setPlaceholderText("KEY=VALUE, one a line (stored in plain text)")
        self.env.setMaximumHeight(90)
        self.cwd = QLineEdit((config.cwd or "") if config else "", self)
        self.timeout = QDoubleSpinBox(self)
        self.timeout.setRange(1, 3600)
        self.timeout.setValue(config.timeout_s if config else 60.0)
        self.timeout.setSuffix(" s")
        self.error = QLabel(self)
        self.error.setStyleSheet("color:#cf222e")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Command", self.command)
        form.addRow("Environment", self.env)
        form.addRow("Working folder", self.cwd)
        form.addRow("Call timeout", self.timeout)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self.resize(520, 320)

    def config(self) -> McpServerConfig:
        env: dict[str, str] = {}
        for n, line in enumerate(self.env.toPlainText().splitlines(), 1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise McpConfigError(f"Environment line {n} is not KEY=VALUE.")
            env[key.strip()] = value
        return McpServerConfig.from_command_line(
            self.name.text().strip(), self.command.text(), env=env,
            cwd=self.cwd.text().strip() or None, timeout_s=self.timeout.value())

    def _save(self) -> None:
        try:
            self.on_save(self.config(), self.old_name)
        except StudioError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


class SaveDialog(QDialog):
    """The conversation as a canonical example: choose a dataset (or a new one), correct the
    example as JSON if needed (checked as one types), save. Saving is refused while errors
    remain. `on_save(dataset_id_or_NEW, new_name, example)` returns the saved id."""

    def __init__(self, parent: QWidget, example: dict[str, Any],
                 datasets: list[tuple[str, str]],
                 on_save: Callable[[str, str, dict[str, Any]], str],
                 sides: list[tuple[str, dict[str, Any]]] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Save to dataset")
        self.on_save = on_save
        self.sides = sides or []
        self.saved_id: str | None = None
        self.side = QComboBox(self)
        for label, _ex in self.sides:
            self.side.addItem(label)
        self.side.setVisible(len(self.sides) > 1)
        self.side.currentIndexChanged.connect(self._pick_side)
        self.dataset = QComboBox(self)
        for ds_id, name in datasets:
            self.dataset.addItem(name, ds_id)
        self.dataset.addItem("New dataset…", NEW_DATASET)
        self.new_name = QLineEdit("Playground conversations", self)
        self.dataset.currentIndexChanged.connect(self._dataset_changed)
        self.text = QPlainTextEdit(self)
        mono(self.text)
        self.issues = QLabel(self)
        self.issues.setWordWrap(True)
        self.issues.setTextFormat(Qt.TextFormat.RichText)
        self.issues.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        if len(self.sides) > 1:
            form.addRow("Side", self.side)
        form.addRow("Dataset", self.dataset)
        form.addRow("New dataset name", self.new_name)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QLabel("The example (tool calls as you corrected them; edit if needed):",
                             self))
        lay.addWidget(self.text, 1)
        lay.addWidget(self.issues)
        lay.addWidget(self.buttons)
        self.text.textChanged.connect(self._check)
        self.text.setPlainText(json.dumps(example, indent=2, ensure_ascii=False))
        self._dataset_changed()
        self.resize(720, 640)

    def _pick_side(self, i: int) -> None:
        if 0 <= i < len(self.sides):
            self.text.setPlainText(json.dumps(self.sides[i][1], indent=2, ensure_ascii=False))

    def _dataset_changed(self, *_: Any) -> None:
        self.new_name.setEnabled(self.dataset.currentData() == NEW_DATASET)

    def example(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.text.toPlainText())
        except json.JSONDecodeError as exc:
            self._show([f"not valid JSON: {exc.msg} (line {exc.lineno})"], [])
            return None
        return value if isinstance(value, dict) else None

    def _check(self) -> None:
        ex = self.example()
        if ex is None:
            self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)
            return
        _model, issues = check_example(ex)
        errors = [f"{i.path}: {i.message}" for i in issues if i.severity == "error"]
        warnings = [f"{i.path}: {i.message}" for i in issues if i.severity != "error"]
        self._show(errors, warnings)

    def _show(self, errors: list[str], warnings: list[str]) -> None:
        import html

        rows = [f"<li style='color:#cf222e'>{html.escape(e)}</li>" for e in errors]
        rows += [f"<li style='color:#9a6700'>{html.escape(w)}</li>" for w in warnings]
        head = ("<span style='color:#1a7f37'>✓ a valid example</span>" if not errors
                else f"<b>{len(errors)} error(s) to correct before saving</b>")
        self.issues.setText(head + (f"<ul style='margin:0'>{''.join(rows)}</ul>" if rows else ""))
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(not errors)

    def _save(self) -> None:
        ex = self.example()
        if ex is None:
            return
        try:
            self.saved_id = self.on_save(str(self.dataset.currentData()),
                                         self.new_name.text().strip(), ex)
        except StudioError as exc:
            self._show([str(exc)], [])
            return
        self.accept()
