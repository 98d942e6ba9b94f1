"""The Versions panel under the table: named versions with their counts, what changed since the
latest one, a comparison with now, save, restore and delete."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.store import DatasetStore
from phi4studio.core.datasets.versions import CURRENT
from phi4studio.core.datasets.workflows_versions import (
    IN_PLACE_LIMIT,
    RestoreReport,
    create_version_job,
    restore_in_place,
    restore_version_job,
)
from phi4studio.core.jobs import Job, JobState

if TYPE_CHECKING:
    from phi4studio.ui.tabs.datasets.view import DatasetsView

COLUMNS = ["version", "examples", "added", "changed", "removed", "saved", "note"]


class VersionsPanel(QWidget):
    """Emits `create_requested(name)`, `restore_requested(id)`, `delete_requested(id)`; the tab
    decides how (in place and undoable, or as a job)."""

    create_requested = Signal(str)
    restore_requested = Signal(int)
    delete_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: DatasetStore | None = None
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.name = QLineEdit(self)
        self.name.setPlaceholderText("name of a new version, e.g. reviewed batch 1")
        self.save_button = QPushButton("Save version", self)
        self.save_button.clicked.connect(self._create)
        self.name.returnPressed.connect(self._create)
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setColumnWidth(0, 200)
        self.tree.currentItemChanged.connect(lambda *_: self._selection())
        self.diff_label = QLabel(self)
        self.diff_label.setWordWrap(True)
        self.restore_button = QPushButton("Restore", self)
        self.restore_button.setToolTip("Make the dataset equal to this version again")
        self.delete_button = QPushButton("Delete", self)
        self.restore_button.clicked.connect(lambda: self._emit(self.restore_requested))
        self.delete_button.clicked.connect(lambda: self._emit(self.delete_requested))
        top = QHBoxLayout()
        top.addWidget(self.name, 1)
        top.addWidget(self.save_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.diff_label, 1)
        bottom.addWidget(self.restore_button)
        bottom.addWidget(self.delete_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.summary)
        lay.addLayout(top)
        lay.addWidget(self.tree, 1)
        lay.addLayout(bottom)
        self._selection()

    def load(self, store: DatasetStore | None) -> None:
        self.store = store
        keep = self.selected()
        self.tree.clear()
        if store is None:
            self.summary.setText("")
            self._selection()
            return
        versions = store.versions.list()
        for v in versions:
            it = QTreeWidgetItem([v.name, f"{v.n_examples:,}", f"+{v.added}", f"~{v.changed}",
                                  f"-{v.removed}", time.strftime("%Y-%m-%d %H:%M",
                                                                 time.localtime(v.created_at)),
                                  v.note])
            it.setData(0, Qt.ItemDataRole.UserRole, v.id)
            it.setToolTip(0, "added / changed / removed: against the previous version")
            self.tree.addTopLevelItem(it)
            if v.id == keep:
                self.tree.setCurrentItem(it)
        since = store.versions.changes_since_latest()
        if not versions:
            self.summary.setText("No version saved yet. A version keeps the dataset as it is now "
                                 "(splits are kept automatically before a split).")
        else:
            self.summary.setText(f"Since “{versions[-1].name}”: {since.summary()}.")
        self._selection()

    def selected(self) -> int | None:
        it = self.tree.currentItem()
        return None if it is None else int(it.data(0, Qt.ItemDataRole.UserRole))

    def select(self, version_id: int) -> None:
        for i in range(self.tree.topLevelItemCount()):
            it = self.tree.topLevelItem(i)
            if it.data(0, Qt.ItemDataRole.UserRole) == version_id:
                self.tree.setCurrentItem(it)

    def _selection(self) -> None:
        vid = self.selected()
        self.restore_button.setEnabled(vid is not None)
        self.delete_button.setEnabled(vid is not None)
        if vid is None or self.store is None:
            self.diff_label.setText("")
            return
        try:
            d = self.store.versions.diff(vid, CURRENT)
        except DatasetError as exc:
            self.diff_label.setText(str(exc))
            return
        self.diff_label.setText(f"From this version to now: {d.summary()}.")

    def _create(self) -> None:
        name = self.name.text().strip()
        if name:
            self.create_requested.emit(name)
            self.name.clear()

    def _emit(self, signal: Signal) -> None:  # type: ignore[type-arg]
        vid = self.selected()
        if vid is not None:
            signal.emit(vid)  # type: ignore[attr-defined]


class VersionsController:
    """What the tab does with versions: save (a job), restore (in place as one undoable step
    when small, else a job that keeps the state before as a version), delete; and the undo of a
    split job (the split ran on its own connection, so the tab undoes it by restoring the
    version the split kept, as long as nothing was edited since)."""

    def __init__(self, view: DatasetsView) -> None:
        self.view = view
        self.panel = VersionsPanel(view)
        self.panel.create_requested.connect(self.create)
        self.panel.restore_requested.connect(self.restore)
        self.panel.delete_requested.connect(self.delete)
        self.job_undo: tuple[str, int, int] | None = None  # (label, version id, undo mark)

    def create(self, name: str) -> Job | None:
        v = self.view
        if v.dataset_id is None:
            return None
        v.editor.flush()
        return v._run(lambda: create_version_job(v.library, str(v.dataset_id), name,
                                                 on_done=self._done))

    def restore(self, version_id: int) -> RestoreReport | Job | None:
        v = self.view
        st = v.store
        if st is None or v.dataset_id is None:
            return None
        if v.library.busy(v.dataset_id) is not None:
            v.say("A job is working on this dataset: restore when it has finished.")
            return None
        v.editor.flush()
        if st.versions.diff(CURRENT, version_id).total <= IN_PLACE_LIMIT:
            report = restore_in_place(st, version_id)
            v.say(f"{report.message} (Ctrl+Z takes it back)")
            self.panel.load(st)
            return report
        return v._run(lambda: restore_version_job(v.library, str(v.dataset_id), version_id,
                                                  on_done=self._done))

    def delete(self, version_id: int) -> None:
        st = self.view.store
        if st is None:
            return
        name = st.versions.get(version_id).name
        st.versions.delete(version_id)
        self.view.say(f"Version {name!r} deleted.")
        self.panel.load(st)

    def _done(self, job: Job) -> None:
        self.view._job_done(job)
        if job.dataset_id == self.view.dataset_id:  # type: ignore[attr-defined]
            self.panel.load(self.view.store)

    # --- undoing a split job -------------------------------------------------------------------
    def split_done(self, job: Job) -> None:
        v = self.view
        plan = job.result
        kept = getattr(plan, "kept_version", None)
        if job.state is JobState.SUCCEEDED and kept and v.store is not None \
                and job.dataset_id == v.dataset_id:  # type: ignore[attr-defined]
            self.job_undo = ("Split", int(kept), v.store.undo_mark)
        v._job_done(job)

    def pending_undo(self) -> str | None:
        """The label of a job the tab can undo now (nothing edited since it ended)."""
        st = self.view.store
        if self.job_undo is None or st is None or st.undo_mark != self.job_undo[2]:
            return None
        return self.job_undo[0]

    def undo_job(self) -> bool:
        label = self.pending_undo()
        if label is None or self.job_undo is None:
            return False
        version_id = self.job_undo[1]
        self.job_undo = None
        return self.restore(version_id) is not None

    def forget(self) -> None:
        self.job_undo = None
