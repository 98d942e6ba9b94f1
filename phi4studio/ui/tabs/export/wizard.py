"""The export wizard's Qt pages. Navigation, choices, refusals and the summary all come from
core/export/wizard.py (ExportWizard); these widgets render them and pass the user's input on.

Options that are not possible stay visible, disabled, with the reason next to them (INT4 and the
swappable adapter, DirectML and adapters, ...). GPTQ/AWQ are listed only where there is a GPU.
File dialogs open with open() (never exec()).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.errors import StudioError
from phi4studio.core.export import ExportPlan, ExportService, ExportWizard, Page
from phi4studio.core.export.plan import ACCURACY_LEVELS, BLOCK_SIZES, Choice
from phi4studio.core.export.wizard import TITLES

REASON_STYLE = "color: palette(mid); margin-left: 22px;"


def _label(text: str, parent: QWidget, style: str = "") -> QLabel:
    lab = QLabel(text, parent)
    lab.setWordWrap(True)
    if style:
        lab.setStyleSheet(style)
    return lab


class ChoiceList(QWidget):
    """Radio buttons for a list of Choice; unavailable ones disabled, with their reason."""

    def __init__(self, on_pick: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.on_pick = on_pick
        self.group = QButtonGroup(self)
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.buttons: dict[str, QRadioButton] = {}
        self.reasons: dict[str, QLabel] = {}

    def show_choices(self, choices: list[Choice], current: str) -> None:
        while self.lay.count():
            item = self.lay.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.deleteLater()
        self.buttons, self.reasons = {}, {}
        self.group = QButtonGroup(self)
        for c in choices:
            b = QRadioButton(c.label, self)
            b.setEnabled(c.available)
            b.setChecked(c.value == current)
            b.toggled.connect(lambda on, v=c.value: on and self.on_pick(v))
            self.group.addButton(b)
            self.lay.addWidget(b)
            self.buttons[c.value] = b
            text = c.reason if not c.available else c.note
            if text:
                lab = _label(("Not offered: " if not c.available else "") + text, self,
                             REASON_STYLE)
                self.lay.addWidget(lab)
                self.reasons[c.value] = lab
        self.lay.addStretch(1)


class WizardWidget(QWidget):
    """finished(plan): the user pressed Export on the summary; cancelled(): they gave up."""

    finished = Signal(object)
    cancelled = Signal()

    def __init__(self, service: ExportService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.wiz: ExportWizard = service.wizard()
        self._rendering = False
        self.title = QLabel(self)
        self.steps = _label("", self, "color: palette(mid);")
        self.stack = QStackedWidget(self)
        self.pages: dict[Page, QWidget] = {}
        for page, build in ((Page.SOURCE, self._source_page), (Page.TARGET, self._target_page),
                            (Page.PRECISION, self._precision_page),
                            (Page.STRATEGY, self._strategy_page),
                            (Page.OUTPUT, self._output_page), (Page.SUMMARY, self._summary_page)):
            w = build()
            self.pages[page] = w
            self.stack.addWidget(w)
        self.findings = _label("", self)
        self.back_button = QPushButton("Back", self)
        self.next_button = QPushButton("Next", self)
        self.export_button = QPushButton("Export", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.back_button.clicked.connect(self.back)
        self.next_button.clicked.connect(self.next)
        self.export_button.clicked.connect(self.accept)
        self.cancel_button.clicked.connect(self.cancelled.emit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        for b in (self.back_button, self.next_button, self.export_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.steps)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.findings)
        lay.addLayout(buttons)

    # --- lifecycle ----------------------------------------------------------------------------
    def restart(self, source: Any = None) -> None:
        self.wiz = self.service.wizard(source)
        self._fill_runs()
        self._fill_datasets()
        self.refresh()

    def back(self) -> None:
        if self.wiz.can_back:
            self.wiz.back()
            self.refresh()

    def next(self) -> None:
        if self.wiz.can_next():
            self.wiz.next()
            self.refresh()

    def accept(self) -> None:
        try:
            plan: ExportPlan = self.wiz.finish()
        except (StudioError, RuntimeError) as exc:
            self.findings.setText(str(exc))
            return
        self.finished.emit(plan)

    # --- rendering ----------------------------------------------------------------------------
    def refresh(self) -> None:
        self._rendering = True
        try:
            w = self.wiz
            self.title.setText(f"<h3>{TITLES[w.page]}</h3>")
            path = w.path()
            self.steps.setText("  ›  ".join(
                f"<b>{TITLES[p]}</b>" if p is w.page else TITLES[p] for p in path))
            self.stack.setCurrentWidget(self.pages[w.page])
            getattr(self, f"_render_{w.page.value}")()
            self._render_findings()
            self.back_button.setEnabled(w.can_back)
            self.next_button.setVisible(not w.is_last)
            self.next_button.setEnabled(w.can_next())
            self.export_button.setVisible(w.is_last)
            self.export_button.setEnabled(w.can_finish())
        finally:
            self._rendering = False

    def _render_findings(self) -> None:
        f = self.wiz.page_findings()
        lines = [f"<span style='color:#c62828'>{x}</span>" for x in f.blocking]
        if self.wiz.page is not Page.SUMMARY:
            lines += [f"<span style='color:#b26a00'>{x}</span>" for x in f.warnings]
        lines += [f"<i>{n}</i>" for n in self.wiz.notes[-2:]]
        self.findings.setText("<br>".join(lines))
        ask = next((x for x in f.blocking if x.code == "output_not_empty"), None)
        self.use_free.setVisible(ask is not None)
        if ask is not None and ask.suggestion:
            self.use_free.setText(f"Use {Path(ask.suggestion).name}")

    def _apply(self, fn: Callable[[], Any]) -> None:
        """Pass a user change to the core wizard, then re-render (errors shown, not raised)."""
        if self._rendering:
            return
        try:
            fn()
        except (ValueError, StudioError) as exc:
            self.findings.setText(str(exc))
            return
        self.refresh()

    # --- source -------------------------------------------------------------------------------
    def _source_page(self) -> QWidget:
        w = QWidget(self)
        self.run_combo = QComboBox(w)
        self.run_combo.currentIndexChanged.connect(self._run_picked)
        self.path_edit = QLineEdit(w)
        self.path_edit.setPlaceholderText("a Hugging Face model folder, a run folder or a .gguf")
        self.path_edit.editingFinished.connect(self._path_entered)
        browse = QPushButton("Browse…", w)
        browse.clicked.connect(self._browse_source)
        self.source_info = _label("", w)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        form = QFormLayout(w)
        form.addRow("Training run", self.run_combo)
        form.addRow("or a model", row)
        form.addRow(self.source_info)
        return w

    def _fill_runs(self) -> None:
        self._rendering = True
        self.run_combo.clear()
        self.run_combo.addItem("(choose a run)", None)
        for run in self.service.runs():
            self.run_combo.addItem(f"{run['name']} · {run.get('status', '')}", run["id"])
        self._rendering = False

    def _run_picked(self) -> None:
        run_id = self.run_combo.currentData()
        if run_id:
            self._apply(lambda: self.wiz.set_source(self.service.source_spec(run_id)))

    def _path_entered(self) -> None:
        text = self.path_edit.text().strip()
        if text:
            self._apply(lambda: self.wiz.set_source(self.service.source_spec(text)))

    def _browse_source(self) -> None:
        dlg = QFileDialog(self, "Model folder")
        dlg.setFileMode(QFileDialog.FileMode.Directory)
        dlg.fileSelected.connect(self._source_chosen)
        dlg.open()

    def _source_chosen(self, path: str) -> None:
        self.path_edit.setText(path)
        self._path_entered()

    def _render_source(self) -> None:
        info = self.wiz.source_info
        if info is None:
            self.source_info.setText("")
            return
        self.source_info.setText("<br>".join([info.describe(), *info.notes]))
        if info.kind != "run":
            self.path_edit.setText(str(info.path))

    # --- target, precision, strategy ----------------------------------------------------------
    def _target_page(self) -> QWidget:
        self.targets = ChoiceList(lambda v: self._apply(lambda: self.wiz.set_target(v)), self)
        return self.targets

    def _render_target(self) -> None:
        self.targets.show_choices(self.wiz.choices(Page.TARGET), self.wiz.draft.target)

    def _precision_page(self) -> QWidget:
        w = QWidget(self)
        self.precisions = ChoiceList(lambda v: self._apply(lambda: self.wiz.set_precision(v)), w)
        self.int4_box = QGroupBox("INT4 / INT8 quantization", w)
        self.algo_combo = QComboBox(self.int4_box)
        self.algo_combo.currentIndexChanged.connect(
            lambda: self._apply(lambda: self.wiz.set_int4(algo=self.algo_combo.currentData())))
        self.block_combo = QComboBox(self.int4_box)
        for b in BLOCK_SIZES:
            self.block_combo.addItem(str(b), b)
        self.block_combo.currentIndexChanged.connect(
            lambda: self._apply(lambda: self.wiz.set_int4(
                block_size=self.block_combo.currentData())))
        self.level_combo = QComboBox(self.int4_box)
        for lv, text in zip(ACCURACY_LEVELS, ("default", "1 (fp32)", "2 (fp16)", "3 (bf16)",
                                              "4 (int8)"), strict=True):
            self.level_combo.addItem(text, lv)
        self.level_combo.currentIndexChanged.connect(
            lambda: self._apply(lambda: self.wiz.set_int4(
                accuracy_level=self.level_combo.currentData())))
        self.calib_combo = QComboBox(self.int4_box)
        self.calib_combo.currentIndexChanged.connect(
            lambda: self._apply(lambda: self.wiz.set_int4(
                calibration_dataset=self.calib_combo.currentData() or "")))
        self.algo_note = _label("", self.int4_box, REASON_STYLE)
        form = self.int4_form = QFormLayout(self.int4_box)
        form.addRow("Algorithm", self.algo_combo)
        form.addRow(self.algo_note)
        form.addRow("Block size", self.block_combo)
        form.addRow("Accuracy level", self.level_combo)
        form.addRow("Calibration data", self.calib_combo)
        lay = QVBoxLayout(w)
        lay.addWidget(self.precisions)
        lay.addWidget(self.int4_box)
        lay.addStretch(1)
        return w

    def _render_precision(self) -> None:
        d = self.wiz.draft
        self.precisions.show_choices(self.wiz.choices(Page.PRECISION), d.precision)
        self.int4_box.setVisible(d.precision in ("int4", "int8"))
        algos = self.wiz.int4_algos()
        self.algo_combo.clear()
        for c in algos:
            self.algo_combo.addItem(c.label, c.value)
            if not c.available:  # disabled, with the reason as its tooltip
                item = self.algo_combo.model().item(self.algo_combo.count() - 1)  # type: ignore[attr-defined]
                item.setEnabled(False)
                item.setToolTip(c.reason)
        self.algo_combo.setCurrentIndex(max(0, self.algo_combo.findData(d.int4.algo)))
        self.algo_combo.setEnabled(d.precision == "int4")
        current = next((c for c in algos if c.value == d.int4.algo), None)
        self.algo_note.setText(current.note if current else "")
        self.int4_form.setRowVisible(self.algo_note, bool(self.algo_note.text()))
        self.block_combo.setCurrentIndex(self.block_combo.findData(d.int4.block_size))
        self.level_combo.setCurrentIndex(self.level_combo.findData(d.int4.accuracy_level))
        gpu_algo = d.precision == "int4" and d.int4.algo in ("gptq", "awq")
        self.int4_form.setRowVisible(self.calib_combo, gpu_algo)
        i = self.calib_combo.findData(d.int4.calibration_dataset)
        self.calib_combo.setCurrentIndex(max(0, i))

    def _strategy_page(self) -> QWidget:
        self.strategies = ChoiceList(lambda v: self._apply(lambda: self.wiz.set_strategy(v)),
                                     self)
        return self.strategies

    def _render_strategy(self) -> None:
        self.strategies.show_choices(self.wiz.choices(Page.STRATEGY), self.wiz.draft.strategy)

    # --- output and verification --------------------------------------------------------------
    def _output_page(self) -> QWidget:
        w = QWidget(self)
        self.name_edit = QLineEdit(w)
        self.name_edit.editingFinished.connect(
            lambda: self._apply(lambda: self.wiz.set_name(self.name_edit.text().strip())))
        self.out_edit = QLineEdit(w)
        self.out_edit.editingFinished.connect(
            lambda: self._apply(lambda: self.wiz.set_output(self.out_edit.text().strip())))
        browse = QPushButton("Browse…", w)
        browse.clicked.connect(self._browse_output)
        self.use_free = QPushButton("Use a new folder", w)
        self.use_free.setVisible(False)
        self.use_free.clicked.connect(lambda: self._apply(self.wiz.use_suggested_output))
        row = QHBoxLayout()
        row.addWidget(self.out_edit, 1)
        row.addWidget(browse)
        row.addWidget(self.use_free)
        box = QGroupBox("Verification against the PyTorch model", w)
        self.verify_check = QCheckBox("Verify the export (recommended)", box)
        self.verify_check.toggled.connect(
            lambda on: self._apply(lambda: self.wiz.set_verify(enabled=on)))
        self.prompts_spin = QSpinBox(box)
        self.prompts_spin.setRange(1, 64)
        self.prompts_spin.valueChanged.connect(
            lambda v: self._apply(lambda: self.wiz.set_verify(prompts=v)))
        self.tokens_spin = QSpinBox(box)
        self.tokens_spin.setRange(1, 512)
        self.tokens_spin.valueChanged.connect(
            lambda v: self._apply(lambda: self.wiz.set_verify(max_new_tokens=v)))
        self.threshold_spin = QDoubleSpinBox(box)
        self.threshold_spin.setRange(0, 100)
        self.threshold_spin.setSuffix(" %")
        self.threshold_spin.valueChanged.connect(
            lambda v: self._apply(lambda: self.wiz.set_verify(threshold=v / 100)))
        self.dataset_combo = QComboBox(box)
        self.dataset_combo.currentIndexChanged.connect(
            lambda: self._apply(lambda: self.wiz.set_verify(
                dataset=self.dataset_combo.currentData())))
        vform = QFormLayout(box)
        vform.addRow(self.verify_check)
        vform.addRow("Prompts", self.prompts_spin)
        vform.addRow("Tokens per answer", self.tokens_spin)
        vform.addRow("Flag below", self.threshold_spin)
        vform.addRow("Prompts from", self.dataset_combo)
        form = QFormLayout(w)
        form.addRow("Name", self.name_edit)
        form.addRow("Output folder", row)
        form.addRow(box)
        return w

    def _fill_datasets(self) -> None:
        self._rendering = True
        for combo, first in ((self.dataset_combo, "built-in tool-calling prompts"),
                             (self.calib_combo, "(choose a dataset)")):
            combo.clear()
            combo.addItem(first, None)
            for ds in self.service.datasets():
                combo.addItem(f"{ds['name']} (test split)" if combo is self.dataset_combo
                              else ds["name"], ds["id"])
        self._rendering = False

    def _browse_output(self) -> None:
        dlg = QFileDialog(self, "Output folder")
        dlg.setFileMode(QFileDialog.FileMode.Directory)
        dlg.fileSelected.connect(lambda p: self._apply(lambda: self.wiz.set_output(p)))
        dlg.open()

    def _render_output(self) -> None:
        d = self.wiz.draft
        self.name_edit.setText(d.name)
        self.out_edit.setText(d.output_dir)
        v = d.verify
        self.verify_check.setChecked(v.enabled)
        self.prompts_spin.setValue(v.prompts)
        self.tokens_spin.setValue(v.max_new_tokens)
        self.threshold_spin.setValue(v.threshold * 100)
        self.dataset_combo.setCurrentIndex(max(0, self.dataset_combo.findData(v.dataset)))
        for w in (self.prompts_spin, self.tokens_spin, self.threshold_spin, self.dataset_combo):
            w.setEnabled(v.enabled)

    # --- summary ------------------------------------------------------------------------------
    def _summary_page(self) -> QWidget:
        self.summary = QPlainTextEdit(self)
        self.summary.setReadOnly(True)
        return self.summary

    def _render_summary(self) -> None:
        try:
            self.summary.setPlainText("\n".join(self.wiz.summary()))
        except ValueError as exc:
            self.summary.setPlainText(str(exc))
