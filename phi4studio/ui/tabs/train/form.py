"""The Train tab's settings form, generated from TrainingConfig's field metadata.

Every field gets a widget by its `ui` kind (int, float, bool, choice, text, targets), its title as
the label, and its one-line description under it (and as the tooltip). Basic fields show first;
the advanced ones sit in a collapsible section, grouped by their `group`. Fields the tab edits
with its own pickers (model, dataset, splits) are left out.
"""

from __future__ import annotations

import typing
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.training.config import TARGET_PRESETS, TrainingConfig, form_fields

CUSTOM_WIDGETS = ("base_model", "dataset", "train_split", "validation_split")
GROUP_TITLES = {"model": "Model", "data": "Data", "method": "Method", "training": "Training",
                "monitoring": "Monitoring and checkpoints", "hardware": "Hardware"}


def _bounds(name: str) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in TrainingConfig.model_fields[name].metadata:
        for attr in ("ge", "gt"):
            if getattr(m, attr, None) is not None:
                lo = float(getattr(m, attr))
        for attr in ("le", "lt"):
            if getattr(m, attr, None) is not None:
                hi = float(getattr(m, attr))
    return lo, hi


def _choices(name: str) -> list[str]:
    if name == "chat_format":
        from phi4studio.core.chatformats import available_formats

        return ["auto", *available_formats()]
    ann = TrainingConfig.model_fields[name].annotation
    return [str(a) for a in typing.get_args(ann)]


class ConfigForm(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widgets: dict[str, QWidget] = {}
        self.descriptions: dict[str, str] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        basic = QFormLayout()
        lay.addLayout(basic)
        self.advanced_button = QToolButton(self)
        self.advanced_button.setText("Advanced settings")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.toggled.connect(self._toggle_advanced)
        lay.addWidget(self.advanced_button)
        self.advanced = QWidget(self)
        adv = QVBoxLayout(self.advanced)
        adv.setContentsMargins(12, 0, 0, 0)
        lay.addWidget(self.advanced)
        self.advanced.hide()
        groups: dict[str, QFormLayout] = {}
        for f in form_fields():
            name = f["name"]
            if name in CUSTOM_WIDGETS:
                continue
            widget = self._make(name, f)
            self.widgets[name] = widget
            self.descriptions[name] = f["description"]
            row = QWidget(self)
            rl = QVBoxLayout(row)
            rl.setContentsMargins(0, 0, 0, 2)
            rl.setSpacing(1)
            rl.addWidget(widget)
            hint = QLabel(f["description"], row)
            hint.setWordWrap(True)
            hint.setStyleSheet("color: palette(mid); font-size: 9pt;")
            rl.addWidget(hint)
            widget.setToolTip(f["description"])
            if not f.get("advanced"):
                basic.addRow(f["title"], row)
                continue
            form = groups.get(f["group"])
            if form is None:
                head = QLabel(f"<b>{GROUP_TITLES.get(f['group'], f['group'])}</b>", self.advanced)
                adv.addWidget(head)
                form = QFormLayout()
                adv.addLayout(form)
                groups[f["group"]] = form
            form.addRow(f["title"], row)

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if on else
                                          Qt.ArrowType.RightArrow)

    def _make(self, name: str, f: dict[str, Any]) -> QWidget:
        kind = f["ui"]
        lo, hi = _bounds(name)
        w: QWidget
        if kind == "int":
            sb = QSpinBox(self)
            sb.setRange(int(lo if lo is not None else 0), int(min(hi or 10**7, 2**31 - 1)))
            sb.valueChanged.connect(self.changed)
            w = sb
        elif kind == "float":
            ds = QDoubleSpinBox(self)
            ds.setDecimals(int(f.get("decimals", 3)))
            ds.setRange(lo if lo is not None else 0.0, hi if hi is not None else 1e6)
            ds.setSingleStep(float(f.get("step", 10 ** -ds.decimals() * 10)))
            ds.valueChanged.connect(self.changed)
            w = ds
        elif kind == "bool":
            cb = QCheckBox(self)
            cb.toggled.connect(self.changed)
            w = cb
        elif kind in ("choice", "targets"):
            combo = QComboBox(self)
            combo.addItems(list(TARGET_PRESETS) if kind == "targets" else _choices(name))
            if kind == "targets":
                combo.setEditable(True)
                combo.setToolTip("attention-mlp, attention, all-linear, or layer names "
                                 "separated by commas")
                combo.editTextChanged.connect(self.changed)
            else:
                combo.currentIndexChanged.connect(self.changed)
            w = combo
        else:
            le = QLineEdit(self)
            le.textChanged.connect(self.changed)
            w = le
        w.setObjectName(f"field_{name}")
        return w

    # --- values -------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, w in self.widgets.items():
            if isinstance(w, (QSpinBox, QDoubleSpinBox)):
                out[name] = w.value()
            elif isinstance(w, QCheckBox):
                out[name] = w.isChecked()
            elif isinstance(w, QComboBox):
                out[name] = w.currentText().strip()
            elif isinstance(w, QLineEdit):
                text = w.text().strip()
                out[name] = text or (None if name == "revision" else "")
        return out

    def set_values(self, cfg: TrainingConfig) -> None:
        data = cfg.model_dump()
        for name, w in self.widgets.items():
            v = data.get(name)
            w.blockSignals(True)
            try:
                if isinstance(w, QSpinBox):
                    w.setValue(int(v or 0))
                elif isinstance(w, QDoubleSpinBox):
                    w.setValue(float(v or 0.0))
                elif isinstance(w, QCheckBox):
                    w.setChecked(bool(v))
                elif isinstance(w, QComboBox):
                    text = ", ".join(v) if isinstance(v, list) else str(v)
                    if w.isEditable():
                        w.setEditText(text)
                    else:
                        w.setCurrentIndex(max(0, w.findText(text)))
                elif isinstance(w, QLineEdit):
                    w.setText("" if v is None else str(v))
            finally:
                w.blockSignals(False)
        self.changed.emit()
