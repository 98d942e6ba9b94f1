"""Preferences: a dialog generated from the Settings model's annotated fields (core.form_spec)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.settings import FieldSpec, Settings, form_spec


class PreferencesDialog(QDialog):
    """Shows the settings; `apply` (a Studio.update_settings) validates and saves them."""

    def __init__(
        self,
        settings: Settings,
        apply: Callable[[dict[str, Any]], Settings],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(560)
        self._apply = apply
        self._getters: dict[str, Callable[[], Any]] = {}
        self.editors: dict[str, QWidget] = {}
        form = QFormLayout()
        for spec in form_spec():
            editor, getter = self._editor(spec, getattr(settings, spec.name))
            editor.setToolTip(spec.description)
            self.editors[spec.name] = editor
            self._getters[spec.name] = getter
            form.addRow(spec.title, editor)
        self.error = QLabel(self)
        self.error.setStyleSheet("color: #cf222e")
        self.error.setWordWrap(True)
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)

    def values(self) -> dict[str, Any]:
        return {name: get() for name, get in self._getters.items()}

    def _accept(self) -> None:
        try:
            self._apply(self.values())
        except ValidationError as exc:
            msgs = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            self.error.setText("Not saved: " + "; ".join(msgs))
            self.error.show()
            return
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, nothing lost
            self.error.setText(f"Not saved: {exc}")
            self.error.show()
            return
        self.accept()

    def _editor(self, spec: FieldSpec, value: Any) -> tuple[QWidget, Callable[[], Any]]:
        if spec.kind == "bool":
            box = QCheckBox(self)
            box.setChecked(bool(value))
            return box, box.isChecked
        if spec.kind == "int":
            spin = QSpinBox(self)
            spin.setRange(int(spec.minimum or 0), int(spec.maximum or 1_000_000))
            spin.setValue(int(value))
            return spin, spin.value
        if spec.kind == "float":
            dspin = QDoubleSpinBox(self)
            dspin.setRange(float(spec.minimum or 0.0), float(spec.maximum or 1e9))
            dspin.setValue(float(value))
            return dspin, dspin.value
        if spec.kind == "choice":
            combo = QComboBox(self)
            combo.addItems(list(spec.choices))
            current = getattr(value, "value", value)
            combo.setCurrentText(str(current))
            return combo, combo.currentText
        line = QLineEdit(self)
        line.setText("" if value is None else str(value))
        line.setPlaceholderText("(default)" if spec.optional else "")

        def text_value() -> str | None:
            t = line.text().strip()
            return t or (None if spec.optional else "")

        if spec.kind in ("path_dir", "path_file"):
            row = QWidget(self)
            h = QHBoxLayout(row)
            h.setContentsMargins(0, 0, 0, 0)
            h.addWidget(line, 1)
            browse = QPushButton("Browse...", row)
            h.addWidget(browse)
            browse.clicked.connect(lambda: self._browse(line, spec.kind == "path_dir"))
            return row, text_value
        return line, text_value

    def _browse(self, line: QLineEdit, folder: bool) -> None:
        dlg = QFileDialog(self)
        mode = QFileDialog.FileMode.Directory if folder else QFileDialog.FileMode.ExistingFile
        dlg.setFileMode(mode)
        dlg.fileSelected.connect(line.setText)
        dlg.open()
