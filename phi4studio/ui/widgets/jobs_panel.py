"""The Jobs dock: every job with name, state, progress, elapsed, ETA, message, a cancel button per
row, and the selected job's log.

Queue notifications only mark rows dirty; a 10 Hz timer turns them into one repaint, so a job
streaming hundreds of events a second costs the UI thread almost nothing.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.jobs import HistoricJob, Job, JobQueue, JobState

COLUMNS = ("Job", "State", "Progress", "Elapsed", "ETA", "Message", "")
COL_NAME, COL_STATE, COL_PROGRESS, COL_ELAPSED, COL_ETA, COL_MESSAGE, COL_CANCEL = range(7)
FLUSH_MS = 100

_STATE_COLORS = {
    JobState.RUNNING: "#1f6feb",
    JobState.SUCCEEDED: "#1a7f37",
    JobState.FAILED: "#cf222e",
    JobState.CANCELLED: "#9a6700",
    JobState.INTERRUPTED: "#9a6700",
    JobState.PENDING: "#57606a",
}

Index = QModelIndex | QPersistentModelIndex


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {(s % 3600) // 60:02d}m"


class JobsTableModel(QAbstractTableModel):
    """Newest job first. Reads the live Job objects; never copies them."""

    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self._rows: list[Job] = []
        self._row_of: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._log_dirty: set[str] = set()
        self._structure_dirty = True
        self._reset_needed = True
        self._ticks = 0
        self.flush_count = 0
        queue.add_listener(self._on_job_event)
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self.flush)
        self._timer.start()
        self.flush()

    logs_changed = Signal(set)  # ids whose log grew since the last flush

    def detach(self) -> None:
        self._timer.stop()
        self.queue.remove_listener(self._on_job_event)

    # --- queue -> dirty marks (may be called hundreds of times a second) --------------------
    def _on_job_event(self, what: str, job: Job | None) -> None:
        if what == "added":
            self._structure_dirty = True
        elif what == "reset" or job is None:
            self._structure_dirty = self._reset_needed = True
        elif what == "log":
            self._log_dirty.add(job.id)
        else:
            self._dirty.add(job.id)

    def flush(self) -> None:
        self.flush_count += 1
        if self._structure_dirty:
            self._sync_rows()
        self._ticks += 1
        if self._ticks % (1000 // FLUSH_MS) == 0:  # once a second: elapsed / ETA of running jobs
            self._dirty.update(j.id for j in self._rows if j.state is JobState.RUNNING)
        if self._dirty:
            rows = [self._row_of[i] for i in self._dirty if i in self._row_of]
            self._dirty.clear()
            if rows:
                self.dataChanged.emit(
                    self.index(min(rows), 0), self.index(max(rows), len(COLUMNS) - 1)
                )
        if self._log_dirty:
            ids, self._log_dirty = self._log_dirty, set()
            self.logs_changed.emit(ids)

    def _sync_rows(self) -> None:
        """queue.jobs only grows, except on reset (clear finished / other workspace)."""
        self._structure_dirty = False
        if self._reset_needed:
            self._reset_needed = False
            self.beginResetModel()
            self._rows = list(reversed(self.queue.jobs))
            self._reindex()
            self.endResetModel()
            return
        new = list(reversed(self.queue.jobs[len(self._rows):]))
        if new:
            self.beginInsertRows(QModelIndex(), 0, len(new) - 1)
            self._rows = new + self._rows
            self._reindex()
            self.endInsertRows()

    def _reindex(self) -> None:
        self._row_of = {j.id: i for i, j in enumerate(self._rows)}

    # --- model API --------------------------------------------------------------------------
    def job_at(self, row: int) -> Job | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, job: Job) -> int:
        return self._row_of.get(job.id, -1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        job = self.job_at(index.row())
        if job is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_NAME:
                return job.name
            if col == COL_STATE:
                return job.state.value
            if col == COL_PROGRESS:
                return None if job.progress is None else f"{job.progress * 100:.0f}%"
            if col == COL_ELAPSED:
                return fmt_seconds(job.elapsed_s)
            if col == COL_ETA:
                return fmt_seconds(job.eta_s)
            if col == COL_MESSAGE:
                return job.message
        elif role == Qt.ItemDataRole.ForegroundRole and col == COL_STATE:
            return QColor(_STATE_COLORS.get(job.state, "#57606a"))
        elif role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_CANCEL and job.can_cancel:
                return f"Cancel {job.name}"
            if job.error:
                return job.error
            return job.message or None
        elif role == Qt.ItemDataRole.UserRole:
            return job
        return None


class ProgressDelegate(QStyledItemDelegate):
    def paint(self, painter, option: QStyleOptionViewItem, index: Index) -> None:
        job = index.data(Qt.ItemDataRole.UserRole)
        if not isinstance(job, Job) or (job.progress is None and job.state is not JobState.RUNNING):
            super().paint(painter, option, index)
            return
        opt = QStyleOptionProgressBar()
        opt.rect = option.rect.adjusted(2, 3, -2, -3)
        opt.minimum = 0
        opt.maximum = 0 if job.progress is None else 1000  # 0/0: busy indicator
        opt.progress = int((job.progress or 0) * 1000)
        opt.text = "" if job.progress is None else f"{job.progress * 100:.0f}%"
        opt.textVisible = True
        opt.state = QStyle.StateFlag.State_Enabled
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, opt, painter)


class CancelDelegate(QStyledItemDelegate):
    """A small 'Cancel' button in each row whose job can still be cancelled."""

    clicked = Signal(object)

    def paint(self, painter, option: QStyleOptionViewItem, index: Index) -> None:
        job = index.data(Qt.ItemDataRole.UserRole)
        if not isinstance(job, Job) or not job.can_cancel:
            return
        btn = QStyleOptionButton()
        btn.rect = QRect(option.rect.adjusted(2, 2, -2, -2))
        btn.text = "Cancel"
        btn.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Raised
        QApplication.style().drawControl(QStyle.ControlElement.CE_PushButton, btn, painter)

    def editorEvent(self, event, model, option, index) -> bool:
        if event.type() == QEvent.Type.MouseButtonRelease:
            job = index.data(Qt.ItemDataRole.UserRole)
            if isinstance(job, Job) and job.can_cancel:
                self.clicked.emit(job)
                return True
        return False


class JobsPanel(QWidget):
    """The dock's content: the job table, a toolbar, and the selected job's log."""

    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.model = JobsTableModel(queue, self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setItemDelegateForColumn(COL_PROGRESS, ProgressDelegate(self.table))
        self.cancel_delegate = CancelDelegate(self.table)
        self.cancel_delegate.clicked.connect(self.cancel_job)
        self.table.setItemDelegateForColumn(COL_CANCEL, self.cancel_delegate)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(COL_MESSAGE, QHeaderView.ResizeMode.Stretch)
        for col, width in ((COL_NAME, 220), (COL_STATE, 90), (COL_PROGRESS, 130),
                           (COL_ELAPSED, 70), (COL_ETA, 70), (COL_CANCEL, 76)):
            self.table.setColumnWidth(col, width)

        self.cancel_button = QPushButton("Cancel job", self)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._cancel_selected)
        self.clear_button = QPushButton("Clear finished", self)
        self.clear_button.clicked.connect(self._clear_finished)
        self.summary = QLabel(self)
        bar = QHBoxLayout()
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.clear_button)
        bar.addWidget(self.cancel_button)

        self.log_view = QPlainTextEdit(self)
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log_view.setPlaceholderText("Select a job to see its log.")
        self._log_job: Job | None = None
        self._log_shown = 0

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.table)
        split.addWidget(self.log_view)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(split)

        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.logs_changed.connect(self._logs_changed)
        self.model.dataChanged.connect(self._refresh_controls)
        self.model.rowsInserted.connect(self._refresh_controls)
        self.model.modelReset.connect(self._refresh_controls)
        self._refresh_controls()

    def detach(self) -> None:
        self.model.detach()

    def selected_job(self) -> Job | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.job_at(rows[0].row()) if rows else None

    def select_job(self, job: Job) -> None:
        row = self.model.row_of(job)
        if row >= 0:
            self.table.selectRow(row)

    def cancel_job(self, job: Job) -> None:
        self.queue.cancel(job)
        self._refresh_controls()

    def _cancel_selected(self) -> None:
        job = self.selected_job()
        if job is not None:
            self.cancel_job(job)

    def _clear_finished(self) -> None:
        self.queue.clear_finished()

    def _refresh_controls(self, *_: object) -> None:
        job = self.selected_job()
        self.cancel_button.setEnabled(job is not None and job.can_cancel)
        active = sum(1 for j in self.queue.jobs if not j.state.finished)
        self.summary.setText(f"{active} active · {len(self.queue.jobs)} jobs")

    def _selection_changed(self, *_: object) -> None:
        self._log_job = self.selected_job()
        self._show_log(full=True)
        self._refresh_controls()

    def _logs_changed(self, ids: set[str]) -> None:
        if self._log_job is not None and self._log_job.id in ids:
            self._show_log(full=False)

    def _show_log(self, *, full: bool) -> None:
        job = self._log_job
        if job is None:
            self.log_view.clear()
            return
        if isinstance(job, HistoricJob):
            self.log_view.setPlainText(job.load_log())
            return
        log = job.log
        new = log.total - self._log_shown
        if full or new > len(log.lines):
            self.log_view.setPlainText(log.text())
        elif new > 0:
            self.log_view.appendPlainText("\n".join(list(log.lines)[-new:]))
        self._log_shown = log.total
