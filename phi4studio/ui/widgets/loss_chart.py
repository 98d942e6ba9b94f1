"""LossChart: a light line chart painted with QPainter (PySide6-Essentials has no QtCharts).

Several named series (x = optimizer step), each with a colour and an optional dash; nice axis
ticks, a legend, an optional log scale. `set_series` only stores the points and schedules a
repaint (Qt merges pending repaints into one), and painting decimates each series to about two
points per pixel column (min and max per column), so a 100k-step curve paints as fast as a short
one and a run streaming many points a second costs one cheap paint per frame at most.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4",
           "#57606a")


@dataclass
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    color: QColor
    dashed: bool = False
    width: float = 1.6
    cache_key: tuple[object, ...] | None = None
    cache: list[tuple[float, float]] = field(default_factory=list)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out = []
    v = first
    while v <= hi + step * 1e-9 and len(out) < 50:
        out.append(round(v, 12))
        v += step
    return out


def fmt_value(v: float) -> str:
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e5 or a < 1e-3:
        return f"{v:.1e}"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def decimate(points: Sequence[tuple[float, float]], x0: float, x1: float, columns: int,
             *, log_y: bool = False) -> list[tuple[float, float]]:
    """Finite points (y as log10 when log_y), at most ~2 per column: each column's min and max
    in x order. One pass, no copies beyond the result."""
    out: list[tuple[float, float]] = []
    scale = columns / (x1 - x0) if x1 > x0 else 0.0
    few = len(points) <= 2 * columns
    col = -1
    lo_x = lo_y = hi_x = hi_y = 0.0
    have = False
    isfinite, log10 = math.isfinite, math.log10
    for x, y in points:
        if not isfinite(y) or (log_y and y <= 0):
            continue
        if log_y:
            y = log10(y)
        if few:
            out.append((x, y))
            continue
        c = int((x - x0) * scale)
        if c != col:
            if have:
                out.extend(((lo_x, lo_y), (hi_x, hi_y)) if lo_x <= hi_x else
                           ((hi_x, hi_y), (lo_x, lo_y)))
            col, have = c, True
            lo_x = hi_x = x
            lo_y = hi_y = y
        elif y < lo_y:
            lo_x, lo_y = x, y
        elif y > hi_y:
            hi_x, hi_y = x, y
    if have:
        out.extend(((lo_x, lo_y), (hi_x, hi_y)) if lo_x <= hi_x else ((hi_x, hi_y), (lo_x, lo_y)))
    return out


class LossChart(QWidget):
    def __init__(self, title: str = "", *, y_label: str = "", log_y: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.y_label = y_label
        self.log_y = log_y
        self._series: dict[str, Series] = {}
        self.empty_text = "no data yet"
        self.paint_count = 0
        self.setMinimumSize(220, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # --- data ---------------------------------------------------------------------------------
    def set_series(self, name: str, points: Sequence[tuple[float, float]],
                   color: str | QColor | None = None, *, dashed: bool = False,
                   width: float = 1.6) -> None:
        if color is None:
            old = self._series.get(name)
            color = old.color if old else PALETTE[len(self._series) % len(PALETTE)]
        self._series[name] = Series(name, points, QColor(color), dashed, width)
        self.update()

    def remove_series(self, name: str) -> None:
        if self._series.pop(name, None) is not None:
            self.update()

    def clear(self) -> None:
        if self._series:
            self._series.clear()
            self.update()

    def series_names(self) -> list[str]:
        return list(self._series)

    def points(self, name: str) -> Sequence[tuple[float, float]]:
        s = self._series.get(name)
        return s.points if s else ()

    # --- painting -----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        self.paint_count += 1
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()

    def _paint(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pal = self.palette()
        fg = pal.color(pal.ColorRole.WindowText)
        grid = QColor(fg)
        grid.setAlpha(40)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        fm = p.fontMetrics()
        w, h = self.width(), self.height()
        top = fm.height() + 6
        plot = QRectF(fm.horizontalAdvance("0.000e+0") + 8, top, 0, 0)
        plot.setRight(w - 10)
        plot.setBottom(h - fm.height() - 8)
        p.setPen(fg)
        p.drawText(QRectF(0, 2, w, fm.height()), Qt.AlignmentFlag.AlignHCenter, self.title)
        data = [s for s in self._series.values() if s.points]
        prepared: list[tuple[Series, list[tuple[float, float]]]] = []
        x0 = x1 = 0.0
        if data:
            x0 = min(s.points[0][0] for s in data)  # series are in step order
            x1 = max(s.points[-1][0] for s in data)
            if x1 <= x0:
                x1 = x0 + 1
            columns = max(10, int(plot.width()))
            prepared = [(s, self._prepared(s, x0, x1, columns)) for s in data]
            prepared = [(s, pts) for s, pts in prepared if pts]
        if not prepared or plot.width() < 20 or plot.height() < 20:
            p.setPen(grid.darker(150) if fg.lightness() < 128 else grid.lighter(300))
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        y0 = min(y for _, pts in prepared for _, y in pts)
        y1 = max(y for _, pts in prepared for _, y in pts)
        pad = (y1 - y0) * 0.06 or (abs(y1) * 0.1 or 1.0)
        y0, y1 = y0 - pad, y1 + pad

        def to_px(x: float, y: float) -> QPointF:  # y already transformed
            return QPointF(plot.left() + (x - x0) / (x1 - x0) * plot.width(),
                           plot.bottom() - (y - y0) / (y1 - y0) * plot.height())

        # grid and axes
        p.setPen(QPen(grid, 1))
        for t in nice_ticks(y0, y1, 4):
            yy = plot.bottom() - (t - y0) / (y1 - y0) * plot.height()
            p.drawLine(QPointF(plot.left(), yy), QPointF(plot.right(), yy))
            label = fmt_value(10 ** t if self.log_y else t)
            p.setPen(fg)
            p.drawText(QRectF(0, yy - fm.height() / 2, plot.left() - 4, fm.height()),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
            p.setPen(QPen(grid, 1))
        for t in nice_ticks(x0, x1, 5):
            xx = plot.left() + (t - x0) / (x1 - x0) * plot.width()
            p.drawLine(QPointF(xx, plot.top()), QPointF(xx, plot.bottom()))
            p.setPen(fg)
            p.drawText(QRectF(xx - 40, plot.bottom() + 2, 80, fm.height()),
                       Qt.AlignmentFlag.AlignHCenter, fmt_value(t))
            p.setPen(QPen(grid, 1))
        # series
        for ser, pts in prepared:
            pen = QPen(ser.color, ser.width)
            if ser.dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            if len(pts) == 1:
                p.setBrush(ser.color)
                p.drawEllipse(to_px(*pts[0]), 2.5, 2.5)
                p.setBrush(Qt.BrushStyle.NoBrush)
            else:
                # A dense (decimated min/max) line gains nothing from antialiasing or a wide pen,
                # and both cost a lot to rasterize: draw it 1 px, aliased.
                dense = len(pts) >= plot.width()
                if dense:
                    pen.setWidthF(1.0)
                    p.setPen(pen)
                p.setRenderHint(QPainter.RenderHint.Antialiasing, not dense)
                p.drawPolyline(QPolygonF([to_px(x, y) for x, y in pts]))
                p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        data = [ser for ser, _ in prepared]
        # legend
        if len(data) > 1 or data[0].name:
            lx, ly = plot.left() + 6, plot.top() + 4
            for s in data:
                pen = QPen(s.color, 2)
                if s.dashed:
                    pen.setStyle(Qt.PenStyle.DashLine)
                p.setPen(pen)
                mid = ly + fm.height() / 2
                p.drawLine(QPointF(lx, mid), QPointF(lx + 14, mid))
                p.setPen(fg)
                p.drawText(QPointF(lx + 18, ly + fm.ascent()), s.name)
                ly += fm.height()

    def _prepared(self, s: Series, x0: float, x1: float, columns: int
                  ) -> list[tuple[float, float]]:
        """The series decimated for this width, cached until it grows or the view changes."""
        key = (len(s.points), s.points[-1], x0, x1, columns, self.log_y)
        if s.cache_key != key:
            s.cache = decimate(s.points, x0, x1, columns, log_y=self.log_y)
            s.cache_key = key
        return s.cache
