"""A tab whose feature has not landed yet: says what it will do, honestly."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class PlaceholderView(QWidget):
    title = ""
    summary = ""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        head = QLabel(f"<h2>{self.title}</h2>", self)
        body = QLabel(self.summary + "<p><i>This stage is not available in this build yet.</i></p>",
                      self)
        body.setWordWrap(True)
        body.setTextFormat(Qt.TextFormat.RichText)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 24, 24, 24)
        lay.addWidget(head)
        lay.addWidget(body)
        lay.addStretch(1)
