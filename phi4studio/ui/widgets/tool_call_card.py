"""ToolCallCard: one tool call the model made, as the user inspects and decides it.

While the model streams, the card previews the call (name, raw arguments as they arrive). Once
the turn ends it binds to its CallRecord: the tool's name and risk (read-only, destructive, may
change things), the arguments as formatted JSON, every validation problem with its JSON path,
whether guided decoding was on, the raw model output (special tokens included), and the
decision buttons: Run, Always allow (read-only tools only), Deny, Edit arguments (checked
against the schema as one types) and Mock result (type the tool's answer). `decided` carries the
user's Approval; `refresh()` shows the call's status and the tool's result.
"""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QTextOption
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.mcp.approval import Approval, can_always_allow, risk_label
from phi4studio.core.playground.records import CallRecord, CallStatus

RISK_COLORS = {"read-only": "#1a7f37", "destructive": "#cf222e", "may change things": "#9a6700"}
STATUS_TEXT = {
    CallStatus.PENDING: "waiting for your decision",
    CallStatus.RUNNING: "running…",
    CallStatus.DONE: "ran",
    CallStatus.FAILED: "failed",
    CallStatus.DENIED: "denied",
    CallStatus.MOCKED: "answered by you (mock)",
    CallStatus.CANCELLED: "cancelled",
}


def mono(widget: QWidget) -> None:
    widget.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    if isinstance(widget, QPlainTextEdit):  # long unbroken values wrap instead of widening
        widget.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)


