"""Evaluate tab: the new-evaluation form (left); evaluations with a model's history, a run's
results, its failures, and A/B (right). Runs, comparisons, benchmarks and data downloads are
jobs; run results are read on a worker thread; live progress is coalesced to a few repaints a
second. The UI thread never waits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.errors import StudioError
from phi4studio.core.evaluation import benchdata, suites
from phi4studio.core.evaluation.driver import EvalConfig, check_decoding, model_key
from phi4studio.core.evaluation.service import (
    EvaluateModelRequest,
    EvaluationJob,
    EvaluationService,
    RunInfo,
    load_view,
)
from phi4studio.core.jobs import Job, JobState
from phi4studio.core.studio import Studio
from phi4studio.ui.tabs.evaluate.charts import HistoryChart
from phi4studio.ui.tabs.evaluate.panels import (
    ABPanel,
    FailuresPanel,
    NewRunPanel,
    ResultsPanel,
    table,
)
from phi4studio.ui.tabs.evaluate.qmodels import LATENCY_COLUMNS, RUN_COLUMNS, RowsModel

REFRESH_MS = 250
RESULTS_EVERY_S = 2.0
STATUS_COLORS = {"running": "#1f6feb", "stopped": "#bf8700", "failed": "#cf222e"}


class EvaluateView(QWidget):
    def __init__(self, studio: Studio, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio = studio
        self.service = EvaluationService(lambda: studio.workspace, studio.queue,
                                         cancel_grace_s=lambda: studio.settings.cancel_grace_s)
        self.selected: str | None = None
        self.dialog: QFileDialog | None = None
        self._loading: asyncio.Future[Any] | None = None
        self._last_load = 0.0
        self._dirty_runs = False

        self.form = NewRunPanel(self)
        self.runs = RowsModel(RUN_COLUMNS, color=lambda r: STATUS_COLORS.get(r.status))
        self.runs_view = table(self, self.runs)
        self.history = HistoryChart("History of the chosen model", self)
        self.latency = RowsModel(LATENCY_COLUMNS)
        runs_page = QWidget(self)
        rl = QVBoxLayout(runs_page)
        rl.addWidget(self.runs_view, 2)
        rl.addWidget(self.history, 1)
        rl.addWidget(QLabel("<b>Latency benchmarks of the chosen model</b>", runs_page))
        rl.addWidget(table(runs_page, self.latency), 1)
        self.results = ResultsPanel(self)
        self.failures = FailuresPanel(self)
        self.ab = ABPanel(self)
        self.pages = QTabWidget(self)
        self.pages.addTab(runs_page, "Evaluations")
        self.pages.addTab(self.results, "Results")
        self.pages.addTab(self.failures, "Failures")
        self.pages.addTab(self.ab, "A/B")
        self.status = QLabel(self)
        self.status.setWordWrap(True)

        left = QWidget(self)
        ll = QVBoxLayout(left)
        ll.addWidget(QLabel("<h3>Evaluate</h3>", left))
        ll.addWidget(self.form, 1)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(left)
        split.addWidget(self.pages)
        split.setStretchFactor(1, 1)
        split.setSizes([330, 900])
        lay = QVBoxLayout(self)
        lay.addWidget(split, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        lay.addLayout(bottom)

        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._refresh_live)

        self.form.run_clicked.connect(self.start_run)
        self.form.resume_clicked.connect(self.resume_selected)
        self.form.cancel_clicked.connect(self.cancel_selected)
        self.form.browse_clicked.connect(self.browse_model)
        self.form.fetch_clicked.connect(self.fetch_data)
        self.form.bench_clicked.connect(self.run_latency)
        self.form.model_changed.connect(lambda _p: self._model_changed())
        self.runs_view.selectionModel().currentRowChanged.connect(
            lambda cur, _prev: self.select_run(self.runs.row(cur.row())))
        self.results.export_html.connect(lambda: self._export("html"))
        self.results.export_json.connect(lambda: self._export("json"))
        self.ab.compare_clicked.connect(self.compare)
        self.ab.export_clicked.connect(self._export_ab)
        self.service.add_listener(self._on_service)
        handoff = getattr(studio, "handoff", None)
        if handoff is not None:
            handoff.subscribe(EvaluateModelRequest, self.evaluate_model)
        self.reload()

    # --- lists --------------------------------------------------------------------------------
    def reload(self) -> None:
        """Everything that comes from the workspace: models, datasets, runs, data status."""
        try:
            self.form.set_models(self.service.model_choices())
            self.form.set_suites(self.service.dataset_choices())
        except StudioError as exc:
            self.say(str(exc))
        self._refresh_runs()
        self._refresh_data_status()
        self._model_changed()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.reload()

    def hideEvent(self, event: QHideEvent) -> None:
        self.timer.stop()  # the window may be closing, and its workspace with it
        super().hideEvent(event)

    def _refresh_runs(self) -> None:
        runs = self.service.runs()
        keep = self.selected
        self.runs.set_rows(runs)
        self.ab.set_runs([(r.id, f"{r.name} ({r.status}, {r.done}/{r.total})") for r in runs])
        if keep is not None:
            for i, r in enumerate(runs):
                if r.id == keep:
                    self.runs_view.selectRow(i)
                    break

    def _refresh_data_status(self) -> None:
        parts = []
        for st in self.service.benchmark_status().values():
            where = "ready" if st["path"] else f"not downloaded ({st['size_mb']} MB)"
            parts.append(f"{st['dist']} {st['version']} ({st['license']}): {where}")
        self.form.data_label.setText("<small>" + "<br>".join(parts) + "</small>")

    def _model_changed(self) -> None:
        model = self.form.model_dir()
        adapters = self.service.adapters_of(model) if model else []
        current = self.form.adapter.currentData()
        self.form.set_adapters(adapters)
        idx = self.form.adapter.findData(current)
        self.form.adapter.setCurrentIndex(max(0, idx))
        self._refresh_history()

    def _refresh_history(self) -> None:
        model = self.form.model_dir()
        if not model:
            self.history.set_series([], {})
            self.latency.set_rows([])
            return
        key = model_key(EvalConfig(model=str(Path(model).expanduser().resolve()), suites=[],
                                   adapter=self.form.adapter.currentData()))
        runs = [r for r in self.service.history(key) if r.done]
        labels = [f"{r.id[4:8]} {r.id[9:13]}" for r in runs]
        series: dict[str, list[float | None]] = {}
        for metric in ("accuracy", "tool_correctness", "irrelevance_detection"):
            values = [r.headline.get(metric) for r in runs]
            if any(v is not None for v in values):
                series[metric.replace("_", " ")] = values
        self.history.set_series(labels, series)
        rows = []
        for rec in reversed(self.service.latency_history(key)):
            for row in rec["metrics"].get("rows") or []:
                rows.append({**rec, "_row": row})
        self.latency.set_rows(rows)

    # --- live updates -------------------------------------------------------------------------
    def _on_service(self, kind: str, payload: Any) -> None:
        self._dirty_runs = self._dirty_runs or kind == "runs"
        if self.isVisible() and not self.timer.isActive():
            self.timer.start()  # hidden: showEvent reloads everything

    def _refresh_live(self) -> None:
        if self._dirty_runs:
            self._dirty_runs = False
            self._refresh_runs()
            self._refresh_history()
        if self.selected is None:
            return
        job = self.service.job_for(self.selected)
        if job is not None:
            self.results.set_progress(job.done, job.total, job.message)
            if asyncio.get_event_loop().time() - self._last_load > RESULTS_EVERY_S:
                self._load(self.selected)

    # --- a run --------------------------------------------------------------------------------
    def select_run(self, info: RunInfo | None) -> None:
        if info is None:
            return
        self.selected = info.id
        self.results.set_progress(info.done, info.total, info.status)
        self._load(info.id)

    def _load(self, run_id: str) -> None:
        """Read the run's results on a worker thread; show them when they arrive."""
        if self._loading is not None and not self._loading.done():
            return
        try:
            info = self.service.get(run_id)
        except StudioError as exc:
            self.say(str(exc))
            return
        loop = asyncio.get_event_loop()
        self._last_load = loop.time()
        fut = loop.run_in_executor(None, load_view, info.path)
        self._loading = fut

        def done(f: asyncio.Future[Any]) -> None:
            if f.cancelled() or self.selected != run_id:
                return
            exc = f.exception()
            if exc is not None:
                self.say(f"Could not read {info.path}: {exc}")
                return
            summary, failures, _config = f.result()
            try:
                self.results.show_summary(info.name, summary)
                self.results.set_progress(summary["done"], summary["total"], info.status)
                self.failures.set_failures(failures)
            except RuntimeError:  # the tab was deleted while the results were read
                return

        fut.add_done_callback(done)

    # --- actions ------------------------------------------------------------------------------
    def config_from_form(self) -> EvalConfig:
        model = self.form.model_dir()
        chosen = self.form.checked_suites()
        if not model:
            raise StudioError("Choose a model folder (an export with genai_config.json).")
        if not chosen:
            raise StudioError("Choose at least one suite.")
        missing = {p for s in chosen if (p := suites.needs_package(s))
                   and benchdata.locate(p, self.service.benchmarks_root) is None}
        if missing:
            raise StudioError("The benchmark data is not on this computer: "
                              + ", ".join(sorted(missing)) + ".",
                              hint="Use Get BFCL data / Get ToolTalk data below first.")
        limit = self.form.limit.value() or None
        config = EvalConfig(model=model, suites=chosen, adapter=self.form.adapter.currentData(),
                            limit=limit, guided=str(self.form.guided.currentData()),
                            max_new_tokens=self.form.max_tokens.value(), **self.form.decoding())
        check_decoding(config)
        return config

    def start_run(self) -> EvaluationJob | None:
        try:
            job = self.service.start(self.config_from_form())
        except StudioError as exc:
            self.say(str(exc))
            return None
        self.say(f"{job.name}: queued (it waits for the GPU slot if another job holds it)")
        self._follow(job)
        return job

    def _follow(self, job: EvaluationJob) -> None:
        """Select the job's run as soon as it exists, and report how it ended."""

        def changed(what: str, j: Job | None) -> None:
            if j is not job:
                return
            if job.run_dir is not None and self.selected != job.run_dir.id:
                self.selected = job.run_dir.id
                self._dirty_runs = True
                self.pages.setCurrentWidget(self.results)
                self._on_service("runs", None)
            if what == "state" and job.state.finished:
                self.studio.queue.remove_listener(changed)
                if job.state is JobState.FAILED:
                    self.say(f"{job.name} failed: {job.error}")
                elif job.state is JobState.CANCELLED:
                    self.say(f"{job.name} stopped; Resume continues it.")
                else:
                    self.say(f"{job.name}: {job.message}")
                if job.run_dir is not None and self.selected == job.run_dir.id:
                    self._loading = None
                    self._load(job.run_dir.id)

        self.studio.queue.add_listener(changed)

    def resume_selected(self) -> None:
        if self.selected is None:
            self.say("Select a stopped evaluation to resume.")
            return
        try:
            job = self.service.resume(self.selected)
        except StudioError as exc:
            self.say(str(exc))
            return
        self._follow(job)

    def cancel_selected(self) -> None:
        job = self.service.job_for(self.selected) if self.selected else None
        jobs = [job] if job is not None else self.service.active_jobs()
        for j in jobs:
            self.studio.queue.cancel(j)
        self.say("Cancelling…" if jobs else "No evaluation is running.")

    def evaluate_model(self, request: EvaluateModelRequest) -> None:
        self.form.select_model(str(request.model_dir))
        if request.adapter:
            self._model_changed()
            idx = self.form.adapter.findData(request.adapter)
            self.form.adapter.setCurrentIndex(max(0, idx))
        self.say(f"Evaluate {request.label or request.model_dir}: choose suites, then Run.")

    def fetch_data(self, key: str) -> None:
        job = self.service.fetch_job(key)
        self.studio.queue.submit(job)
        self._when_done(job, lambda j: (self._refresh_data_status(),
                                        self.say(f"{j.name}: {j.state.value}"
                                                 + (f" ({j.error})" if j.error else ""))))

    def run_latency(self) -> None:
        model = self.form.model_dir()
        if not model:
            self.say("Choose a model folder first.")
            return
        job = self.service.bench_job(str(Path(model).expanduser().resolve()),
                                     self.form.adapter.currentData())
        self.studio.queue.submit(job)
        self._when_done(job, lambda j: (self._refresh_history(),
                                        self.say(f"{j.name}: {j.state.value}"
                                                 + (f" ({j.error})" if j.error else ""))))

    def compare(self) -> None:
        a, b = self.ab.a.currentData(), self.ab.b.currentData()
        if not a or not b or a == b:
            self.say("Choose two different evaluations for A and B.")
            return
        job = self.service.compare_job(a, b, self.ab.criteria())
        self.studio.queue.submit(job)

        def done(j: Job) -> None:
            if j.state is JobState.SUCCEEDED:
                self.ab.show_result(j.result)
            else:
                self.say(f"Comparison {j.state.value}: {j.error}")

        self._when_done(job, done)

    def _when_done(self, job: Job, fn: Any) -> None:
        def changed(what: str, j: Job | None) -> None:
            if j is job and what == "state" and job.state.finished:
                self.studio.queue.remove_listener(changed)
                fn(job)

        self.studio.queue.add_listener(changed)

    # --- files --------------------------------------------------------------------------------
    def browse_model(self) -> None:
        dlg = QFileDialog(self, "Choose an exported model folder")
        dlg.setFileMode(QFileDialog.FileMode.Directory)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.fileSelected.connect(lambda p: (self.form.select_model(p), self._model_changed()))
        self.dialog = dlg
        dlg.open()

    def _save_dialog(self, title: str, name: str, pattern: str, write: Any) -> None:
        dlg = QFileDialog(self, title, str(Path.home() / name), pattern)
        dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def chosen(path: str) -> None:
            try:
                write(Path(path))
                self.say(f"Saved {path}")
            except (StudioError, OSError) as exc:
                self.say(f"Could not save {path}: {exc}")

        dlg.fileSelected.connect(chosen)
        self.dialog = dlg
        dlg.open()

    def _export(self, kind: str) -> None:
        if self.selected is None:
            self.say("Select an evaluation first.")
            return
        rid = self.selected
        if kind == "html":
            self._save_dialog("Export report (HTML)", f"eval-{rid}.html", "HTML (*.html)",
                              lambda p: self.service.export_html(rid, p))
        else:
            self._save_dialog("Export results (JSON)", f"eval-{rid}.json", "JSON (*.json)",
                              lambda p: self.service.export_json(rid, p))

    def _export_ab(self) -> None:
        if self.ab.result is None:
            self.say("Compare two evaluations first.")
            return
        from phi4studio.core.evaluation.report import comparison_html
        from phi4studio.core.fileio import atomic_write_text

        html = comparison_html(self.ab.result, self.ab.a.currentText(), self.ab.b.currentText())
        self._save_dialog("Export A/B report (HTML)", "ab-report.html", "HTML (*.html)",
                          lambda p: atomic_write_text(p, html))

    def say(self, text: str) -> None:
        self.status.setText(text)
