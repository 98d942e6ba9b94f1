"""A JSON editor that checks its text against a JSON Schema as one types.

Every keystroke re-parses the text and validates it (a tool's inputSchema is small: well under a
millisecond); the issues are listed under the text with the JSON path of each, and the faulty
line is marked. `value` is the parsed object while the text is valid JSON, else None.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase, QTextCursor, QTextFormat
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTextEdit, QVBoxLayout, QWidget

from phi4studio.core.datasets.workflows import ArgIssue, check_arguments

Checker = Callable[[str, Mapping[str, Any] | None], list[ArgIssue]]
_LAST_KEY = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)$|\[\"(.+)\"\]$")


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class JsonEditor(QWidget):
    """Text + live issues. `edited(value)` fires on each change that parses as JSON."""

    edited = Signal(object)
    focus_left = Signal()

    def __init__(self, parent: QWidget | None = None, *, checker: Checker = check_arguments,
                 max_lines: int = 14) -> None:
        super().__init__(parent)
        self.schema: Mapping[str, Any] | None = None
        self.checker = checker
        self.issues: list[ArgIssue] = []
        self.value: Any = None
        self._max_lines = max_lines
        self.text = _PlainText(self)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setTabChangesFocus(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.textChanged.connect(self._changed)
        self.text.left.connect(self.focus_left)
        self.issue_label = QLabel(self)
        self.issue_label.setWordWrap(True)
        self.issue_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.issue_label.setStyleSheet("color: #cf222e;")
        self.issue_label.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.text)
        lay.addWidget(self.issue_label)
        self._loading = False

    # --- content -----------------------------------------------------------------------------
    def set_schema(self, schema: Mapping[str, Any] | None) -> None:
        self.schema = schema
        self._check()

    def set_value(self, value: Any) -> None:
        self.set_text(dumps(value))

    def set_text(self, text: str) -> None:
        self._loading = True
        try:
            self.text.setPlainText(text)
        finally:
            self._loading = False
        self._check()

    def plain_text(self) -> str:
        return self.text.toPlainText()

    def set_read_only(self, ro: bool) -> None:
        self.text.setReadOnly(ro)

    @property
    def is_valid_json(self) -> bool:
        return self.value is not None

    # --- checking ----------------------------------------------------------------------------
    def _changed(self) -> None:
        self._check()
        if not self._loading and self.value is not None:
            self.edited.emit(self.value)

    def _check(self) -> None:
        text = self.text.toPlainText()
        self.issues = self.checker(text, self.schema)
        try:
            self.value = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            self.value = None
        self._fit_height()
        self._show_issues()

    def _show_issues(self) -> None:
        if not self.issues:
            self.issue_label.hide()
            self.text.setExtraSelections([])
            self.setToolTip("")
            return
        lines = [f"<b>{i.path}</b> — {_esc(i.message)}" for i in self.issues[:8]]
        if len(self.issues) > 8:
            lines.append(f"… and {len(self.issues) - 8} more")
        self.issue_label.setText("<br>".join(lines))
        self.issue_label.show()
        sels = []
        for issue in self.issues[:20]:
            block = self._block_for(issue)
            if block is None:
                continue
            sel = QTextEdit.ExtraSelection()
            sel.format.setBackground(QColor(207, 34, 46, 40))
            sel.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            cur = QTextCursor(self.text.document().findBlockByNumber(block))
            sel.cursor = cur
            sels.append(sel)
        self.text.setExtraSelections(sels)

    def _block_for(self, issue: ArgIssue) -> int | None:
        if issue.line is not None:
            return issue.line - 1
        key = key_of_path(issue.path)
        if key is None:
            return None
        doc = self.text.document()
        found = doc.find(json.dumps(key, ensure_ascii=False) + ":")
        return found.blockNumber() if not found.isNull() else None

    def focus_key(self, key: str | None) -> None:
        """Put the cursor on `"key":` (a JSON path's last part), else at the start."""
        self.text.setFocus(Qt.FocusReason.OtherFocusReason)
        if key:
            found = self.text.document().find(json.dumps(key, ensure_ascii=False))
            if not found.isNull():
                self.text.setTextCursor(found)
                return
        self.text.moveCursor(QTextCursor.MoveOperation.Start)

    def _fit_height(self) -> None:
        n = max(2, min(self._max_lines, self.text.document().blockCount()))
        h = self.text.fontMetrics().lineSpacing() * n + 12
        self.text.setFixedHeight(h)


def key_of_path(path: str) -> str | None:
    m = _LAST_KEY.search(path)
    if m is None:
        return None
    if m.group(1):
        return m.group(1)
    try:
        return str(json.loads(f'"{m.group(2)}"'))
    except json.JSONDecodeError:
        return m.group(2)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _PlainText(QPlainTextEdit):
    left = Signal()

    def focusOutEvent(self, event: Any) -> None:
        super().focusOutEvent(event)
        self.left.emit()
