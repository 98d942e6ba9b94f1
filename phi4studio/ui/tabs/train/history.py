"""The run history table: a QAbstractTableModel over the catalog's runs, and loss-curve overlays.

The model re-reads the catalog only when told (the view coalesces run notifications on its timer),
keeping the selection by run id. Curves of selected runs come from their metrics.jsonl, cached by
file size and modification time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from phi4studio.core.training.runs import RunRecord, load_metrics
from phi4studio.core.training.service import TrainingService

COLUMNS = ("Run", "Status", "Model", "Final loss", "Val. loss", "Steps", "Duration", "Created")
STATUS_COLORS = {"completed": "#1a7f37", "early-stopped": "#1a7f37", "failed": "#cf222e",
                 "cancelled": "#9a6700", "interrupted": "#9a6700", "running": "#1f6feb",
                 "preparing": "#1f6feb", "queued": "#57606a"}
Index = QModelIndex | QPersistentModelIndex


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


class RunHistoryModel(QAbstractTableModel):
    def __init__(self, service: TrainingService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.rows: list[RunRecord] = []
        self.refresh()

    def refresh(self) -> None:
        self.beginResetModel()
        try:
            self.rows = self.service.runs()
        finally:
            self.endResetModel()

    def row_of(self, run_id: str) -> int | None:
        for i, r in enumerate(self.rows):
            if r.id == run_id:
                return i
        return None

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self.rows[index.row()]
        col = index.column()
        monitor = self.service.monitors.get(r.id)
        status = monitor.status if monitor is not None else r.status
        if role == Qt.ItemDataRole.DisplayRole:
            m = r.metrics
            if col == 0:
                return r.name
            if col == 1:
                if status in ("running",) and monitor is not None and monitor.total:
                    return f"running {monitor.step}/{monitor.total}"
                return status + (" (resumable)" if r.resumable and status != "running" else "")
            if col == 2:
                return Path(r.base_model).name if "/" in r.base_model and Path(
                    r.base_model).exists() else r.base_model
            if col == 3:
                return f"{r.final_loss:.4f}" if r.final_loss is not None else ""
            if col == 4:
                return f"{r.final_eval_loss:.4f}" if r.final_eval_loss is not None else ""
            if col == 5:
                steps, total = m.get("steps") or m.get("checkpoint_step"), m.get("total_steps")
                return f"{steps or 0}/{total}" if total else ""
            if col == 6:
                return fmt_duration(r.duration_s)
            if col == 7:
                return time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            return QColor(STATUS_COLORS.get(status, "#57606a"))
        if role == Qt.ItemDataRole.ToolTipRole:
            return r.metrics.get("error") or str(r.path)
        if role == Qt.ItemDataRole.UserRole:
            return r.id
        return None


class CurveCache:
    """Loss curves of finished runs from their metrics.jsonl, re-read only when it changed."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[float, int], dict[str, list[tuple[int, float]]]]] = {}

    def get(self, path: Path) -> dict[str, list[tuple[int, float]]]:
        try:
            st = path.stat()
            key = (st.st_mtime, st.st_size)
        except OSError:
            return {}
        hit = self._cache.get(path)
        if hit is None or hit[0] != key:
            hit = (key, load_metrics(path))
            self._cache[path] = hit
        return hit[1]
