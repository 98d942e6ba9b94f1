"""Table models of the Evaluate tab: one generic adapter over a list of rows (runs, per-category
metrics, per-tool counts, failures, A/B metrics), each column a header and a text function."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from phi4studio.core.evaluation.metrics import METRIC_NAMES, TITLES, fmt_ratio

Column = tuple[str, Callable[[Any], str]]
Index = QModelIndex | QPersistentModelIndex


class RowsModel(QAbstractTableModel):
    def __init__(self, columns: Sequence[Column], parent: Any = None, *,
                 color: Callable[[Any], str | None] | None = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.rows: list[Any] = []
        self.color = color

    def set_rows(self, rows: Sequence[Any], columns: Sequence[Column] | None = None) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        if columns is not None:
            self.columns = list(columns)
        self.endResetModel()

    def row(self, i: int) -> Any:
        return self.rows[i] if 0 <= i < len(self.rows) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self.columns[index.column()][1](row)
        if role == Qt.ItemDataRole.ForegroundRole and self.color is not None:
            c = self.color(row)
            return QColor(c) if c else None
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section][0]
        return None


def pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


RUN_COLUMNS: list[Column] = [
    ("Evaluation", lambda r: r.name),
    ("Status", lambda r: r.status),
    ("Cases", lambda r: f"{r.done}/{r.total}"),
    ("Accuracy", lambda r: pct(r.headline.get("accuracy"))),
    ("Guided", lambda r: r.guided),
    ("Started", lambda r: when(r.created_at)),
]


def metric_columns(groups: Mapping[str, Mapping[str, Any]], first: str) -> list[Column]:
    """Name, cases, then every metric some group can measure (tooltips give num/den)."""
    cols: list[Column] = [(first, lambda g: str(g[0])), ("Cases", lambda g: str(g[1]["cases"]))]
    for m in METRIC_NAMES:
        if any((g.get(m) or {}).get("den") for g in groups.values()):
            cols.append((TITLES[m], lambda g, m=m: fmt_ratio(g[1].get(m))))
    return cols


TOOL_COLUMNS: list[Column] = [
    ("Tool", lambda t: t[0]),
    ("Expected calls", lambda t: str(t[1]["expected"])),
    ("Right", lambda t: str(t[1]["correct"])),
    ("Called", lambda t: str(t[1]["called"])),
    ("Accuracy", lambda t: fmt_ratio(t[1]["accuracy"])),
]

FAILURE_COLUMNS: list[Column] = [
    ("Case", lambda f: str(f["id"]).split("/", 1)[-1]),
    ("Category", lambda f: str(f["category"])),
    ("Why", lambda f: str(f["error_type"])),
    ("Details", lambda f: str(f["error"])[:200]),
]


def _ci(m: Mapping[str, Any]) -> str:
    ci = m.get("ci")
    return f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else "–"


def _delta(m: Mapping[str, Any]) -> str:
    d = m.get("delta")
    return "–" if d is None else f"{100 * d:+.1f}"


def _p(m: Mapping[str, Any]) -> str:
    p = m.get("p_value")
    return "–" if p is None else f"{p:.3g}"


COMPARE_COLUMNS: list[Column] = [
    ("", lambda m: str(m.get("title"))),
    ("Pairs", lambda m: str(m.get("n"))),
    ("A", lambda m: pct(m.get("a"))),
    ("B", lambda m: pct(m.get("b"))),
    ("Δ points", _delta),
    ("95% CI", _ci),
    ("McNemar p", _p),
]

LATENCY_COLUMNS: list[Column] = [
    ("Measured", lambda r: when(float(r["metrics"].get("measured_at") or r["created_at"]))),
    ("Prompt", lambda r: str(r["_row"]["prompt_tokens"])),
    ("In flight", lambda r: str(r["_row"]["concurrency"])),
    ("TTFT p50", lambda r: _ms(r["_row"]["ttft_p50_s"])),
    ("TTFT p95", lambda r: _ms(r["_row"]["ttft_p95_s"])),
    ("Decode tok/s", lambda r: f"{r['_row']['decode_tokens_per_s'] or 0:.0f}"),
    ("Tool call p50", lambda r: _ms(r["metrics"].get("tool_call_p50_s"))),
    ("Tool call p95", lambda r: _ms(r["metrics"].get("tool_call_p95_s"))),
    ("Peak RSS", lambda r: f"{r['metrics'].get('peak_rss_mb')} MB"),
]


def _ms(v: Any) -> str:
    return "–" if v is None else f"{1000 * float(v):.0f} ms"
