"""Datasets tab: datasets (left), the filtered virtual table with validation and coverage under it
(centre), the conversation editor (right). Long work runs as jobs; the UI thread never waits.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QHideEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.query import NONE, VALIDITY_VALUES, ExampleFilter
from phi4studio.core.datasets.schema import SCENARIOS, SPLITS
from phi4studio.core.datasets.store import DatasetStore, StoreEvent
from phi4studio.core.datasets.tokens import TokenOptions
from phi4studio.core.datasets.workflows import coverage_job, summarize_job, validate_job
from phi4studio.core.jobs import Job, JobState
from phi4studio.core.studio import Studio
from phi4studio.ui.tabs.datasets.editor import ExampleEditor
from phi4studio.ui.tabs.datasets.list_panel import DatasetListPanel
from phi4studio.ui.tabs.datasets.panels import CoveragePanel, ValidationPanel
from phi4studio.ui.tabs.datasets.qmodels import COL_PREVIEW, COLUMNS, ExampleTableModel
from phi4studio.ui.tabs.datasets.versions_panel import VersionsController

SEARCH_DEBOUNCE_MS = 250
PANELS_DEBOUNCE_MS = 300


def _combo(items: list[tuple[str, str | None]], tip: str, parent: QWidget) -> QComboBox:
    c = QComboBox(parent)
    for text, data in items:
        c.addItem(text, data)
    c.setToolTip(tip)
    return c


class DatasetsView(QWidget):
    def __init__(self, studio: Studio, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio = studio
        self.library = studio.library
        self.dataset_id: str | None = None
        self.store: DatasetStore | None = None
        self._thread = threading.get_ident()
        self._stepped: tuple[str, ...] | None = ()  # ids the last undo/redo touched
        self.import_wizard: Any = None
        self.dialog: Any = None

        self.list_panel = DatasetListPanel(self.library, self)
        self.list_panel.selected.connect(self.open_dataset)
        self.list_panel.status.connect(self.say)

        # filter bar + table
        self.scenario_filter = _combo([("All scenarios", None), *((s, s) for s in SCENARIOS),
                                       ("(not set)", NONE)], "Scenario", self)
        self.split_filter = _combo([("All splits", None), *((s, s) for s in SPLITS),
                                    ("(no split)", NONE)], "Split", self)
        self.tool_filter = _combo([("All tools", None)], "Tool offered or called", self)
        self.validity_filter = _combo([("Any validity", None),
                                       *((v, v) for v in VALIDITY_VALUES)],
                                      "Validation state", self)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search text, tool names, argument values…")
        self.search.setClearButtonEnabled(True)
        self.count_label = QLabel(self)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        for c in (self.scenario_filter, self.split_filter, self.tool_filter,
                  self.validity_filter):
            c.currentIndexChanged.connect(lambda _i: self.apply_filter())
        bar = QHBoxLayout()
        for w in (self.scenario_filter, self.split_filter, self.tool_filter,
                  self.validity_filter):
            bar.addWidget(w)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.count_label)

        self.model = ExampleTableModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        vh = self.table.verticalHeader()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row sizing: 100k is fine
        vh.setDefaultSectionSize(self.fontMetrics().height() + 6)
        vh.hide()
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(True)
        for col, w in enumerate((110, 110, 70, 140, 44, 80)):
            self.table.setColumnWidth(col, w)
        assert len(COLUMNS) == COL_PREVIEW + 1
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)

        self.validation = ValidationPanel(self)
        self.validation.activated.connect(self.jump_to)
        self.validation.validate_requested.connect(self.validate)
        self.coverage = CoveragePanel(self)
        self.coverage.report_requested.connect(self.coverage_report)
        self.versions = VersionsController(self)
        self.bottom = QTabWidget(self)
        self.bottom.addTab(self.validation, "Validation")
        self.bottom.addTab(self.coverage, "Coverage")
        self.bottom.addTab(self.versions.panel, "Versions")
        self.bottom.currentChanged.connect(lambda _i: self._panels_timer.start())
        self._panels_timer = QTimer(self)
        self._panels_timer.setSingleShot(True)
        self._panels_timer.setInterval(PANELS_DEBOUNCE_MS)
        self._panels_timer.timeout.connect(self.load_panels)

        centre = QWidget(self)
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addLayout(bar)
        vsplit = QSplitter(Qt.Orientation.Vertical, centre)
        vsplit.addWidget(self.table)
        vsplit.addWidget(self.bottom)
        vsplit.setStretchFactor(0, 3)
        vsplit.setStretchFactor(1, 1)
        cl.addWidget(vsplit, 1)

        self.editor = ExampleEditor(self)
        self.editor.status.connect(self.say)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.list_panel)
        split.addWidget(centre)
        split.addWidget(self.editor)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 2)
        split.setSizes([230, 640, 430])
        self.toolbar = self._toolbar()
        self.status_label = QLabel(self)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.toolbar)
        lay.addWidget(split, 1)
        lay.addWidget(self.status_label)

        self.library.add_listener(self._library_event)
        studio.queue.add_listener(self._queue_event)
        self.list_panel.reload()
        self._update_actions()

    # --- toolbar -----------------------------------------------------------------------------
    def _toolbar(self) -> QToolBar:
        from phi4studio.ui.tabs.datasets import dialogs

        tb = QToolBar(self)
        tb.addAction("New dataset…", self.list_panel.new_dataset)
        self.act_import = tb.addAction("Import…", self.show_import)
        tb.addSeparator()
        self.act_validate = tb.addAction("Validate", self.validate)
        self.act_synth = tb.addAction("Synthesize…", lambda: dialogs.show_synthesis(self))
        self.act_split = tb.addAction("Split…", lambda: dialogs.show_split(self))
        self.act_export = tb.addAction("Export…", lambda: dialogs.show_export(self))
        tb.addSeparator()
        self.act_undo = QAction("Undo", self)
        self.act_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.act_redo = QAction("Redo", self)
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for act, fn in ((self.act_undo, self.undo), (self.act_redo, self.redo)):
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(fn)
            self.addAction(act)
            tb.addAction(act)
        return tb

    def _update_actions(self) -> None:
        st, busy = self.store, self.library.busy(self.dataset_id)
        has = st is not None
        for act in (self.act_validate, self.act_synth, self.act_split, self.act_export):
            act.setEnabled(has)
        self.act_synth.setEnabled(True)
        self.act_split.setEnabled(has and busy is None)
        job_undo = self.versions.pending_undo()
        can_undo = st is not None and (st.can_undo or job_undo is not None)
        self.act_undo.setEnabled(has and busy is None and can_undo)
        self.act_redo.setEnabled(has and busy is None and st is not None and st.can_redo)
        self.act_undo.setText(f"Undo {st.undo_label}" if st is not None and st.can_undo
                              else f"Undo {job_undo}" if job_undo else "Undo")
        self.act_redo.setText(f"Redo {st.redo_label}" if st is not None and st.can_redo
                              else "Redo")
        self.editor.set_read_only(busy is not None, f"{busy.name} is running" if busy else "")

    def say(self, text: str) -> None:
        self.status_label.setText(text)

    # --- datasets ----------------------------------------------------------------------------
    def open_dataset(self, dataset_id: str | None) -> None:
        if dataset_id == self.dataset_id and self.store is not None:
            return
        self.editor.flush()
        self.dataset_id = dataset_id
        self.versions.forget()
        self._watch(None)
        try:
            self._watch(self.library.store(dataset_id) if dataset_id else None)
        except DatasetError as exc:
            self.say(str(exc))
        self._fill_tools()
        self._reset_filters()
        self._load_tokens()
        self.model.set_source(self.store, self._filter())
        self._show_count()
        self.editor.load(self.store, None)
        self._update_actions()
        self._panels_timer.start()
        if self.model.total():
            self.table.selectRow(0)

    def _fill_tools(self) -> None:
        self.tool_filter.blockSignals(True)
        self.tool_filter.clear()
        self.tool_filter.addItem("All tools", None)
        if self.store is not None:
            for name, (offered, called) in self.store.tool_counts().items():
                self.tool_filter.addItem(f"{name} ({called}/{offered})", name)
        self.tool_filter.blockSignals(False)

    def _reset_filters(self) -> None:
        for c in (self.scenario_filter, self.split_filter, self.validity_filter):
            c.blockSignals(True)
            c.setCurrentIndex(0)
            c.blockSignals(False)
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)

    # --- table -------------------------------------------------------------------------------
    def _filter(self) -> ExampleFilter:
        return ExampleFilter(
            scenario=self.scenario_filter.currentData(), split=self.split_filter.currentData(),
            tool=self.tool_filter.currentData(), validity=self.validity_filter.currentData(),
            text=self.search.text().strip() or None,
        )

    def apply_filter(self) -> None:
        self._search_timer.stop()
        keep = self.editor.example_id
        self.editor.flush()
        self.model.set_filter(self._filter())
        self._show_count()
        row = self.model.row_of_id(keep) if keep else None
        if row is not None:
            self._select_row(row)
        elif self.model.total():
            self.table.selectRow(0)
        else:
            self.editor.load(self.store, None)

    def _show_count(self) -> None:
        total = 0
        if self.dataset_id is not None and self.store is not None:
            total = self.library.get(self.dataset_id).n_examples  # kept in sync: no COUNT(*)
        shown = self.model.total()
        self.count_label.setText(f"{shown:,} of {total:,}" if shown != total else f"{total:,}")

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        ex_id = self.model.example_id(current.row()) if current.isValid() else None
        if ex_id != self.editor.example_id:
            self.editor.load(self.store, ex_id)

    def _select_row(self, row: int) -> None:
        idx = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            idx, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(idx, QAbstractItemView.ScrollHint.PositionAtCenter)

    def select_example(self, example_id: str) -> bool:
        """Select an example in the table (clearing the filters when they hide it)."""
        row = self.model.row_of_id(example_id)
        if row is None and self.store is not None and example_id in self.store:
            self._reset_filters()
            self.tool_filter.setCurrentIndex(0)
            self.model.set_filter(self._filter())
            self._show_count()
            row = self.model.row_of_id(example_id)
        if row is None:
            return False
        self._select_row(row)
        if self.editor.example_id != example_id:
            self.editor.load(self.store, example_id)
        return True

    def jump_to(self, example_id: str, path: str) -> None:
        if self.select_example(example_id):
            self.editor.focus_path(path)

    # --- store events ------------------------------------------------------------------------
    def _watch(self, store: DatasetStore | None) -> None:
        """Follow this store's own events (edits made here: the editor, undo, quick edits)."""
        if self.store is not None:
            self.store.remove_listener(self._store_event)
        self.store = store
        if store is not None:
            store.add_listener(self._store_event)

    def _store_event(self, ev: StoreEvent) -> None:
        """Only the rows an edit touched are re-read and repainted (a job's work arrives as a
        library "dataset" event when it ends, and refreshes the whole table)."""
        if threading.get_ident() != self._thread or self.store is None:
            return
        if ev.kind in ("undo", "redo"):
            self._stepped = ev.ids
        if ev.ids is None:
            self.model.refresh()
        else:
            self.model.refresh_rows(ev.ids)
        shown = self.editor.example_id
        if shown is not None and (ev.ids is None or shown in ev.ids) \
                and not self.editor.saving and not self.editor.dirty:
            self.editor.reload()
        self._show_count()
        self._panels_timer.start()
        self._update_actions()

    # --- undo / redo -------------------------------------------------------------------------
    def undo(self) -> None:
        self._step(undo=True)

    def redo(self) -> None:
        self._step(undo=False)

    def _step(self, *, undo: bool) -> None:
        """Undo/redo the last edit of this session and select the example it touched."""
        st = self.store
        if st is None or self.library.busy(self.dataset_id) is not None:
            return
        self.editor.flush()
        self._stepped = ()
        if undo and not st.can_undo and self.versions.undo_job():  # e.g. a split job
            self._update_actions()
            return
        label = st.undo() if undo else st.redo()
        self.say(f"{'Undid' if undo else 'Redid'}: {label}" if label else
                 f"Nothing to {'undo' if undo else 'redo'}.")
        touched = [i for i in (self._stepped or ()) if i in st]
        if touched and self.editor.example_id not in touched:
            self.select_example(touched[0])
        self._update_actions()

    # --- events ------------------------------------------------------------------------------
    def _library_event(self, kind: str, dataset_id: str | None) -> None:
        if kind == "list":
            self.list_panel.reload(dataset_id)
            return
        if dataset_id is not None:
            self.list_panel.refresh(dataset_id)
        if dataset_id != self.dataset_id or self.store is None:
            return
        if kind == "counts":  # an edit here: the store's own event updates the table
            self._show_count()
            return
        if kind == "dataset":
            self.model.refresh()
            self._show_count()
            if not self.editor.saving and not self.editor.dirty:
                self.editor.reload()
            self._panels_timer.start()
        self._update_actions()

    def _queue_event(self, what: str, job: Job | None) -> None:
        if what in ("reset", "added") and self.library.workspace_changed():
            self.editor.flush()  # into the old workspace's dataset, still open
            QTimer.singleShot(0, self.workspace_switched)

    def workspace_switched(self) -> None:
        self.editor.flush()
        self.dataset_id = None
        self._watch(None)
        self.library.close_stores()
        self.list_panel.reload()

    def hideEvent(self, event: QHideEvent) -> None:
        self.editor.flush()  # another tab, or the window closing: the pending edit is saved
        super().hideEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.library.workspace_changed():
            self.workspace_switched()

    # --- panels and jobs ---------------------------------------------------------------------
    def load_panels(self) -> None:
        w = self.bottom.currentWidget()
        if w is self.validation:
            self.validation.load(self.store)
        elif w is self.versions.panel:
            self.versions.panel.load(self.store)
        else:
            self.coverage.load(self.store)

    def _tokens(self) -> TokenOptions | None:
        """The token-length choice of the Validation panel, remembered with the dataset."""
        opts = self.validation.token_options()
        if self.store is not None and self.library.busy(self.dataset_id) is None:
            self.store.set_meta("tokens", json.dumps(
                None if opts is None else [opts.source, opts.family, opts.max_tokens]))
        return opts

    def _load_tokens(self) -> None:
        saved = json.loads(self.store.meta("tokens") or "null") if self.store else None
        if isinstance(saved, list) and len(saved) == 3:
            self.validation.set_token_options(*saved)
        else:
            self.validation.set_token_options("", None, None)

    def validate(self) -> Job | None:
        if self.dataset_id is None:
            return None
        self.editor.flush()
        tokens = self._tokens()
        return self._run(lambda: validate_job(self.library, str(self.dataset_id),
                                              on_done=self._job_done, tokens=tokens))

    def coverage_report(self) -> Job | None:
        if self.dataset_id is None:
            return None
        self.editor.flush()

        def done(job: Job) -> None:
            self._job_done(job)
            if job.state is JobState.SUCCEEDED and job.dataset_id == self.dataset_id:
                self.coverage.show_report(job.result)

        tokens = self._tokens()
        return self._run(lambda: coverage_job(self.library, str(self.dataset_id), on_done=done,
                                              tokens=tokens))

    def _run(self, make: Any) -> Job | None:
        try:
            job: Job = make()
        except DatasetError as exc:
            self.say(str(exc))
            return None
        self.say(f"{job.name}: running (see the Jobs dock)")
        return job

    def _job_done(self, job: Job) -> None:
        self.say(summarize_job(job))
        self._update_actions()

    def show_import(self) -> Any:
        from phi4studio.ui.tabs.datasets.import_dialog import ImportWizard

        self.editor.flush()
        old = self.import_wizard
        if old is not None and old.isVisible():
            old.raise_()
            return old
        if old is not None:
            old.deleteLater()  # kept until now: its import may still report back
        dlg = ImportWizard(self.library, self.dataset_id, self)
        dlg.imported.connect(self._imported)
        dlg.open()
        self.import_wizard = dlg
        return dlg

    def _imported(self, dataset_id: str) -> None:
        self.list_panel.select(dataset_id)
        if dataset_id == self.dataset_id:
            self._fill_tools()
            self.model.refresh()
            self._show_count()

    def shutdown(self) -> None:
        """The window is closing: save the editor, detach (the Studio owns the library)."""
        self.editor.flush()
        self._watch(None)
        self.studio.queue.remove_listener(self._queue_event)
        self.library.remove_listener(self._library_event)
