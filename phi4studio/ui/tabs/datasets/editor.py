"""The conversation editor: the selected example's messages, tool calls, tools and fields.

Edits change an in-memory copy; it is written to the store as one transaction (one undo step)
AUTOSAVE_MS after the last change, when focus leaves the editor, and before anything else
happens to the dataset (another example selected, undo, a job). Arguments that are not a JSON
object are kept in their card as a draft (and across selections) but never written.
"""

from __future__ import annotations

import copy
import json
import re
import sqlite3
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QScrollArea,
    QTabWidget,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.schema import ROLES, SCENARIOS, SPLITS
from phi4studio.core.datasets.store import DatasetStore
from phi4studio.core.datasets.workflows import ArgIssue, check_value
from phi4studio.ui.tabs.datasets.cards import ContentEdit, MessageCard
from phi4studio.ui.widgets.json_editor import JsonEditor, dumps, key_of_path

AUTOSAVE_MS = 600
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[\"((?:[^\"\\]|\\.)*)\"\]")
_TOOLS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1},
                       "description": {"type": "string"},
                       "inputSchema": {"type": "object"}},
    },
}


def path_parts(path: str) -> list[str | int]:
    out: list[str | int] = []
    for m in _PATH_PART.finditer(path):
        if m.group(1):
            out.append(m.group(1))
        elif m.group(2):
            out.append(int(m.group(2)))
        else:
            out.append(m.group(3))
    return out


def _check_tools(text: str, schema: Any) -> list[ArgIssue]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return [ArgIssue("$", f"not valid JSON: {exc.msg} (line {exc.lineno})", exc.lineno)]
    return check_value(value, schema)


