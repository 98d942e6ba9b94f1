"""The exports list as a Qt table model over ExportService.records()."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from phi4studio.core.export import ExportRecord, human_bytes

COLUMNS = ("Name", "Recipe", "Target", "Size", "Agreement", "Load", "Tokens/s", "Status",
           "Created")
STATUS_TEXT = {"ready": "ready", "flagged": "flagged", "failed": "failed",
               "cancelled": "cancelled", "queued": "queued", "running": "running…",
               "interrupted": "interrupted"}
Index = QModelIndex | QPersistentModelIndex


class ExportsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.records: list[ExportRecord] = []

    def set_records(self, records: list[ExportRecord]) -> None:
        self.beginResetModel()
        self.records = list(records)
        self.endResetModel()

    def record(self, row: int) -> ExportRecord | None:
        return self.records[row] if 0 <= row < len(self.records) else None

    def row_of(self, export_id: str) -> int:
        for i, r in enumerate(self.records):
            if r.id == export_id:
                return i
        return -1

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        r = self.record(index.row())
        if r is None:
            return None
        col = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(r, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            v = r.verification
            return v.get("advice") or r.meta.get("error") or str(r.path)
        if role == Qt.ItemDataRole.ForegroundRole and col in ("Status", "Agreement"):
            if r.status == "flagged":
                return QColor("#b26a00")
            if r.status in ("failed", "interrupted"):
                return QColor("#c62828")
        return None

    @staticmethod
    def _text(r: ExportRecord, col: str) -> str:
        v = r.verification
        if col == "Name":
            return r.name
        if col == "Recipe":
            return r.recipe.rsplit(" · ", 2)[0] + (" + adapter" if r.strategy == "adapter"
                                                   else "")
        if col == "Target":
            return r.target
        if col == "Size":
            return human_bytes(r.size_bytes) if r.size_bytes else ""
        if col == "Agreement":
            a = v.get("token_agreement")
            return f"{a:.1%}" if isinstance(a, (int, float)) else ""
        if col == "Load":
            s = v.get("load_s")
            return f"{s:.2f} s" if isinstance(s, (int, float)) else ""
        if col == "Tokens/s":
            t = v.get("decode_tokens_per_s")
            return f"{t:.0f}" if isinstance(t, (int, float)) else ""
        if col == "Status":
            return STATUS_TEXT.get(r.status, r.status)
        if col == "Created":
            return time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        return ""
