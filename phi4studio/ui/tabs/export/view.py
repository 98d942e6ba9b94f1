"""Export tab: the list of exports (precision, target, size, verification figures) and the
export wizard. Binds ExportService (core/export/service.py); exports run as jobs in the Jobs dock.

"Open in Playground" publishes an OpenModelRequest on the Studio's handoff (core/handoff.py);
the Playground takes it. Dialogs open with open() and answer through `finished`.
"""

from __future__ import annotations

import weakref
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.errors import StudioError
from phi4studio.core.export import (
    ExportJob,
    ExportPlan,
    ExportRecord,
    ExportService,
    SourceSpec,
    human_bytes,
)
from phi4studio.core.studio import Studio
from phi4studio.ui.tabs.export.qmodels import ExportsModel
from phi4studio.ui.tabs.export.wizard import WizardWidget


class ExportView(QWidget):
    def __init__(self, studio: Studio, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio = studio
        self.service = ExportService(studio)
        self.model = ExportsModel(self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self._list_page())
        self.wizard = WizardWidget(self.service, self)
        self.wizard.finished.connect(self.start_export)
        self.wizard.cancelled.connect(self.show_list)
        self.stack.addWidget(self.wizard)
        lay = QVBoxLayout(self)
        lay.addWidget(self.stack)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(150)
        self._refresh_timer.timeout.connect(self.refresh)
        self.dialog: QMessageBox | None = None
        self._probe: Any = None
        ref = weakref.ref(self)

        def listener(what: str, job: Any) -> None:
            view = ref()
            if view is not None:
                view._on_queue(what, job)

        studio.queue.add_listener(listener)
        self.destroyed.connect(lambda *_: studio.queue.remove_listener(listener))
        self.refresh()
        # "Export this run" from the Train tab (core/training/service.py, through the handoff)
        from phi4studio.core.training.service import ExportRunRequest

        studio.handoff.subscribe(ExportRunRequest, self.export_run)

    # --- layout -------------------------------------------------------------------------------
    def _list_page(self) -> QWidget:
        w = QWidget(self)
        self.new_button = QPushButton("New export…", w)
        self.new_button.clicked.connect(lambda: self.show_wizard())
        self.open_button = QPushButton("Open in Playground", w)
        self.open_button.clicked.connect(self.open_in_playground)
        self.reveal_button = QPushButton("Show in folder", w)
        self.reveal_button.clicked.connect(self.reveal)
        self.delete_button = QPushButton("Delete…", w)
        self.delete_button.clicked.connect(self.ask_delete)
        top = QHBoxLayout()
        top.addWidget(QLabel("<h3>Exports</h3>", w))
        top.addStretch(1)
        for b in (self.new_button, self.open_button, self.reveal_button, self.delete_button):
            top.addWidget(b)
        self.table = QTableView(w)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _i: self.open_in_playground())
        self.details = QLabel(w)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.status = QLabel(w)
        self.status.setWordWrap(True)
        self.empty = QLabel("No exports yet. <b>New export…</b> turns a training run or a model "
                            "folder into an ONNX Runtime GenAI model, verified against PyTorch.",
                            w)
        self.empty.setWordWrap(True)
        lay = QVBoxLayout(w)
        lay.addLayout(top)
        lay.addWidget(self.empty)
        lay.addWidget(self.table, 3)
        lay.addWidget(self.details, 1)
        lay.addWidget(self.status)
        return w

    # --- list ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        current = self.selected()
        self.model.set_records(self.service.records())
        self.empty.setVisible(not self.model.records)
        if current is not None:
            self.select(current.id)
        self._selection_changed()

    def select(self, export_id: str) -> None:
        row = self.model.row_of(export_id)
        if row >= 0:
            self.table.selectionModel().select(
                self.model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)

    def selected(self) -> ExportRecord | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.model.record(rows[0].row()) if rows else None

    def _selection_changed(self, *_: Any) -> None:
        r = self.selected()
        self.open_button.setEnabled(r is not None and r.usable)
        self.reveal_button.setEnabled(r is not None and r.path.exists())
        running = r is not None and r.status in ("queued", "running")
        self.delete_button.setEnabled(r is not None and not running)
        self.details.setText(self._describe(r) if r is not None else "")

    @staticmethod
    def _describe(r: ExportRecord) -> str:
        v = r.verification
        lines = [f"<b>{r.name}</b> — {r.recipe}", f"Folder: {r.path}"]
        src = r.meta.get("source") or {}
        if src:
            lines.append(f"Source: {src.get('label', '')} ({src.get('path', '')})")
        if r.adapters:
            lines.append("Adapters: " + ", ".join(f"{n} ({p.name})" for n, p in
                                                   r.adapters.items()))
        if r.size_bytes:
            lines.append(f"Size on disk: {human_bytes(r.size_bytes)}")
        if v.get("token_agreement") is not None:
            variants = v.get("by_variant") or {}
            by = ", ".join(f"{k} {a:.1%}" for k, a in variants.items()) if len(variants) > 1 \
                else ""
            lines.append(f"Verification {v['status']}: token agreement "
                         f"{v['token_agreement']:.1%} ({v.get('exact_prompts')}/"
                         f"{v.get('prompts')} answers identical{'; ' + by if by else ''}), "
                         f"load {v.get('load_s') or 0:.2f} s, "
                         f"{v.get('decode_tokens_per_s') or 0:.0f} tokens/s on "
                         f"{v.get('provider')}")
        elif v.get("message"):
            lines.append(f"Verification {v.get('status')}: {v['message']}")
        if v.get("advice"):
            lines.append(f"<span style='color:#b26a00'>{v['advice']}</span>")
        if r.meta.get("error"):
            lines.append(f"<span style='color:#c62828'>{r.meta['error']}</span>")
        if r.status == "interrupted":
            lines.append("The app stopped while this export ran: it is incomplete.")
        return "<br>".join(lines)

    def _on_queue(self, what: str, job: Any) -> None:
        if isinstance(job, ExportJob) and what in ("state", "added"):
            self._refresh_timer.start()
        elif job is not None and job is self._probe and what == "state" and job.state.finished:
            self.wizard.wiz.env.caps = self.service.capabilities()
            self.wizard.refresh()

    # --- actions ------------------------------------------------------------------------------
    def show_wizard(self, source: Any = None) -> None:
        self.wizard.restart(source)
        self.stack.setCurrentWidget(self.wizard)
        self._probe_export_runtime()

    def _probe_export_runtime(self) -> None:
        """With a CUDA training runtime, ask it what else it has (AutoAWQ for AWQ); the wizard's
        options follow when the answer comes."""
        cuda = ((self.studio.runtime_info or {}).get("cuda") or {}).get("available")
        if not cuda or self.service.export_runtime is not None or self._probe is not None:
            return
        self._probe = self.service.probe_job()
        if self._probe is not None:
            self.studio.queue.submit(self._probe)

    def export_run(self, request: Any) -> None:
        """Open the wizard on a training run handed over by the Train tab."""
        spec = SourceSpec(kind="run", path=str(request.run_dir), run_id=str(request.run_id))
        self.show_wizard(spec)
        w = self.parentWidget()
        while w is not None and not isinstance(w, QTabWidget):
            w = w.parentWidget()
        if isinstance(w, QTabWidget) and w.indexOf(self) >= 0:
            w.setCurrentWidget(self)

    def show_list(self) -> None:
        self.stack.setCurrentIndex(0)
        self.refresh()

    def start_export(self, plan: ExportPlan) -> ExportJob | None:
        try:
            job = self.service.submit(plan)
        except StudioError as exc:
            self.wizard.findings.setText(str(exc))
            return None
        self.show_list()
        self.select(job.export_id)
        self.status.setText(f"Export {plan.name} started: follow it in the Jobs dock.")
        return job

    def open_in_playground(self) -> None:
        r = self.selected()
        if r is None:
            return
        try:
            taken = self.service.open_in_playground(r)
        except StudioError as exc:
            self.status.setText(str(exc))
            return
        self.status.setText(f"{r.name} opened in the Playground." if taken else
                            f"{r.name} will open when the Playground is available.")

    def reveal(self) -> None:
        r = self.selected()
        if r is not None and r.path.exists():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(r.path)))

    def ask_delete(self) -> None:
        r = self.selected()
        if r is None:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Delete export",
                          f"Delete the export {r.name} and its folder {r.path}?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                          self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda result: self._delete_answered(r, result))
        self.dialog = box
        box.open()

    def _delete_answered(self, r: ExportRecord, result: int) -> None:
        self.dialog = None
        if result != QMessageBox.StandardButton.Yes:
            return
        try:
            self.service.delete(r)
        except (StudioError, OSError) as exc:
            self.status.setText(str(exc))
        else:
            self.status.setText(f"Deleted {r.name}.")
        self.refresh()
