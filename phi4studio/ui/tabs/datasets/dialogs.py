"""Export, synthesis and split dialogs. Each gathers its options and submits a job; none blocks
(open(), never exec())."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.query import ExampleFilter
from phi4studio.core.datasets.schema import SPLITS
from phi4studio.core.datasets.workflows import (
    RENDERED,
    export_formats,
    export_job,
    rendered_families,
)

if TYPE_CHECKING:
    from phi4studio.ui.tabs.datasets.view import DatasetsView


def path_row(parent: QWidget, edit: QLineEdit, title: str, *, save: bool,
             filters: str = "JSON Lines (*.jsonl);;All files (*)") -> QHBoxLayout:
    def browse() -> None:
        dlg = QFileDialog(parent, title)
        dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptSave if save
                          else QFileDialog.AcceptMode.AcceptOpen)
        dlg.setNameFilter(filters)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.fileSelected.connect(edit.setText)
        dlg.open()

    b = QPushButton("Browse…", parent)
    b.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(b)
    return row


class _JobDialog(QDialog):
    def __init__(self, view: DatasetsView, title: str) -> None:
        super().__init__(view)
        self.view = view
        self.setWindowTitle(title)
        self.form = QFormLayout()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #cf222e;")
        self.error.hide()
        lay = QVBoxLayout(self)
        lay.addLayout(self.form)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)

    def _accept(self) -> None:
        try:
            job = self.submit()
        except (DatasetError, OSError, ValueError) as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.view.say(f"{job.name}: running (see the Jobs dock)")
        self.accept()

    def submit(self) -> Any:
        raise NotImplementedError


class ExportDialog(_JobDialog):
    def __init__(self, view: DatasetsView) -> None:
        super().__init__(view, "Export dataset")
        self.format = QComboBox(self)
        for name, title in export_formats().items():
            self.format.addItem(title, name)
        self.family = QComboBox(self)
        for name, title in rendered_families().items():
            self.family.addItem(f"{name} — {title}", name)
        self.which = QComboBox(self)
        self.which.addItem("All examples", "all")
        self.which.addItem("The examples the table shows (current filter)", "filter")
        for s in SPLITS:
            self.which.addItem(f"Split: {s}", s)
        self.out = QLineEdit(self)
        info = view.library.get(str(view.dataset_id))
        self.out.setText(str(view.library.workspace.exports_dir / f"{info.name}.jsonl"))
        self.form.addRow("Format", self.format)
        self.form.addRow("Model family", self.family)
        self.form.addRow("Examples", self.which)
        self.form.addRow("Save as", path_row(self, self.out, "Export to", save=True))
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()

    def _format_changed(self, *_: Any) -> None:
        rendered = self.format.currentData() == RENDERED
        self.family.setEnabled(rendered)
        self.family.setToolTip("Each line: the example's prompt text as this model family's chat "
                               "template renders it, and which spans are trained on"
                               if rendered else "Only for rendered text")

    def submit(self) -> Any:
        which = self.which.currentData()
        flt = (None if which == "all" else self.view._filter() if which == "filter"
               else ExampleFilter(split=which))
        fmt = self.format.currentData()
        return export_job(self.view.library, str(self.view.dataset_id), Path(self.out.text()),
                          fmt, flt=flt, family=self.family.currentData() or None,
                          on_done=self.view._job_done)


def _open(view: DatasetsView, dlg: QDialog) -> QDialog:
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    view.dialog = dlg
    dlg.open()
    return dlg


def show_export(view: DatasetsView) -> QDialog | None:
    if view.dataset_id is None:
        return None
    view.editor.flush()
    return _open(view, ExportDialog(view))


def show_synthesis(view: DatasetsView) -> QDialog:
    from phi4studio.ui.tabs.datasets.synth_dialog import SynthesisDialog

    view.editor.flush()
    return _open(view, SynthesisDialog(view))


def show_split(view: DatasetsView) -> QDialog | None:
    if view.dataset_id is None:
        return None
    from phi4studio.ui.tabs.datasets.synth_dialog import SplitDialog

    view.editor.flush()
    return _open(view, SplitDialog(view))