class ExampleEditor(QWidget):
    saved = Signal(str)  # example id, after its edit was written
    status = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: DatasetStore | None = None
        self.data: dict[str, Any] | None = None
        self.read_only = False
        self.saves = 0
        self.saving = False  # True while its own edit is being written (listeners: no reload)
        self._dirty = False
        self._drafts: dict[tuple[str, int, int], str] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_MS)
        self._timer.timeout.connect(self.flush)
        self.cards: list[MessageCard] = []

        self.title = QLabel("<i>Select an example</i>", self)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.scenario = QComboBox(self)
        self.scenario.addItems(["(none)", *SCENARIOS])
        self.split = QComboBox(self)
        self.split.addItems(["(none)", *SPLITS])
        self.tags = QLineEdit(self)
        self.tags.setPlaceholderText("comma-separated tags")
        self.notes = ContentEdit(self)
        self.notes.setPlaceholderText("notes for reviewers")
        form = QFormLayout()
        form.addRow("Scenario", self.scenario)
        form.addRow("Split", self.split)
        form.addRow("Tags", self.tags)
        form.addRow("Notes", self.notes)
        self.scenario.currentTextChanged.connect(lambda t: self._field("scenario", t))
        self.split.currentTextChanged.connect(lambda t: self._field("split", t))
        self.tags.textEdited.connect(lambda t: self._field("tags", t))
        self.notes.textChanged.connect(lambda: self._field("notes", self.notes.toPlainText()))

        self.tabs = QTabWidget(self)
        self.cards_host = QWidget()
        self.cards_lay = QVBoxLayout(self.cards_host)
        self.cards_lay.setContentsMargins(2, 2, 2, 2)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.cards_host)
        self.add_message = QToolButton(self)
        self.add_message.setText("+ message")
        self.add_message.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.add_message)
        for role in ROLES:
            menu.addAction(role, lambda r=role: self.append_message(r))
        self.add_message.setMenu(menu)
        conv = QWidget()
        cl = QVBoxLayout(conv)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.scroll, 1)
        cl.addWidget(self.add_message, 0, Qt.AlignmentFlag.AlignLeft)
        self.tabs.addTab(conv, "Conversation")
        self.tools_edit = JsonEditor(self, checker=_check_tools, max_lines=40)
        self.tools_edit.set_schema(_TOOLS_SCHEMA)
        self.tools_edit.edited.connect(self._tools_changed)
        self.tabs.addTab(self.tools_edit, "Tools")
        self.rendered = _RenderedView(self)
        self.tabs.addTab(self.rendered, "Rendered")
        self.raw = QPlainTextEdit(self)
        self.raw.setReadOnly(True)
        self.raw.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.tabs.addTab(self.raw, "JSON")
        self.tabs.currentChanged.connect(lambda _i: self._refresh_views())

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addLayout(form)
        lay.addWidget(self.tabs, 1)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._focus_changed)
        self._loading = False
        self.setEnabled(False)

    # --- loading -----------------------------------------------------------------------------
    @property
    def example_id(self) -> str | None:
        return None if self.data is None else str(self.data.get("id"))

    def load(self, store: DatasetStore | None, example_id: str | None) -> None:
        """Show an example (the pending edit of the previous one is saved first)."""
        self.flush()
        self._keep_drafts()
        self.store = store
        d = store.get_dict(example_id) if store is not None and example_id else None
        self.data = d
        self._dirty = False
        self._fill()

    def reload(self) -> None:
        """Re-read the shown example from the store (after undo/redo or a job)."""
        if self.store is None or self.data is None:
            return
        self._timer.stop()
        self._dirty = False
        ex_id = self.example_id
        self._keep_drafts()
        self.data = self.store.get_dict(ex_id) if ex_id else None
        self._fill()

    def set_read_only(self, ro: bool, why: str = "") -> None:
        if ro:
            self.flush()
        self.read_only = ro
        self.setEnabled(self.data is not None and not ro)
        if ro and why:
            self.title.setToolTip(why)

    def _fill(self) -> None:
        self._loading = True
        try:
            d = self.data
            self.setEnabled(d is not None and not self.read_only)
            if d is None:
                self.title.setText("<i>Select an example</i>")
                self._build_cards()
                return
            self.title.setText(f"<b>{d['id']}</b> · {d.get('source') or 'no source'}")
            self.scenario.setCurrentText(d.get("scenario") or "(none)")
            self.split.setCurrentText(d.get("split") or "(none)")
            self.tags.setText(", ".join(d.get("tags") or []))
            self.notes.setPlainText(d.get("notes") or "")
            self.tools_edit.set_value(d.get("tools") or [])
            self._build_cards()
        finally:
            self._loading = False
        self._refresh_views()

    def _build_cards(self) -> None:
        for c in self.cards:
            c.setParent(None)
            c.deleteLater()
        self.cards = []
        while self.cards_lay.count():
            self.cards_lay.takeAt(0)
        if self.data is None:
            return
        msgs = self.data.setdefault("messages", [])
        tools = self.data.get("tools") or []
        for i, m in enumerate(msgs):
            card = MessageCard(m, i, len(msgs), tools, self._changed, self._message_action,
                               self.cards_host)
            card.content.left.connect(self._maybe_flush)
            self.cards.append(card)
            self.cards_lay.addWidget(card)
            card.show()  # now, not at the next event loop pass
            for ci, call_card in enumerate(card.calls):
                draft = self._drafts.pop((str(self.data["id"]), i, ci), None)
                if draft is not None:
                    call_card.args.set_text(draft)
        self.cards_lay.addStretch(1)

    def _keep_drafts(self) -> None:
        if self.data is None:
            return
        for i, card in enumerate(self.cards):
            for ci, call_card in enumerate(card.calls):
                if call_card.has_draft:
                    self._drafts[(str(self.data["id"]), i, ci)] = call_card.args.plain_text()

    @property
    def drafts(self) -> int:
        return sum(1 for c in self.cards for cc in c.calls if cc.has_draft)

    # --- editing -----------------------------------------------------------------------------
    def _changed(self, structural: bool) -> None:
        if self._loading or self.data is None:
            return
        self._dirty = True
        if structural:
            self._keep_drafts()
            self._build_cards()
        self._timer.start()

    def _field(self, key: str, text: str) -> None:
        if self._loading or self.data is None:
            return
        if key in ("scenario", "split"):
            self.data[key] = None if text == "(none)" else text
        elif key == "tags":
            self.data["tags"] = [t.strip() for t in text.split(",") if t.strip()]
        else:
            self.data[key] = text
        self._changed(False)

    def _tools_changed(self, value: object) -> None:
        if self._loading or self.data is None or not isinstance(value, list):
            return
        if any(not isinstance(t, dict) or not t.get("name") for t in value):
            return
        self.data["tools"] = value
        self._changed(True)

    def _message_action(self, action: str, i: int) -> None:
        if self.data is None:
            return
        msgs = self.data["messages"]
        if action == "remove":
            del msgs[i]
        elif action == "up" and i > 0:
            msgs[i - 1], msgs[i] = msgs[i], msgs[i - 1]
        elif action == "down" and i < len(msgs) - 1:
            msgs[i + 1], msgs[i] = msgs[i], msgs[i + 1]
        self._changed(True)

    def append_message(self, role: str) -> None:
        if self.data is None:
            return
        msg: dict[str, Any] = {"role": role, "content": ""}
        if role == "tool":
            last = [c for m in self.data["messages"] for c in (m.get("tool_calls") or [])]
            if last:
                msg.update(tool_call_id=last[-1].get("id", ""), name=last[-1].get("name", ""))
        self.data["messages"].append(msg)
        self._changed(True)
        if self.cards:
            self.cards[-1].content.setFocus()
            QTimer.singleShot(0, lambda: self.scroll.ensureWidgetVisible(self.cards[-1]))

    def flush(self) -> bool:
        """Write the pending edit now; False when it could not be written (and why is told)."""
        self._timer.stop()
        if not self._dirty or self.data is None or self.store is None:
            return True
        if self.read_only:
            return False
        self._dirty = False
        self.saving = True
        try:
            self.store.update(copy.deepcopy(self.data))
        except (DatasetError, sqlite3.Error) as exc:
            self._dirty = True
            self.status.emit(f"Not saved: {exc}")
            return False
        finally:
            self.saving = False
        self.saves += 1
        drafts = self.drafts
        self.status.emit(f"Saved {self.example_id}" + (
            f" ({drafts} call(s) with arguments that are not a JSON object were not saved)"
            if drafts else ""))
        self.saved.emit(str(self.example_id))
        self._refresh_views()
        return True

    @property
    def dirty(self) -> bool:
        return self._dirty

    def _maybe_flush(self) -> None:
        if self._dirty:
            self.flush()

    def _focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        if old is not None and self.isAncestorOf(old) and (new is None or
                                                            not self.isAncestorOf(new)):
            self._maybe_flush()

    # --- views and navigation ----------------------------------------------------------------
    def _refresh_views(self) -> None:
        w = self.tabs.currentWidget()
        if w is self.raw:
            self.raw.setPlainText(dumps(self.data) if self.data is not None else "")
        elif w is self.rendered:
            self.rendered.show_example(self.data)

    def focus_path(self, path: str) -> bool:
        """Show the field a JSON path names (`$.messages[2].tool_calls[0].arguments.city`)."""
        parts = path_parts(path)
        if not parts or self.data is None:
            return False
        head = parts[0]
        if head in ("scenario", "split", "tags", "notes"):
            w = {"scenario": self.scenario, "split": self.split, "tags": self.tags,
                 "notes": self.notes}[str(head)]
            w.setFocus()
            return True
        if head == "tools":
            self.tabs.setCurrentWidget(self.tools_edit)
            self.tools_edit.focus_key(key_of_path(path) if len(parts) > 2 else None)
            return True
        if head != "messages" or len(parts) < 2 or not isinstance(parts[1], int):
            return False
        self.tabs.setCurrentIndex(0)
        if not 0 <= parts[1] < len(self.cards):
            return False
        card = self.cards[parts[1]]
        target: QWidget = card.content
        rest = parts[2:]
        if rest[:1] == ["tool_calls"] and len(rest) > 1 and isinstance(rest[1], int) \
                and rest[1] < len(card.calls):
            call = card.calls[rest[1]]
            if rest[2:3] == ["arguments"]:
                call.args.focus_key(str(rest[3]) if len(rest) > 3 else None)
                target = call
            else:
                target = call.name if rest[2:3] == ["name"] else call.call_id
                target.setFocus()
        elif rest[:1] == ["tool_call_id"] and card.tool_call_id is not None:
            target = card.tool_call_id
            target.setFocus()
        else:
            card.content.setFocus()
        self.scroll.ensureWidgetVisible(target)
        return True


