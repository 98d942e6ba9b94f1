"""A non-modal error banner at the top of the window: errors are never silent, never blocking."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class ErrorBanner(QFrame):
    open_log_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet(
            "#errorBanner { background: #ffebe9; border: 1px solid #cf222e; border-radius: 4px; }"
            " #errorBanner QLabel { color: #82071e; }"
        )
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.count = 0
        self.details = ""
        self.details_button = QPushButton("Details", self)
        self.details_button.clicked.connect(self._toggle_details)
        log_button = QPushButton("Open log folder", self)
        log_button.clicked.connect(self.open_log_requested)
        close = QPushButton("Dismiss", self)
        close.clicked.connect(self.dismiss)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.details_button)
        lay.addWidget(log_button)
        lay.addWidget(close)
        self._expanded = False
        self._message = ""
        self.hide()

    def show_error(self, message: str, details: str = "") -> None:
        self.count += 1
        self._message = message
        self.details = details
        self._expanded = False
        self.details_button.setVisible(bool(details))
        self._render()
        self.show()

    def _render(self) -> None:
        more = f" (+{self.count - 1} earlier)" if self.count > 1 else ""
        text = self._message + more
        if self._expanded and self.details:
            text += "\n\n" + self.details[-4000:]
        self.label.setText(text)

    def _toggle_details(self) -> None:
        self._expanded = not self._expanded
        self._render()

    def dismiss(self) -> None:
        self.count = 0
        self.hide()

    @property
    def message(self) -> str:
        return self._message
