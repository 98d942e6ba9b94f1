"""Qt models of the Datasets tab: the dataset list, and a virtual table over a DatasetStore.

The table never copies the dataset: it holds the filtered rows' store positions (8 bytes per
row) and reads rows in keyset pages of PAGE rows on demand, keeping the last MAX_PAGES pages. Any
row, however deep, is one indexed query away, so 100k rows scroll like 100.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.library import DatasetInfo, DatasetLibrary
from phi4studio.core.datasets.query import ExampleFilter, ExampleRow
from phi4studio.core.datasets.store import DatasetStore

Index = QModelIndex | QPersistentModelIndex
PAGE = 128
MAX_PAGES = 64

STATE_COLORS = {
    "ok": "#1a7f37", "warning": "#9a6700", "warnings": "#9a6700", "error": "#cf222e",
    "errors": "#cf222e", "unchecked": "#57606a", "empty": "#8c959f",
}
DatasetIdRole = Qt.ItemDataRole.UserRole + 1


class DatasetListModel(QAbstractListModel):
    """The workspace's datasets: name, example count and validation state."""

    def __init__(self, library: DatasetLibrary, parent: Any = None) -> None:
        super().__init__(parent)
        self.library = library
        self.items: list[DatasetInfo] = []

    def reload(self) -> None:
        self.beginResetModel()
        self.items = self.library.datasets()
        self.endResetModel()

    def refresh(self, dataset_id: str) -> None:
        """Re-read one dataset's row (counts, state) without resetting the list."""
        for i, d in enumerate(self.items):
            if d.id == dataset_id:
                try:
                    self.items[i] = self.library.get(dataset_id)
                except DatasetError:
                    self.reload()
                    return
                idx = self.index(i, 0)
                self.dataChanged.emit(idx, idx)
                return

    def row_of(self, dataset_id: str | None) -> int:
        for i, d in enumerate(self.items):
            if d.id == dataset_id:
                return i
        return -1

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.items):
            return None
        d = self.items[index.row()]
        busy = self.library.busy(d.id)
        if role == Qt.ItemDataRole.DisplayRole:
            state = f"busy: {busy.name}" if busy is not None else d.validity.label()
            return f"{d.name}\n{d.n_examples:,} examples · {state}"
        if role == Qt.ItemDataRole.ToolTipRole:
            v = d.validity
            return (f"{d.name}\n{d.path}\n{d.n_examples:,} examples: {v.ok} valid, "
                    f"{v.warning} with warnings, {v.error} with errors, {v.unchecked} not "
                    "validated")
        if role == Qt.ItemDataRole.DecorationRole:
            return QColor(STATE_COLORS.get(d.validity.state, "#57606a"))
        if role == DatasetIdRole:
            return d.id
        return None


COLUMNS = ("id", "scenario", "split", "tools called", "turns", "validity", "preview")
COL_ID, COL_SCENARIO, COL_SPLIT, COL_TOOLS, COL_TURNS, COL_VALIDITY, COL_PREVIEW = range(7)


class ExampleTableModel(QAbstractTableModel):
    """A virtual table over `store` filtered by `flt`: rows are paged in lazily."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.store: DatasetStore | None = None
        self.filter = ExampleFilter()
        self._pos: array[int] = array("q")
        self._pages: OrderedDict[int, list[ExampleRow]] = OrderedDict()
        self.pages_read = 0  # queries made (for the tests and the figures)
        self.rows_refreshed = 0  # rows repainted one by one after edits (for the tests)

    # --- source ------------------------------------------------------------------------------
    def set_source(self, store: DatasetStore | None, flt: ExampleFilter | None = None) -> None:
        self.beginResetModel()
        self.store = store
        if flt is not None:
            self.filter = flt
        self._reload()
        self.endResetModel()

    def set_filter(self, flt: ExampleFilter) -> None:
        self.set_source(self.store, flt)

    def _reload(self) -> None:
        self._pages.clear()
        self._pos = self.store.positions(self.filter) if self.store is not None else array("q")

    def refresh(self) -> None:
        """After the store changed: rows keep their place when the set of rows did not change."""
        if self.store is None:
            return
        new = self.store.positions(self.filter)
        if new == self._pos:
            self._pages.clear()
            if self._pos:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(self._pos) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self._pos = new
        self._pages.clear()
        self.endResetModel()

    def refresh_rows(self, ids: Iterable[str]) -> int:
        """After an edit of these examples: when the filtered set of rows is unchanged, only
        their rows are re-read and repainted; else the table is reset. Returns rows refreshed."""
        if self.store is None:
            return 0
        new = self.store.positions(self.filter)
        if new != self._pos:
            self.beginResetModel()
            self._pos = new
            self._pages.clear()
            self.endResetModel()
            return len(new)
        touched = set(ids)
        n = 0
        for page_no, page in list(self._pages.items()):
            hit = [i for i, r in enumerate(page) if r.id in touched]
            if not hit:
                continue
            del self._pages[page_no]
            for i in hit:
                r = page_no * PAGE + i
                self.dataChanged.emit(self.index(r, 0), self.index(r, len(COLUMNS) - 1))
                n += 1
        self.rows_refreshed += n
        return n

    # --- rows --------------------------------------------------------------------------------
    def total(self) -> int:
        return len(self._pos)

    def row(self, r: int) -> ExampleRow | None:
        if self.store is None or not 0 <= r < len(self._pos):
            return None
        page_no = r // PAGE
        page = self._pages.get(page_no)
        if page is None:
            start = page_no * PAGE
            page = self.store.page_after(self.filter, self._pos[start] - 1, PAGE)
            self.pages_read += 1
            self._pages[page_no] = page
            while len(self._pages) > MAX_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_no)
        i = r - page_no * PAGE
        return page[i] if i < len(page) else None

    def example_id(self, r: int) -> str | None:
        row = self.row(r)
        return row.id if row is not None else None

    def row_of_id(self, example_id: str) -> int | None:
        if self.store is None:
            return None
        return self.store.row_index(example_id, self.filter)

    # --- Qt ----------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._pos)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return str(section + 1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                        Qt.ItemDataRole.ForegroundRole):
            return None
        row = self.row(index.row())
        if row is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == COL_VALIDITY:
                return QColor(STATE_COLORS.get(row.validity or "unchecked", "#57606a"))
            return None
        if col == COL_ID:
            return row.id
        if col == COL_SCENARIO:
            return row.scenario or ""
        if col == COL_SPLIT:
            return row.split or ""
        if col == COL_TOOLS:
            return ", ".join(row.called_tools) or ("—" if role == Qt.ItemDataRole.DisplayRole
                                                   else "no tool call")
        if col == COL_TURNS:
            return str(row.n_user_turns) if role == Qt.ItemDataRole.DisplayRole else (
                f"{row.n_user_turns} user turn(s), {row.n_messages} messages, "
                f"{row.n_calls} call(s)")
        if col == COL_VALIDITY:
            if row.validity is None:
                return "unchecked"
            if row.validity == "ok":
                return "ok"
            return f"{row.n_errors} error(s)" if row.n_errors else f"{row.n_warnings} warning(s)"
        if col == COL_PREVIEW:
            return row.preview
        return None
