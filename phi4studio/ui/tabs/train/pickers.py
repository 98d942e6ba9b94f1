"""The Train tab's source pickers: base model (presets, a folder or a GGUF file, or any Hub id
typed in) and dataset with its training and validation splits (workspace datasets or a file).

File dialogs are opened, never exec'd: the event loop keeps running while they are up.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from phi4studio.core.errors import StudioError
from phi4studio.core.training.data import resolve_dataset, split_counts
from phi4studio.core.training.models import preset_models
from phi4studio.core.training.service import TrainingService

SPLIT_ALL = "all"
NO_SPLIT = "(none)"


def row(*widgets: QWidget) -> QWidget:
    """Widgets side by side, the first one stretching."""
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    for i, x in enumerate(widgets):
        lay.addWidget(x, 1 if i == 0 else 0)
    return w


class SourcePicker(QWidget):
    changed = Signal()
    problem = Signal(str)

    def __init__(self, service: TrainingService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self._dialog: QFileDialog | None = None
        self.model_combo = QComboBox(self)
        self.model_combo.setEditable(True)
        self.model_combo.setObjectName("baseModel")
        for m in preset_models():
            self.model_combo.addItem(m.label, m.ref)
            self.model_combo.setItemData(self.model_combo.count() - 1, m.note,
                                         Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setCurrentIndex(-1)
        self.model_combo.setPlaceholderText("Hugging Face id, model folder or .gguf file")
        self.model_combo.currentIndexChanged.connect(self.changed)
        self.model_combo.lineEdit().editingFinished.connect(self.changed)
        folder = QPushButton("Folder…", self)
        folder.clicked.connect(lambda: self.browse("folder"))
        gguf = QPushButton("GGUF…", self)
        gguf.clicked.connect(lambda: self.browse("gguf"))
        self.model_row = row(self.model_combo, folder, gguf)
        self.dataset_combo = QComboBox(self)
        self.dataset_combo.setObjectName("dataset")
        self.dataset_combo.currentIndexChanged.connect(self._dataset_picked)
        data = QPushButton("File…", self)
        data.clicked.connect(lambda: self.browse("dataset"))
        self.dataset_row = row(self.dataset_combo, data)
        self.train_split = QComboBox(self)
        self.val_split = QComboBox(self)
        for c in (self.train_split, self.val_split):
            c.currentIndexChanged.connect(self.changed)
        self.split_row = row(self.train_split, self.val_split)
        self.hide()  # only its rows are shown, in the tab's form

    # --- model --------------------------------------------------------------------------------
    def set_base_model(self, ref: str) -> None:
        i = self.model_combo.findData(ref)
        if i >= 0:
            self.model_combo.setCurrentIndex(i)
        else:
            self.model_combo.setEditText(ref)
        self.changed.emit()

    def base_model(self) -> str:
        i = self.model_combo.currentIndex()
        text = self.model_combo.currentText().strip()
        if i >= 0 and self.model_combo.itemText(i) == text:
            return str(self.model_combo.itemData(i))
        return text

    # --- dataset ------------------------------------------------------------------------------
    def refresh_datasets(self) -> None:
        current = self.dataset_key()
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        try:
            rows = self.service.catalog.records("datasets")
        except Exception:  # noqa: BLE001 - a closed catalog during a workspace switch
            rows = []
        for r in rows:
            self.dataset_combo.addItem(f"{r['name']} ({r.get('n_examples', 0)} examples)",
                                       str(r["id"]))
        self.dataset_combo.setCurrentIndex(-1)
        self.dataset_combo.blockSignals(False)
        if current:
            self.set_dataset(current)

    def set_dataset(self, key: str) -> None:
        i = self.dataset_combo.findData(key)
        if i < 0:
            self.dataset_combo.addItem(Path(key).name, key)
            i = self.dataset_combo.count() - 1
        self.dataset_combo.setCurrentIndex(i)

    def dataset_key(self) -> str:
        data = self.dataset_combo.currentData()
        return str(data) if data else ""

    def splits(self) -> tuple[str, str | None]:
        train = self.train_split.currentData()
        val = self.val_split.currentData()
        return str(train or "train"), None if val in (None, NO_SPLIT) else str(val)

    def _dataset_picked(self, _i: int) -> None:
        counts: dict[str | None, int] = {}
        try:
            counts = split_counts(resolve_dataset(self.service.studio.workspace,
                                                  self.dataset_key()))
        except (StudioError, OSError, ValueError) as exc:
            self.problem.emit(str(exc))
        names = [s for s in ("train", "validation", "test") if counts.get(s)]
        names += sorted(str(s) for s in counts if s and s not in names)
        for combo, default, extra in ((self.train_split, "train", [SPLIT_ALL]),
                                      (self.val_split, "validation", [NO_SPLIT])):
            combo.blockSignals(True)
            combo.clear()
            for s in [*names, *extra]:
                n = sum(counts.values()) if s == SPLIT_ALL else counts.get(s, 0)
                combo.addItem(f"{s} ({n})" if s != NO_SPLIT else s, s)
            combo.setCurrentIndex(max(0, combo.findData(default if default in names
                                                        else extra[0])))
            combo.blockSignals(False)
        self.changed.emit()

    def browse(self, what: str) -> None:
        dlg = QFileDialog(self.window())
        if what == "folder":
            dlg.setFileMode(QFileDialog.FileMode.Directory)
            dlg.setWindowTitle("Choose a Hugging Face model folder")
        elif what == "gguf":
            dlg.setNameFilter("GGUF models (*.gguf)")
            dlg.setWindowTitle("Choose a GGUF model")
        else:
            dlg.setNameFilter("Datasets (*.sqlite *.jsonl *.json)")
            dlg.setWindowTitle("Choose a dataset file")
        dlg.fileSelected.connect(lambda path: self.set_dataset(path) if what == "dataset"
                                 else self.set_base_model(path))
        self._dialog = dlg
        dlg.open()  # never exec(): the loop keeps running
