"""The list of the workspace's datasets: counts and validation state; new, rename, delete (after
a confirmation, into the trash, with Undo), and restore from the trash."""

from __future__ import annotations

import time

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.library import DatasetLibrary, TrashEntry
from phi4studio.ui.tabs.datasets.qmodels import DatasetIdRole, DatasetListModel


class DatasetListPanel(QWidget):
    selected = Signal(object)  # dataset id or None
    status = Signal(str)

    def __init__(self, library: DatasetLibrary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.model = DatasetListModel(library, self)
        self.view = QListView(self)
        self.view.setModel(self.model)
        self.view.setSpacing(2)
        self.view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.doubleClicked.connect(lambda _i: self.rename_dataset())
        self.new_button = QPushButton("New", self)
        self.new_button.clicked.connect(self.new_dataset)
        self.rename_button = QPushButton("Rename", self)
        self.rename_button.clicked.connect(self.rename_dataset)
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.clicked.connect(self.delete_dataset)
        self.trash_button = QToolButton(self)
        self.trash_button.setText("Trash")
        self.trash_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.trash_menu = QMenu(self.trash_button)
        self.trash_menu.aboutToShow.connect(self._fill_trash)
        self.trash_button.setMenu(self.trash_menu)
        buttons = QHBoxLayout()
        for b in (self.new_button, self.rename_button, self.delete_button, self.trash_button):
            buttons.addWidget(b)
        self.undo_bar = QWidget(self)
        self.undo_label = QLabel(self.undo_bar)
        self.undo_label.setWordWrap(True)
        self.undo_button = QPushButton("Undo", self.undo_bar)
        self.undo_button.clicked.connect(self.undo_delete)
        ub = QHBoxLayout(self.undo_bar)
        ub.setContentsMargins(0, 0, 0, 0)
        ub.addWidget(self.undo_label, 1)
        ub.addWidget(self.undo_button)
        self.undo_bar.hide()
        self.last_deleted: TrashEntry | None = None
        self.dialog: QWidget | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("<b>Datasets</b>", self))
        lay.addWidget(self.view, 1)
        lay.addWidget(self.undo_bar)
        lay.addLayout(buttons)

    # --- list --------------------------------------------------------------------------------
    def current_id(self) -> str | None:
        idx = self.view.currentIndex()
        return idx.data(DatasetIdRole) if idx.isValid() else None

    def reload(self, select: str | None = None) -> None:
        keep = select or self.current_id()
        self.model.reload()
        row = self.model.row_of(keep)
        if row < 0 and self.model.rowCount():
            row = 0
        if row >= 0:
            self.view.selectionModel().setCurrentIndex(
                self.model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
        else:
            self.selected.emit(None)
        self._buttons()

    def refresh(self, dataset_id: str) -> None:
        self.model.refresh(dataset_id)

    def select(self, dataset_id: str) -> None:
        if self.model.row_of(dataset_id) < 0:
            self.model.reload()
        row = self.model.row_of(dataset_id)
        if row >= 0:
            self.view.selectionModel().setCurrentIndex(
                self.model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _current_changed(self, current: QModelIndex, _prev: QModelIndex) -> None:
        self._buttons()
        self.selected.emit(current.data(DatasetIdRole) if current.isValid() else None)

    def _buttons(self) -> None:
        has = self.current_id() is not None
        self.rename_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    # --- actions -----------------------------------------------------------------------------
    def new_dataset(self) -> QInputDialog:
        dlg = QInputDialog(self)
        dlg.setWindowTitle("New dataset")
        dlg.setLabelText("Name of the new (empty) dataset:")
        dlg.setTextValue(self.library.unique_name("New dataset"))
        dlg.textValueSelected.connect(self._create)
        return self._open(dlg)

    def _create(self, name: str) -> None:
        try:
            info = self.library.create(name)
        except DatasetError as exc:
            self.status.emit(str(exc))
            return
        self.select(info.id)
        self.status.emit(f"Created {info.name}")

    def rename_dataset(self) -> QInputDialog | None:
        ds = self.current_id()
        if ds is None:
            return None
        dlg = QInputDialog(self)
        dlg.setWindowTitle("Rename dataset")
        dlg.setLabelText("New name:")
        dlg.setTextValue(self.library.get(ds).name)
        dlg.textValueSelected.connect(lambda name: self._rename(ds, name))
        return self._open(dlg)

    def _rename(self, ds: str, name: str) -> None:
        try:
            self.library.rename(ds, name)
        except DatasetError as exc:
            self.status.emit(str(exc))

    def delete_dataset(self) -> QMessageBox | None:
        ds = self.current_id()
        if ds is None:
            return None
        info = self.library.get(ds)
        box = QMessageBox(
            QMessageBox.Icon.Question, "Delete dataset",
            f"Delete “{info.name}” ({info.n_examples:,} examples)?\n\nIt is moved to the "
            "workspace's trash: Undo or Trash > Restore brings it back.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(
            lambda r: self._delete(ds) if r == QMessageBox.StandardButton.Yes else None)
        return self._open(box)

    def _delete(self, ds: str) -> None:
        try:
            entry = self.library.delete(ds)
        except DatasetError as exc:
            self.status.emit(str(exc))
            return
        self.last_deleted = entry
        self.undo_label.setText(f"Deleted “{entry.name}” (in the trash).")
        self.undo_bar.show()
        self.status.emit(f"Deleted {entry.name}: moved to {entry.folder}")

    def undo_delete(self) -> None:
        if self.last_deleted is not None:
            self.restore(self.last_deleted)
        self.last_deleted = None
        self.undo_bar.hide()

    def restore(self, entry: TrashEntry) -> None:
        try:
            info = self.library.restore(entry)
        except (DatasetError, OSError) as exc:
            self.status.emit(f"Cannot restore {entry.name}: {exc}")
            return
        if self.last_deleted is not None and self.last_deleted.folder == entry.folder:
            self.last_deleted = None
            self.undo_bar.hide()
        self.select(info.id)
        self.status.emit(f"Restored {info.name}")

    def _fill_trash(self) -> None:
        self.trash_menu.clear()
        entries = self.library.trash()
        if not entries:
            self.trash_menu.addAction("The trash is empty").setEnabled(False)
            return
        for e in entries[:30]:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.deleted_at))
            act = self.trash_menu.addAction(
                f"Restore “{e.name}” ({e.n_examples:,} examples, deleted {when})")
            act.triggered.connect(lambda _=False, e=e: self.restore(e))
        self.trash_menu.addSeparator()
        self.trash_menu.addAction("Empty the trash…", self._confirm_empty)

    def _confirm_empty(self) -> None:
        n = len(self.library.trash())
        box = QMessageBox(QMessageBox.Icon.Warning, "Empty the trash",
                          f"Delete the {n} dataset(s) in the trash for good? This cannot be "
                          "undone.", QMessageBox.StandardButton.Yes
                          | QMessageBox.StandardButton.Cancel, self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(
            lambda r: self._emptied(self.library.empty_trash())
            if r == QMessageBox.StandardButton.Yes else None)
        self._open(box)

    def _emptied(self, n: int) -> None:
        self.last_deleted = None
        self.undo_bar.hide()
        self.status.emit(f"Emptied the trash ({n} dataset(s))")

    def _open(self, dlg: QInputDialog | QMessageBox) -> QInputDialog | QMessageBox:
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dlg
        dlg.open()  # never exec(): the event loop keeps running
        return dlg