def clip(text: str, n: int = 160) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class ToolCallCard(QFrame):
    decided = Signal(object)  # Approval

    def __init__(self, index: int, name: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.call: CallRecord | None = None
        self.raw_text = ""
        self._preview = ""
        self.can_run = True
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("toolCallCard")
        self.title = QLabel(self)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.badges = QLabel(self)
        self.badges.setTextFormat(Qt.TextFormat.RichText)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.badges)
        self.args = QPlainTextEdit(self)
        self.args.setReadOnly(True)
        mono(self.args)
        self.issues = QLabel(self)
        self.issues.setTextFormat(Qt.TextFormat.RichText)
        self.issues.setWordWrap(True)
        self.issues.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result = QPlainTextEdit(self)
        self.result.setReadOnly(True)
        mono(self.result)
        self.result.hide()
        self.raw_button = QToolButton(self)
        self.raw_button.setText("Raw output")
        self.raw_button.setCheckable(True)
        self.raw_button.setToolTip("The model's output as generated, special tokens included")
        self.raw = QPlainTextEdit(self)
        self.raw.setReadOnly(True)
        mono(self.raw)
        self.raw.hide()
        self.raw_button.toggled.connect(self.raw.setVisible)
        self._build_editors()
        self._build_buttons()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addLayout(head)
        lay.addWidget(self.args)
        lay.addWidget(self.editor)
        lay.addWidget(self.issues)
        lay.addWidget(self.mock_box)
        lay.addLayout(self.button_row)
        lay.addWidget(self.status)
        lay.addWidget(self.result)
        lay.addWidget(self.raw_button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.raw)
        self.set_preview(name, "")

    def _build_editors(self) -> None:
        from phi4studio.ui.widgets.json_editor import JsonEditor

        self.editor = JsonEditor(self, max_lines=12)
        self.editor.hide()
        self.mock_box = QWidget(self)
        self.mock_text = QPlainTextEdit(self.mock_box)
        self.mock_text.setPlaceholderText("Type the tool's result, as the model should read it")
        self.mock_text.setMaximumHeight(90)
        self.mock_error = QCheckBox("It is an error", self.mock_box)
        send = QPushButton("Send result", self.mock_box)
        send.clicked.connect(self._send_mock)
        ml = QVBoxLayout(self.mock_box)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addWidget(self.mock_text)
        row = QHBoxLayout()
        row.addWidget(self.mock_error)
        row.addStretch(1)
        row.addWidget(send)
        ml.addLayout(row)
        self.mock_box.hide()

    def _build_buttons(self) -> None:
        self.run_button = QPushButton("Run", self)
        self.always_button = QPushButton("Always allow", self)
        self.deny_button = QPushButton("Deny", self)
        self.edit_button = QPushButton("Edit arguments", self)
        self.edit_button.setCheckable(True)
        self.mock_button = QPushButton("Mock result…", self)
        self.mock_button.setCheckable(True)
        self.run_button.clicked.connect(self._run)
        self.always_button.clicked.connect(lambda: self._decide(Approval.always()))
        self.deny_button.clicked.connect(lambda: self._decide(Approval.deny()))
        self.edit_button.toggled.connect(self._toggle_edit)
        self.mock_button.toggled.connect(self.mock_box.setVisible)
        self.button_row = QHBoxLayout()
        for b in (self.run_button, self.always_button, self.deny_button, self.edit_button,
                  self.mock_button):
            self.button_row.addWidget(b)
        self.button_row.addStretch(1)
        self._show_buttons(False)

    # --- streaming preview --------------------------------------------------------------------
    def set_preview(self, name: str | None, arguments: str) -> None:
        self._preview = arguments
        shown = html.escape(name) if name else "…"
        self.title.setText(f"<b>{shown}</b> <span style='color:gray'>(streaming)</span>")
        self.args.setPlainText(arguments)
        self._fit(self.args, arguments)
        self.status.setText("")

    def append_arguments(self, delta: str) -> None:
        self._preview += delta
        self.args.setPlainText(self._preview)
        self._fit(self.args, self._preview)

    # --- bound to a call ----------------------------------------------------------------------
    def bind(self, call: CallRecord, raw_text: str, *, can_run: bool,
             server: str | None) -> None:
        self.call = call
        self.can_run = can_run
        self.raw_text = raw_text
        self.raw.setPlainText(raw_text)
        risk = risk_label(call.tool) if call.tool is not None else "unknown tool"
        color = RISK_COLORS.get(risk, "#cf222e")
        where = f"on {html.escape(server)}" if server else "no server: mock only"
        self.title.setText(f"<b>{html.escape(call.name)}</b> "
                           f"<span style='color:gray'>{where}</span>")
        guided = "guided" if call.guided else "free"
        self.badges.setText(f"<span style='color:{color}'>{risk}</span> · {guided}")
        self.editor.set_schema((call.tool or {}).get("inputSchema"))
        self.refresh()

    def refresh(self) -> None:
        call = self.call
        if call is None:
            return
        text = _pretty(call.arguments)
        self.args.setPlainText(text)
        self._fit(self.args, text)
        if call.issues:
            rows = "".join(f"<li><code>{html.escape(clip(i.path, 60))}</code> "
                           f"{html.escape(clip(i.message))}</li>" for i in call.issues)
            self.issues.setText(f"<span style='color:#cf222e'>Does not fit the tool's schema:"
                                f"</span><ul style='margin:0'>{rows}</ul>")
        else:
            note = " (edited)" if call.edited else ""
            self.issues.setText(f"<span style='color:#1a7f37'>✓ fits the tool's schema{note}"
                                f"</span>" if call.tool is not None else "")
        if call.unstated:
            names = ", ".join(f"<code>{html.escape(clip(k, 40))}</code>" for k in call.unstated)
            self.issues.setText(self.issues.text() + "<br><span style='color:#9a6700'>Not in the "
                                f"conversation, perhaps made up: {names}</span>")
        if call.cut_short:
            self.issues.setText(self.issues.text() + "<br><span style='color:#9a6700'>Closed "
                                "early: the token budget ran out in this call, so each value "
                                "was ended as soon as the schema allowed; some may be cut "
                                "short</span>")
        pending = call.status is CallStatus.PENDING
        self._show_buttons(pending)
        self.run_button.setEnabled(self.can_run)
        self.run_button.setToolTip("" if self.can_run else
                                   "No running MCP server offers this tool: mock its result")
        self.always_button.setEnabled(self.can_run and call.valid
                                      and can_always_allow(call.tool))
        self.always_button.setToolTip(
            "Run this tool without asking from now on (this session)"
            if can_always_allow(call.tool) else
            "Only tools their server annotates read-only can be always allowed")
        if not pending:
            self.editor.hide()
            self.mock_box.hide()
        status = STATUS_TEXT[call.status]
        if call.auto_approved:
            status += " without asking (you always allowed this read-only tool)"
        out = call.outcome
        if out is not None:
            status += f" · {out.kind}" + (f" · {out.duration_s:.2f} s" if out.duration_s else "")
            self.result.setPlainText(out.message_content())
            self._fit(self.result, out.message_content(), 10)
        self.result.setVisible(out is not None)
        self.status.setText(status)

    def _show_buttons(self, on: bool) -> None:
        for b in (self.run_button, self.always_button, self.deny_button, self.edit_button,
                  self.mock_button):
            b.setVisible(on)

    # --- decisions ----------------------------------------------------------------------------
    def _toggle_edit(self, on: bool) -> None:
        if on and self.call is not None:
            self.editor.set_text(_pretty(self.call.arguments))
        self.editor.setVisible(on)
        self.args.setVisible(not on)

    def edited_arguments(self) -> dict[str, Any] | None:
        if not self.edit_button.isChecked():
            return None
        value = self.editor.value
        return value if isinstance(value, dict) else None

    def _run(self) -> None:
        if self.edit_button.isChecked() and self.edited_arguments() is None:
            self.status.setText("The edited arguments are not a JSON object.")
            return
        self._decide(Approval.approve(self.edited_arguments()))

    def _send_mock(self) -> None:
        self._decide(Approval.mock(self.mock_text.toPlainText(),
                                   is_error=self.mock_error.isChecked()))

    def _decide(self, approval: Approval) -> None:
        self._show_buttons(False)
        self.edit_button.setChecked(False)
        self.mock_button.setChecked(False)
        self.decided.emit(approval)

    @staticmethod
    def _fit(edit: QPlainTextEdit, text: str, max_lines: int = 14) -> None:
        lines = max(1, min(max_lines, text.count("\n") + 1))
        edit.setFixedHeight(edit.fontMetrics().lineSpacing() * lines + 14)