class _RenderedView(QWidget):
    """The example as one model family's chat template renders it; trained text is green."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.family = QComboBox(self)
        self.text = QTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.note = QLabel("Green: trained on (assistant turns). Grey: masked.", self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.family)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.note)
        self._data: dict[str, Any] | None = None
        try:
            from phi4studio.core.chatformats import available_formats

            self.family.addItems(available_formats(standalone=True))
        except ImportError:
            self.family.setEnabled(False)
        self.family.currentTextChanged.connect(lambda _t: self.show_example(self._data))

    def show_example(self, data: dict[str, Any] | None) -> None:
        self._data = data
        self.text.clear()
        if data is None or not self.family.currentText():
            return
        try:
            from phi4studio.core.chatformats import get_format

            rendered = get_format(self.family.currentText()).render(data)
        except Exception as exc:  # noqa: BLE001 - any template problem is shown, not raised
            self.text.setPlainText(f"Cannot render this example: {exc}")
            return
        cur = QTextCursor(self.text.document())
        trained, masked = QTextCharFormat(), QTextCharFormat()
        trained.setBackground(QColor(26, 127, 55, 45))
        masked.setForeground(QColor("#6e7781"))
        for span in rendered.spans:
            cur.insertText(rendered.text[span.start:span.end],
                           trained if span.trained else masked)
        if rendered.warnings:
            self.note.setText("; ".join(rendered.warnings))
