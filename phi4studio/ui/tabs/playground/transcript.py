"""The transcript of one chat: message bubbles, tool-call cards and notices, streamed smoothly.

Session events arrive at the worker's pace (a token batch every ~30 ms); text and argument
deltas are buffered and painted by one timer every FLUSH_MS, so a flood of tokens never costs
more than one relayout per tick. The view follows the bottom only while the user is there.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from phi4studio.core.playground.records import CallRecord, SessionEvent, TurnRecord
from phi4studio.ui.widgets.tool_call_card import ToolCallCard

FLUSH_MS = 40
# One style sheet on the transcript, matched by each bubble's `role` property: cheaper than a
# style sheet per bubble (each of which Qt would parse and polish on its own).
STYLE = """
QLabel[role="user"] { background: #ddf4ff; color: black; border-radius: 6px; padding: 6px; }
QLabel[role="assistant"] { background: #f6f8fa; color: black; border-radius: 6px; padding: 6px; }
QLabel[role="notice"] { color: #57606a; padding: 2px 6px; }
QLabel[role="error"] { color: #cf222e; padding: 2px 6px; }
"""

class Bubble(QLabel):
    def __init__(self, role: str, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setProperty("role", role)
        self.setText(text)


class TranscriptView(QScrollArea):
    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.body = QWidget(self)
        self.body.setStyleSheet(STYLE)
        self.lay = QVBoxLayout(self.body)
        self.lay.setContentsMargins(8, 8, 8, 8)
        self.lay.setSpacing(6)
        self.lay.addStretch(1)
        self.setWidget(self.body)
        self.title = title
        self.cards: dict[str, ToolCallCard] = {}  # call id -> card
        self._stream_cards: dict[int, ToolCallCard] = {}  # index -> card, current turn
        self._bubble: Bubble | None = None
        self._text = ""
        self._pending_text = ""
        self._pending_args: dict[int, str] = {}
        self.flushes = 0
        self.flush_ms_max = 0.0  # the longest repaint, for `bench chat`
        self.on_card: Callable[[ToolCallCard], None] | None = None  # the view wires decisions
        self.card_context: Callable[[CallRecord], tuple[bool, str | None]] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self.flush)

    # --- building -----------------------------------------------------------------------------
    def _add(self, w: QWidget) -> None:
        self.lay.insertWidget(self.lay.count() - 1, w)
        self._follow()

    def add_user(self, text: str) -> None:
        self._add(Bubble("user", text, self.body))

    def add_notice(self, text: str, error: bool = False) -> None:
        self._add(Bubble("error" if error else "notice", text, self.body))

    def clear(self) -> None:
        self._timer.stop()
        while self.lay.count() > 1:
            item = self.lay.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.deleteLater()
        self.cards.clear()
        self._stream_cards.clear()
        self._bubble = None
        self._text = self._pending_text = ""
        self._pending_args.clear()

    def assistant_text(self) -> str:
        return self._text + self._pending_text

    # --- session events -----------------------------------------------------------------------
    def on_event(self, ev: SessionEvent) -> None:
        kind = ev.kind
        if kind == "text":
            self._pending_text += ev.text
            self._schedule()
        elif kind == "arguments":
            self._pending_args[ev.index] = self._pending_args.get(ev.index, "") + ev.text
            self._schedule()
        elif kind == "call_started":
            self.flush()
            card = self._new_card(ev.index, ev.text or None)
            self._stream_cards[ev.index] = card
        elif kind == "turn_started":
            self._start_turn()
        elif kind == "restart":
            self.add_notice(f"Restarted: {ev.text}")
        elif kind == "turn_finished" and ev.turn is not None:
            self._finish_turn(ev.turn)
        elif kind == "turn_failed" and ev.turn is not None:
            self.flush()
            self.add_notice(f"The model could not answer: {ev.turn.error}", error=True)
        elif kind == "call_updated" and ev.call is not None:
            card = self.cards.get(ev.call.id)
            if card is not None:
                card.refresh()

    def _start_turn(self) -> None:
        self.flush()
        self._text = self._pending_text = ""
        self._pending_args.clear()
        self._stream_cards = {}
        self._bubble = Bubble("assistant", "…", self.body)
        self._add(self._bubble)

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Paint what streamed since the last tick (one relayout)."""
        self._timer.stop()
        if not self._pending_text and not self._pending_args:
            return
        t0 = time.perf_counter()
        self.flushes += 1
        follow = self._at_bottom()
        if self._pending_text and self._bubble is not None:
            self._text += self._pending_text
            self._bubble.setText(self._text.strip() or "…")
        self._pending_text = ""
        for i, delta in self._pending_args.items():
            card = self._stream_cards.get(i)
            if card is not None:
                card.append_arguments(delta)
        self._pending_args.clear()
        if follow:
            self._follow()
        self.flush_ms_max = max(self.flush_ms_max, (time.perf_counter() - t0) * 1000)

    def _finish_turn(self, turn: TurnRecord) -> None:
        self.flush()
        if self._bubble is not None:
            if turn.content:
                self._bubble.setText(turn.content)
            elif turn.calls:
                self._bubble.hide()
            else:
                self._bubble.setText("(no answer)")
        for call in turn.calls:
            card = self._stream_cards.get(call.index) or self._new_card(call.index, call.name)
            can_run, server = self.card_context(call) if self.card_context else (False, None)
            card.bind(call, turn.raw_text, can_run=can_run, server=server)
            self.cards[call.id] = card
        kept = {call.index for call in turn.calls}
        for index, card in list(self._stream_cards.items()):
            if index not in kept:  # streamed, then dropped by call control (a repeat, a cut)
                self.lay.removeWidget(card)
                card.deleteLater()
                del self._stream_cards[index]
        notes = []
        if turn.control.get("repeats_dropped"):
            notes.append("a call that repeated an earlier one was dropped")
        if turn.control.get("cut_call_dropped"):
            notes.append("a call the token budget cut off was dropped")
        if turn.stop_reason in ("max_tokens", "context_length"):
            notes.append(f"stopped at {turn.stop_reason.replace('_', ' ')}")
        elif turn.stop_reason == "stopped":
            notes.append("stopped by you")
        notes += [f"parse: {e}" for e in turn.parse_errors]
        if notes:
            self.add_notice(" · ".join(notes))
        self._bubble = None
        self._follow()

    def _new_card(self, index: int, name: str | None) -> ToolCallCard:
        card = ToolCallCard(index, name, self.body)
        self._add(card)
        if self.on_card is not None:
            self.on_card(card)
        return card

    # --- scrolling ----------------------------------------------------------------------------
    def _at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 24

    def _follow(self) -> None:
        bar = self.verticalScrollBar()
        QTimer.singleShot(0, bar, lambda: bar.setValue(bar.maximum()))
