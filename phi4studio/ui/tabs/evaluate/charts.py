"""Charts drawn with QPainter (PySide6-Essentials has no QtCharts).

- `RateChart`: one horizontal bar per row for a 0..1 rate, or (`signed=True`) a signed
  difference around a centre line with its confidence interval as a whisker.
- `HistoryChart`: a model's evaluations over time, one line per metric, 0..100%.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

ROW_H = 20
LABEL_W = 170
PALETTE = ("#1f6feb", "#d4a72c", "#2da44e", "#cf222e", "#8250df", "#0a7b83")


@dataclass(frozen=True)
class Row:
    label: str
    value: float | None
    ci: tuple[float, float] | None = None
    text: str = ""


class RateChart(QWidget):
    def __init__(self, title: str, parent: QWidget | None = None, *,
                 signed: bool = False) -> None:
        super().__init__(parent)
        self.title = title
        self.signed = signed
        self.rows: list[Row] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.sizeHint().height())

    def set_rows(self, rows: list[Row]) -> None:
        self.rows = rows
        self.setFixedHeight(self.sizeHint().height())
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(360, 26 + ROW_H * max(1, len(self.rows)) + 6)

    def _x(self, v: float, left: float, width: float) -> float:
        if self.signed:
            return left + width * (0.5 + max(-1.0, min(1.0, v)) / 2.0)
        return left + width * max(0.0, min(1.0, v))

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fg = self.palette().windowText().color()
        font = p.font()
        font.setBold(True)
        p.setFont(font)
        p.setPen(fg)
        p.drawText(QRectF(0, 0, self.width(), 20), Qt.AlignmentFlag.AlignLeft, self.title)
        font.setBold(False)
        p.setFont(font)
        if not self.rows:
            p.setPen(QColor("#6e7781"))
            p.drawText(QRectF(0, 24, self.width(), ROW_H), Qt.AlignmentFlag.AlignLeft, "no data")
            p.end()
            return
        label_w = min(LABEL_W, self.width() // 3)
        lane_w = max(20.0, self.width() - label_w - 80.0)
        for i, r in enumerate(self.rows):
            y = 24 + i * ROW_H
            p.setPen(fg)
            p.drawText(QRectF(0, y, label_w - 6, ROW_H),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       p.fontMetrics().elidedText(r.label, Qt.TextElideMode.ElideRight,
                                                  label_w - 6))
            p.fillRect(QRectF(label_w, y + 3, lane_w, ROW_H - 6), QColor(127, 127, 127, 30))
            if r.value is not None:
                if self.signed:
                    x0 = self._x(0.0, label_w, lane_w)
                    x1 = self._x(r.value, label_w, lane_w)
                    color = QColor("#2da44e" if r.value >= 0 else "#cf222e")
                    p.fillRect(QRectF(min(x0, x1), y + 5, abs(x1 - x0), ROW_H - 10), color)
                else:
                    p.fillRect(QRectF(label_w, y + 3, lane_w * max(0.0, min(1.0, r.value)),
                                      ROW_H - 6), QColor(PALETTE[0]))
            if r.ci is not None:
                a = self._x(r.ci[0], label_w, lane_w)
                b = self._x(r.ci[1], label_w, lane_w)
                p.setPen(QPen(fg, 1.5))
                mid = y + ROW_H / 2
                p.drawLine(QPointF(a, mid), QPointF(b, mid))
                p.drawLine(QPointF(a, mid - 4), QPointF(a, mid + 4))
                p.drawLine(QPointF(b, mid - 4), QPointF(b, mid + 4))
            p.setPen(fg)
            text = r.text or ("–" if r.value is None else f"{100 * r.value:.1f}%")
            p.drawText(QRectF(label_w + lane_w + 4, y, 76, ROW_H),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        if self.signed:
            x0 = self._x(0.0, label_w, lane_w)
            p.setPen(QPen(fg, 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(x0, 22), QPointF(x0, 24 + ROW_H * len(self.rows)))
        p.end()


class HistoryChart(QWidget):
    """Lines of 0..1 values over a model's evaluations (x: their order)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.series: dict[str, list[float | None]] = {}
        self.labels: list[str] = []
        self.setMinimumHeight(170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_series(self, labels: list[str], series: dict[str, list[float | None]]) -> None:
        self.labels = labels
        self.series = series
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(420, 190)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fg = self.palette().windowText().color()
        p.setPen(fg)
        p.drawText(QRectF(0, 0, self.width(), 18), Qt.AlignmentFlag.AlignLeft, self.title)
        plot = QRectF(40, 24, max(40.0, self.width() - 190.0), max(40.0, self.height() - 44.0))
        grid = QColor(127, 127, 127, 60)
        for k in range(5):
            y = plot.bottom() - plot.height() * k / 4
            p.setPen(grid)
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.setPen(fg)
            p.drawText(QRectF(0, y - 8, 36, 16),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{25 * k}%")
        n = len(self.labels)
        if n == 0:
            p.setPen(QColor("#6e7781"))
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no evaluations of this model yet")
            p.end()
            return

        def x_at(i: int) -> float:
            return plot.left() + (plot.width() * i / (n - 1) if n > 1 else plot.width() / 2)

        for s_i, (name, values) in enumerate(self.series.items()):
            color = QColor(PALETTE[s_i % len(PALETTE)])
            p.setPen(QPen(color, 2))
            prev: QPointF | None = None
            for i, v in enumerate(values):
                if v is None:
                    prev = None
                    continue
                pt = QPointF(x_at(i), plot.bottom() - plot.height() * max(0.0, min(1.0, v)))
                if prev is not None:
                    p.drawLine(prev, pt)
                p.drawEllipse(pt, 2.5, 2.5)
                prev = pt
            p.drawText(QRectF(plot.right() + 10, plot.top() + 16 * s_i, 140, 16),
                       Qt.AlignmentFlag.AlignLeft, name)
        p.setPen(fg)
        for i, label in enumerate(self.labels):
            if n <= 8 or i in (0, n - 1):
                p.drawText(QRectF(x_at(i) - 40, plot.bottom() + 2, 80, 16),
                           Qt.AlignmentFlag.AlignHCenter, label)
        p.end()
