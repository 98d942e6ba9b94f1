"""Cards of the conversation editor: one per message, one per tool call.

Cards edit the example dict they are given in place and call `changed(structural)`: structural
changes (a message or call added, removed, moved, a role changed) make the editor rebuild its
cards; text changes do not, so typing never loses the cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.datasets.schema import ROLES
from phi4studio.ui.widgets.json_editor import JsonEditor

Changed = Callable[[bool], None]
ROLE_COLORS = {"system": "#8250df", "user": "#1f6feb", "assistant": "#1a7f37", "tool": "#9a6700"}


def small_button(text: str, tip: str, parent: QWidget) -> QToolButton:
    b = QToolButton(parent)
    b.setText(text)
    b.setToolTip(tip)
    b.setAutoRaise(True)
    return b


class ContentEdit(QPlainTextEdit):
    """Message text that grows with its content (2 to 12 lines)."""

    left = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.document().contentsChanged.connect(self.fit)

    def fit(self) -> None:
        lines = self.document().size().height() if self.document().documentLayout() else 2
        n = max(2, min(12, int(lines)))
        self.setFixedHeight(self.fontMetrics().lineSpacing() * n + 12)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.fit()  # wrapped lines change with the width

    def focusOutEvent(self, event: Any) -> None:
        super().focusOutEvent(event)
        self.left.emit()


class ToolCallCard(QFrame):
    def __init__(self, call: dict[str, Any], tools: list[Mapping[str, Any]], changed: Changed,
                 remove: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.call = call
        self._tools = {str(t.get("name")): t for t in tools if isinstance(t, Mapping)}
        self._changed = changed
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("toolCallCard")
        self.name = QComboBox(self)
        self.name.setEditable(True)
        self.name.addItems(list(self._tools))
        self.name.setCurrentText(str(call.get("name", "")))
        self.name.setToolTip("The tool this call names (one of the example's tools)")
        self.call_id = QLineEdit(str(call.get("id", "")), self)
        self.call_id.setPlaceholderText("call id")
        self.call_id.setMaximumWidth(140)
        rm = small_button("✕", "Remove this call", self)
        rm.clicked.connect(remove)
        head = QHBoxLayout()
        head.addWidget(QLabel("call", self))
        head.addWidget(self.name, 1)
        head.addWidget(self.call_id)
        head.addWidget(rm)
        self.args = JsonEditor(self)
        self.args.setObjectName("argumentsEditor")
        self._apply_schema()
        self.args.set_value(call.get("arguments") or {})
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addLayout(head)
        lay.addWidget(self.args)
        self.name.currentTextChanged.connect(self._name_changed)
        self.call_id.textEdited.connect(self._id_changed)
        self.args.edited.connect(self._args_changed)

    def _apply_schema(self) -> None:
        tool = self._tools.get(self.name.currentText())
        self.args.set_schema(tool.get("inputSchema") if tool is not None else None)
        unknown = tool is None and bool(self._tools)
        self.name.setStyleSheet("color: #cf222e;" if unknown else "")
        self.name.setToolTip(
            "No tool of this example has this name" if unknown else
            str((tool or {}).get("description") or "The tool this call names")
        )

    def _name_changed(self, text: str) -> None:
        self.call["name"] = text
        self._apply_schema()
        self._changed(False)

    def _id_changed(self, text: str) -> None:
        self.call["id"] = text
        self._changed(False)

    def _args_changed(self, value: object) -> None:
        if isinstance(value, dict):
            self.call["arguments"] = value
            self._changed(False)

    @property
    def has_draft(self) -> bool:
        """The arguments text is not a JSON object: it is kept here but not saved."""
        return not isinstance(self.args.value, dict)


class MessageCard(QFrame):
    def __init__(self, msg: dict[str, Any], index: int, n: int,
                 tools: list[Mapping[str, Any]], changed: Changed,
                 actions: Callable[[str, int], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.msg = msg
        self.index = index
        self._changed = changed
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("messageCard")
        role = str(msg.get("role", "user"))
        self.setStyleSheet(f"#messageCard {{ border-left: 3px solid "
                           f"{ROLE_COLORS.get(role, '#57606a')}; }}")
        self.role = QComboBox(self)
        self.role.addItems(list(ROLES))
        self.role.setCurrentText(role)
        head = QHBoxLayout()
        head.addWidget(QLabel(f"#{index + 1}", self))
        head.addWidget(self.role)
        self.tool_call_id: QLineEdit | None = None
        self.tool_name: QLineEdit | None = None
        if role == "tool":
            self.tool_call_id = QLineEdit(str(msg.get("tool_call_id") or ""), self)
            self.tool_call_id.setPlaceholderText("answers call id")
            self.tool_name = QLineEdit(str(msg.get("name") or ""), self)
            self.tool_name.setPlaceholderText("tool name")
            head.addWidget(self.tool_call_id)
            head.addWidget(self.tool_name)
            self.tool_call_id.textEdited.connect(lambda t: self._set("tool_call_id", t))
            self.tool_name.textEdited.connect(lambda t: self._set("name", t))
        head.addStretch(1)
        for text, tip, act, ok in (("↑", "Move up", "up", index > 0),
                                   ("↓", "Move down", "down", index < n - 1),
                                   ("✕", "Remove this message", "remove", True)):
            b = small_button(text, tip, self)
            b.setEnabled(ok)
            b.clicked.connect(lambda _=False, a=act: actions(a, index))
            head.addWidget(b)
        self.content = ContentEdit(self)
        self.content.setPlainText(str(msg.get("content") or ""))
        self.content.setPlaceholderText("(empty)" if role != "assistant" else
                                        "(no text: this turn only calls tools)")
        self.content.fit()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(3)
        lay.addLayout(head)
        lay.addWidget(self.content)
        self.calls: list[ToolCallCard] = []
        if role == "assistant" or msg.get("tool_calls"):
            for ci, call in enumerate(msg.get("tool_calls") or []):
                card = ToolCallCard(call, tools, changed,
                                    lambda ci=ci: self._remove_call(ci), self)
                self.calls.append(card)
                lay.addWidget(card)
            add = QPushButton("+ tool call", self)
            add.setObjectName("addCall")
            add.clicked.connect(lambda: self._add_call(tools))
            lay.addWidget(add, 0, Qt.AlignmentFlag.AlignLeft)
        self.role.currentTextChanged.connect(self._role_changed)
        self.content.textChanged.connect(
            lambda: self._set("content", self.content.toPlainText()))

    def _set(self, key: str, value: str) -> None:
        if key in ("tool_call_id", "name") and not value:
            self.msg.pop(key, None)
        else:
            self.msg[key] = value
        self._changed(False)

    def _role_changed(self, role: str) -> None:
        self.msg["role"] = role
        if role != "tool":
            self.msg.pop("tool_call_id", None)
            self.msg.pop("name", None)
        self._changed(True)

    def _add_call(self, tools: list[Mapping[str, Any]]) -> None:
        calls = self.msg.setdefault("tool_calls", [])
        name = str(tools[0].get("name")) if tools else ""
        taken = {c.get("id") for c in calls}
        n = len(calls) + 1
        while f"call_{self.index + 1}_{n}" in taken:
            n += 1
        calls.append({"id": f"call_{self.index + 1}_{n}", "name": name, "arguments": {}})
        self._changed(True)

    def _remove_call(self, ci: int) -> None:
        calls = self.msg.get("tool_calls") or []
        if 0 <= ci < len(calls):
            del calls[ci]
        if not calls:
            self.msg.pop("tool_calls", None)
        self._changed(True)
