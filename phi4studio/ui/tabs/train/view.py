"""Train tab: pick a base model and a dataset split, choose a preset, adjust the form, see the
resolved target modules, trainable parameters and memory estimate, launch; watch the loss,
learning rate, tokens/s and memory live; cancel and resume; compare runs in the history.

State lives in core: TrainingService (actions), RunMonitor (the live run), TrainingConfig (the
form). Nothing here blocks: model inspection runs in a worker thread, data checks and training
are jobs, dialogs are opened (never exec'd), and charts repaint from a 10 Hz timer only when the
run's `version` moved.
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.errors import StudioError
from phi4studio.core.jobs import JobState
from phi4studio.core.training.config import TrainingConfig
from phi4studio.core.training.monitor import RunMonitor
from phi4studio.core.training.prepare import PreflightReport
from phi4studio.core.training.presets import PRESETS, apply_preset, matching_preset
from phi4studio.core.training.service import TrainingPlan, TrainingService
from phi4studio.ui.tabs.train.form import ConfigForm
from phi4studio.ui.tabs.train.history import CurveCache, RunHistoryModel, fmt_duration
from phi4studio.ui.tabs.train.panels import LiveCharts, describe_plan
from phi4studio.ui.tabs.train.pickers import SourcePicker, row
from phi4studio.ui.widgets.loss_chart import PALETTE

log = logging.getLogger(__name__)
TICK_MS = 100


class TrainView(QWidget):
    def __init__(self, service: TrainingService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.monitor: RunMonitor | None = None
        self.plan: TrainingPlan | None = None
        self.report: PreflightReport | None = None
        self._report_key: tuple[Any, ...] | None = None
        self._plan_key: tuple[Any, ...] | None = None
        self._seen_version = -1
        self._plan_gen = 0
        self._pending: set[asyncio.Future[Any]] = set()
        self._history_dirty = False
        self.curves = CurveCache()
        self._plan_timer = QTimer(self)
        self._plan_timer.setSingleShot(True)
        self._plan_timer.setInterval(250)
        self._plan_timer.timeout.connect(self.update_plan)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._build()
        self.form.set_values(TrainingConfig())
        service.add_listener(self._on_run_changed)
        self.refresh_datasets()

    # --- layout -----------------------------------------------------------------------------
    def _build(self) -> None:
        left = QWidget(self)
        ll = QVBoxLayout(left)
        top = QFormLayout()
        self.source = SourcePicker(self.service, left)
        self.source.changed.connect(self._schedule_plan)
        self.source.problem.connect(self._set_warning)
        self.model_combo, self.dataset_combo = self.source.model_combo, self.source.dataset_combo
        self.train_split, self.val_split = self.source.train_split, self.source.val_split
        top.addRow("Base model", self.source.model_row)
        top.addRow("Dataset", self.source.dataset_row)
        top.addRow("Train / validation", self.source.split_row)
        self.preset_combo = QComboBox(left)
        for name, p in PRESETS.items():
            self.preset_combo.addItem(p.title, name)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, p.summary,
                                          Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.addItem("Custom", None)
        self.preset_combo.activated.connect(self._preset_picked)
        top.addRow("Preset", self.preset_combo)
        ll.addLayout(top)
        self.form = ConfigForm(left)
        self.form.changed.connect(self._form_changed)
        ll.addWidget(self.form)
        ll.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(left)

        side = QWidget(self)
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(scroll, 1)
        self.warning = QLabel(side)
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #9a6700;")
        self.warning.hide()
        sl.addWidget(self.warning)
        self.plan_label = QLabel("Choose a base model and a dataset.", side)
        self.plan_label.setObjectName("planLabel")
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextFormat(Qt.TextFormat.RichText)
        self.plan_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        sl.addWidget(self.plan_label)
        self.confirm_row = QWidget(side)
        cl = QHBoxLayout(self.confirm_row)
        cl.setContentsMargins(0, 0, 0, 0)
        self.confirm_label = QLabel(self.confirm_row)
        self.confirm_label.setWordWrap(True)
        self.confirm_label.setStyleSheet("color: #cf222e;")
        self.launch_anyway = QPushButton("Launch anyway", self.confirm_row)
        self.launch_anyway.clicked.connect(lambda: self.launch(allow_invalid=True))
        cl.addWidget(self.confirm_label, 1)
        cl.addWidget(self.launch_anyway)
        self.confirm_row.hide()
        sl.addWidget(self.confirm_row)
        self.check_btn = QPushButton("Check data", side)
        self.check_btn.clicked.connect(self.check_data)
        self.launch_btn = QPushButton("Launch", side)
        self.launch_btn.setObjectName("launch")
        self.launch_btn.clicked.connect(lambda: self.launch())
        self.cancel_btn = QPushButton("Cancel", side)
        self.cancel_btn.clicked.connect(self.cancel)
        self.resume_btn = QPushButton("Resume", side)
        self.resume_btn.clicked.connect(self.resume_selected)
        sl.addWidget(row(self.check_btn, self.launch_btn, self.cancel_btn, self.resume_btn))

        right = QWidget(self)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        self.status_label = QLabel("No run yet.", right)
        self.status_label.setObjectName("runStatus")
        self.progress = QProgressBar(right)
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        rl.addWidget(self.status_label)
        rl.addWidget(self.progress)
        charts = LiveCharts(right)
        self.charts = charts
        self.loss_chart, self.lr_chart, self.tps_chart, self.mem_chart = charts.charts()
        self.history_model = RunHistoryModel(self.service, self)
        self.history = QTableView(right)
        self.history.setObjectName("runHistory")
        self.history.setModel(self.history_model)
        self.history.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.history.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.history.horizontalHeader().setStretchLastSection(True)
        self.history.verticalHeader().hide()
        self.history.selectionModel().selectionChanged.connect(self._history_selected)
        hist_box = QWidget(right)
        hb = QVBoxLayout(hist_box)
        hb.setContentsMargins(0, 0, 0, 0)
        hb.addWidget(self.history, 1)
        self.open_btn = QPushButton("Open folder", hist_box)
        self.open_btn.clicked.connect(self.open_selected_folder)
        self.export_btn = QPushButton("Export this run", hist_box)
        self.export_btn.clicked.connect(self.export_selected)
        self.history_note = QLabel(hist_box)
        hb.addWidget(row(self.open_btn, self.export_btn, self.history_note))
        vsplit = QSplitter(Qt.Orientation.Vertical, right)
        vsplit.addWidget(charts)
        vsplit.addWidget(hist_box)
        vsplit.setStretchFactor(0, 3)
        vsplit.setStretchFactor(1, 2)
        rl.addWidget(vsplit, 1)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(side)
        split.addWidget(right)
        # the form never clips: the side panel is at least as wide as the form needs
        side.setMinimumWidth(left.minimumSizeHint().width()
                             + scroll.verticalScrollBar().sizeHint().width() + 12)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(split)
        self._update_buttons()

    # --- inputs -------------------------------------------------------------------------------
    def set_base_model(self, ref: str) -> None:
        self.source.set_base_model(ref)

    def set_dataset(self, key: str) -> None:
        self.source.set_dataset(key)

    def refresh_datasets(self) -> None:
        self.source.refresh_datasets()

    def _preset_picked(self, i: int) -> None:
        name = self.preset_combo.itemData(i)
        cfg = self.current_config()
        if name and cfg is not None:
            self.form.set_values(apply_preset(cfg, str(name)))

    def _form_changed(self) -> None:
        cfg = self.current_config()
        if cfg is not None:
            preset = matching_preset(cfg)
            self.preset_combo.setCurrentIndex(self.preset_combo.findData(preset))
            self.warning.setVisible(cfg.trust_remote_code)
            self.warning.setText("Trust remote code runs Python code from the model's files "
                                 "with your permissions: only for models you trust.")
        self._schedule_plan()

    def _set_warning(self, text: str) -> None:
        self.warning.setText(text)
        self.warning.setVisible(bool(text))

    def current_config(self) -> TrainingConfig | None:
        values = self.form.values()
        train, val = self.source.splits()
        values.update(base_model=self.source.base_model(), dataset=self.source.dataset_key(),
                      train_split=train, validation_split=val)
        try:
            return TrainingConfig.model_validate(values)
        except ValidationError as exc:
            msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            self.plan_label.setText(f"<span style='color:#cf222e'>{html.escape(msgs)}</span>")
            self.launch_btn.setEnabled(False)
            return None

    # --- plan (resolved modules, parameters, memory) ------------------------------------------
    def _schedule_plan(self, *_: Any) -> None:
        self._plan_timer.start()

    def update_plan(self) -> None:
        cfg = self.current_config()
        if cfg is None:
            return
        if not cfg.base_model:
            self.plan_label.setText("Choose a base model and a dataset.")
            self._update_buttons()
            return
        self._plan_gen += 1
        gen = self._plan_gen
        self._plan_key = self._key(cfg)
        report = self.report if self._report_key == self._plan_key else None
        self.plan_label.setText(f"Reading {html.escape(cfg.base_model)} …")
        loop = asyncio.get_event_loop()
        fut = loop.run_in_executor(None, self.service.plan, cfg, report)
        self._pending.add(fut)
        fut.add_done_callback(lambda f: self._plan_done(gen, f))

    def _plan_done(self, gen: int, fut: asyncio.Future[TrainingPlan]) -> None:
        self._pending.discard(fut)
        if gen != self._plan_gen or fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            self.plan = None
            self.plan_label.setText(f"<span style='color:#cf222e'>{html.escape(str(exc))}</span>")
        else:
            self.plan = fut.result()
            report = self.report if self._report_key == self._plan_key else None
            self.plan_label.setText(describe_plan(self.plan, report))
        self._update_buttons()

    @staticmethod
    def _key(cfg: TrainingConfig) -> tuple[Any, ...]:
        return (cfg.base_model, cfg.dataset, cfg.train_split, cfg.validation_split,
                cfg.max_length, cfg.chat_format)

    # --- actions ------------------------------------------------------------------------------
    def check_data(self) -> None:
        cfg = self.current_config()
        if cfg is None:
            return
        try:
            job = self.service.preflight_job(cfg)
        except (StudioError, ValueError, OSError) as exc:
            self._set_warning(str(exc))
            return
        self.service.studio.queue.submit(job)
        key = self._key(cfg)
        fut = asyncio.ensure_future(self.service.studio.queue.wait(job))
        self._pending.add(fut)

        def done(f: asyncio.Future[JobState]) -> None:
            self._pending.discard(f)
            if job.state is JobState.SUCCEEDED:
                self.report, self._report_key = job.result, key
                self.update_plan()
            elif job.error:
                self._set_warning(job.error)

        fut.add_done_callback(done)

    def launch(self, *, allow_invalid: bool = False) -> RunMonitor | None:
        cfg = self.current_config()
        if cfg is None:
            return None
        self.confirm_row.hide()
        try:
            monitor = self.service.launch(cfg, allow_invalid=allow_invalid)
        except (StudioError, ValueError, OSError) as exc:
            self._set_warning(str(exc))
            return None
        self._set_warning("")
        self.bind(monitor)
        return monitor

    def bind(self, monitor: RunMonitor) -> None:
        """Show this run in the charts and the status line."""
        self.monitor = monitor
        self._seen_version = -1
        self.charts.clear()
        self._history_dirty = True
        self.timer.start()
        self._update_buttons()

    def cancel(self) -> None:
        if self.monitor is not None:
            self.service.cancel(self.monitor.run_id)

    def selected_runs(self) -> list[str]:
        rows = sorted({i.row() for i in self.history.selectionModel().selectedRows()})
        return [self.history_model.rows[r].id for r in rows if r < len(self.history_model.rows)]

    def resume_selected(self) -> None:
        ids = self.selected_runs()
        target = ids[0] if ids else (self.monitor.run_id if self.monitor else None)
        if target is None:
            return
        try:
            monitor = self.service.resume(target)
        except StudioError as exc:
            self._set_warning(str(exc))
            return
        self.bind(monitor)

    def open_selected_folder(self) -> None:
        for rec in self.history_model.rows:
            if rec.id in self.selected_runs()[:1]:
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(rec.path)))

    def export_selected(self) -> None:
        ids = self.selected_runs()
        if not ids:
            return
        try:
            taken = self.service.request_export(ids[0])
        except StudioError as exc:
            self.history_note.setText(str(exc))
            return
        self.history_note.setText("Sent to the Export tab." if taken else
                                  "The Export tab will offer this run when it opens.")

    # --- live updates -------------------------------------------------------------------------
    def _on_run_changed(self, run_id: str) -> None:
        self._history_dirty = True  # coalesced: the table re-reads on the next tick
        if not self.timer.isActive():
            self.timer.start()

    def _tick(self) -> None:
        m = self.monitor
        if m is not None and m.version != self._seen_version:
            self._seen_version = m.version
            self._show_run(m)
        if self._history_dirty:
            self._history_dirty = False
            self._refresh_history()
        if (m is None or not m.active) and not self._history_dirty:
            self.timer.stop()

    def _show_run(self, m: RunMonitor) -> None:
        self.charts.show_run(m)
        eta = f" · ETA {fmt_duration(m.eta_s)}" if m.active and m.eta_s is not None else ""
        self.status_label.setText(f"<b>{html.escape(m.name)}</b> — {html.escape(m.status)}: "
                                  f"{html.escape(m.message)}{eta}")
        self.progress.setValue(int(1000 * m.step / m.total) if m.total else 0)
        if m.blocked_by_validation and not m.active:
            self.confirm_label.setText(m.error or "")
            self.confirm_row.show()
        self._update_buttons()

    def _refresh_history(self) -> None:
        selected = set(self.selected_runs())
        self.history_model.refresh()
        sel = self.history.selectionModel()
        for run_id in selected:
            row = self.history_model.row_of(run_id)
            if row is not None:
                sel.select(self.history_model.index(row, 0),
                           QItemSelectionModel.SelectionFlag.Select
                           | QItemSelectionModel.SelectionFlag.Rows)
        self._update_buttons()

    def _history_selected(self, *_: Any) -> None:
        live = self.monitor.run_id if self.monitor else None
        for name in self.loss_chart.series_names():
            if name.startswith("run: "):
                self.loss_chart.remove_series(name)
        for k, rec in enumerate(r for r in self.history_model.rows
                                if r.id in self.selected_runs() and r.id != live):
            curves = self.curves.get(rec.paths.metrics)
            if curves.get("loss"):
                self.loss_chart.set_series(f"run: {rec.name}", curves["loss"],
                                           PALETTE[(k + 2) % len(PALETTE)])
        self._update_buttons()

    def _update_buttons(self) -> None:
        active = self.monitor is not None and self.monitor.active
        self.cancel_btn.setEnabled(active)
        self.launch_btn.setEnabled(not active and self.plan is not None
                                   and not self.plan.problems)
        ids = set(self.selected_runs()) if hasattr(self, "history") else set()
        rows = [r for r in self.history_model.rows if r.id in ids] if ids else []
        resumable = any(r.resumable for r in rows) or (
            not rows and self.monitor is not None and not active
            and self.monitor.status in ("cancelled", "failed", "interrupted")
            and self.monitor.paths.last_checkpoint() is not None)
        self.resume_btn.setEnabled(resumable and not active)
        self.export_btn.setEnabled(any(r.status in ("completed", "early-stopped") for r in rows))
        self.open_btn.setEnabled(bool(rows))

    def shutdown(self) -> None:
        """Stop timers and listeners (the window is closing)."""
        self.timer.stop()
        self._plan_timer.stop()
        self.service.remove_listener(self._on_run_changed)
        for fut in list(self._pending):
            fut.cancel()
