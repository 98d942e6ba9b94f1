"""Bar charts drawn with QPainter (PySide6-Essentials has no QtCharts).

`BarChart.set_bars([Bar(label, value, target)])`: one horizontal bar per row, its value written
at its end; an optional target share is drawn as a dark tick across the bar's lane, so a mix is
read against its target at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

ROW_H = 20
LABEL_W = 150


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    target: float | None = None
    text: str = ""  # written after the bar (default: the value)
    color: str = "#1f6feb"


class BarChart(QWidget):
    def __init__(self, title: str, parent: QWidget | None = None, *,
                 scale_max: float | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.bars: list[Bar] = []
        self.scale_max = scale_max  # fixed maximum (1.0 for shares), else the largest value
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_bars(self, bars: list[Bar]) -> None:
        self.bars = bars
        self.setFixedHeight(self.sizeHint().height())
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(360, 26 + ROW_H * max(1, len(self.bars)) + 6)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fg = pal.windowText().color()
        font = p.font()
        font.setBold(True)
        p.setFont(font)
        p.setPen(fg)
        p.drawText(QRectF(0, 0, self.width(), 20), Qt.AlignmentFlag.AlignLeft, self.title)
        font.setBold(False)
        p.setFont(font)
        if not self.bars:
            p.setPen(QColor("#6e7781"))
            p.drawText(QRectF(0, 24, self.width(), ROW_H), Qt.AlignmentFlag.AlignLeft,
                       "no data")
            p.end()
            return
        top = max(b.value for b in self.bars)
        top = max(top, *(b.target or 0 for b in self.bars))
        scale = self.scale_max or top or 1.0
        label_w = min(LABEL_W, self.width() // 3)
        lane_w = max(20.0, self.width() - label_w - 70.0)
        for i, b in enumerate(self.bars):
            y = 24 + i * ROW_H
            p.setPen(fg)
            p.drawText(QRectF(0, y, label_w - 6, ROW_H),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       p.fontMetrics().elidedText(b.label, Qt.TextElideMode.ElideRight,
                                                  label_w - 6))
            lane = QRectF(label_w, y + 3, lane_w, ROW_H - 6)
            p.fillRect(lane, QColor(127, 127, 127, 30))
            w = lane_w * min(1.0, b.value / scale) if scale else 0.0
            p.fillRect(QRectF(label_w, y + 3, w, ROW_H - 6), QColor(b.color))
            if b.target is not None:
                x = label_w + lane_w * min(1.0, b.target / scale)
                p.setPen(QPen(fg, 2))
                p.drawLine(int(x), y + 1, int(x), y + ROW_H - 1)
            p.setPen(fg)
            p.drawText(QRectF(label_w + lane_w + 4, y, 66, ROW_H),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       b.text or f"{b.value:g}")
        p.end()
