"""The Quick start page: pick tools and a base model, go; watch each step; read the A/B table
and the verdict, with links into the tabs that hold each artefact.

A separate, non-modal window (shown on first run and from Help > Quick start...). It binds
`core.quickstart.QuickStart`: the flow runs as a job in the Jobs dock; this page only renders
its state (repainted at most 10 times a second) and never blocks the loop (file pickers open
with open(), the recipe is planned on a worker thread).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.errors import StudioError
from phi4studio.core.quickstart import STEPS, FlowState, QuickStart, QuickStartOptions, ToolSource
from phi4studio.core.quickstart.report import COLUMNS, table_rows

log = logging.getLogger(__name__)
LINKS = (("dataset", "Dataset", "dataset_id"), ("run", "Training run", "run_id"),
         ("export", "Export", "export_id"), ("evaluation", "Evaluations", None))
STATUS_MARK = {"pending": "·", "running": "▶", "done": "✓", "failed": "✗", "cancelled": "■",
               "interrupted": "⏸", "skipped": "–"}


def _fmt_s(seconds: float | None) -> str:
    if not seconds:
        return ""
    s = int(seconds)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class QuickStartPage(QWidget):
    """`link_activated(kind, id)`: the user asked to see an artefact (dataset, run, export,
    evaluation) in its tab; the composition root switches tabs."""

    link_activated = Signal(str, str)

    def __init__(self, quickstart: QuickStart, parent: QWidget | None = None,
                 default_base: str = "") -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setWindowTitle("Quick start")
        self.resize(980, 760)
        self.qs = quickstart
        self.flow_id: str | None = None
        self.dialog: QFileDialog | None = None
        self._planning: asyncio.Future[Any] | None = None
        self._build(default_base)
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._repaint_if_dirty)
        self._timer.start()
        ref = weakref.ref(self)

        def listener(event: str, state: FlowState) -> None:
            page = ref()
            if page is not None:
                page._on_event(event, state)

        self._listener = listener
        quickstart.add_listener(listener)
        self.destroyed.connect(lambda *_: quickstart.remove_listener(listener))
        latest = next(iter(self.qs.flows()), None)
        if latest is not None:
            self.show_flow(latest.id)
        self._update_buttons()

    # --- layout -------------------------------------------------------------------------------
    def _build(self, default_base: str) -> None:
        intro = QLabel("<b>Here are my tools → a model that calls them well, with the evidence."
                       "</b><br>The quick start synthesizes a dataset from your tools, validates "
                       "and splits it, fine-tunes the base model (LoRA), exports it to ONNX, and "
                       "evaluates base vs fine-tuned on the held-out split and on BFCL.", self)
        intro.setWordWrap(True)

        tools = QGroupBox("1. Your tools", self)
        self.src_sample = QRadioButton("Sample catalog (11 everyday tools)", tools)
        self.src_file = QRadioButton("A JSON file", tools)
        self.src_mcp = QRadioButton("A live MCP server", tools)
        self.src_sample.setChecked(True)
        self.sources = QButtonGroup(self)
        for b in (self.src_sample, self.src_file, self.src_mcp):
            self.sources.addButton(b)
        self.file_edit = QLineEdit(tools)
        self.file_edit.setPlaceholderText("tool catalog (MCP tools, a list, or OpenAI tools)")
        browse = QPushButton("Browse...", tools)
        browse.clicked.connect(self.pick_file)
        self.mcp_edit = QLineEdit(tools)
        self.mcp_edit.setPlaceholderText("command line, e.g. npx -y @modelcontextprotocol/"
                                         "server-everything")
        g = QGridLayout(tools)
        g.addWidget(self.src_sample, 0, 0, 1, 3)
        g.addWidget(self.src_file, 1, 0)
        g.addWidget(self.file_edit, 1, 1)
        g.addWidget(browse, 1, 2)
        g.addWidget(self.src_mcp, 2, 0)
        g.addWidget(self.mcp_edit, 2, 1, 1, 2)
        self.file_edit.textEdited.connect(lambda _t: self.src_file.setChecked(True))
        self.mcp_edit.textEdited.connect(lambda _t: self.src_mcp.setChecked(True))

        model = QGroupBox("2. Base model and size", self)
        self.base_combo = QComboBox(model)
        self.base_combo.setEditable(True)
        self.base_combo.addItem(default_base or "(default: chosen for this machine)",
                                default_base)
        self.base_combo.addItem("microsoft/Phi-4-mini-instruct", "microsoft/Phi-4-mini-instruct")
        base_browse = QPushButton("Browse...", model)
        base_browse.clicked.connect(self.pick_base)
        self.size_spin = QSpinBox(model)
        self.size_spin.setRange(0, 100_000)
        self.size_spin.setSpecialValueText("recipe default")
        self.size_spin.setSingleStep(50)
        self.bfcl_check = QCheckBox("Also evaluate on BFCL (simple, multiple, parallel, "
                                    "irrelevance) when its data is on this computer", model)
        self.bfcl_check.setChecked(True)
        self.broad_check = QCheckBox("Train on the studio's broad tool catalog too (a share of "
                                     "the examples; never in the held-out split)", model)
        self.broad_check.setChecked(True)
        m = QGridLayout(model)
        m.addWidget(QLabel("Base model", model), 0, 0)
        m.addWidget(self.base_combo, 0, 1)
        m.addWidget(base_browse, 0, 2)
        m.addWidget(QLabel("Examples", model), 1, 0)
        m.addWidget(self.size_spin, 1, 1)
        m.addWidget(self.bfcl_check, 2, 0, 1, 3)
        m.addWidget(self.broad_check, 3, 0, 1, 3)

        self.start_button = QPushButton("Start", self)
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.resume_button = QPushButton("Resume", self)
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.resume_button, self.cancel_button):
            buttons.addWidget(b)
        buttons.addWidget(self.message, 1)

        self.progress = QProgressBar(self)
        self.steps = QTableWidget(len(STEPS), 4, self)
        self.steps.setHorizontalHeaderLabels(["Step", "Status", "Details", "Time"])
        self.steps.verticalHeader().setVisible(False)
        self.steps.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.steps.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

        self.results = QTableWidget(0, len(COLUMNS), self)
        self.results.setHorizontalHeaderLabels(list(COLUMNS))
        self.results.verticalHeader().setVisible(False)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.verdict = QLabel("", self)
        self.link_buttons: dict[str, QPushButton] = {}
        links = QHBoxLayout()
        links.addWidget(QLabel("Open in its tab:", self))
        for kind, title, _key in LINKS:
            b = QPushButton(title, self)
            b.clicked.connect(lambda _=False, k=kind: self.open_link(k))
            self.link_buttons[kind] = b
            links.addWidget(b)
        links.addStretch(1)

        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(tools)
        lay.addWidget(model)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.steps, 2)
        lay.addWidget(QLabel("<b>Base vs fine-tuned</b>", self))
        lay.addWidget(self.results, 2)
        lay.addWidget(self.verdict)
        lay.addLayout(links)

    # --- input --------------------------------------------------------------------------------
    def pick_file(self) -> None:
        self._pick("Tool catalog", "JSON files (*.json);;All files (*)",
                   lambda p: (self.file_edit.setText(p), self.src_file.setChecked(True)))

    def pick_base(self) -> None:
        self._pick("Base model (.gguf file)", "GGUF models (*.gguf);;All files (*)",
                   lambda p: self.base_combo.setEditText(p))

    def _pick(self, title: str, filters: str, done: Any) -> None:
        dlg = QFileDialog(self, title)
        dlg.setNameFilter(filters)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.fileSelected.connect(done)
        self.dialog = dlg
        dlg.open()  # never exec()

    def options(self) -> QuickStartOptions:
        if self.src_file.isChecked():
            text = self.file_edit.text().strip()
            if not text:
                raise StudioError("Choose a tool catalog file.")
            source = ToolSource.parse(text)
            if source.kind != "file":
                raise StudioError(f"No tool catalog {text}.")
        elif self.src_mcp.isChecked():
            cmd = self.mcp_edit.text().strip()
            if not cmd:
                raise StudioError("Give the MCP server's command line.")
            source = ToolSource("mcp", command=cmd)
        else:
            source = ToolSource("sample")
        text = self.base_combo.currentText().strip()
        data = self.base_combo.currentData()
        base = str(data) if self.base_combo.currentIndex() == 0 and data is not None and \
            text == self.base_combo.itemText(0) else text
        if base.startswith("(default"):
            base = ""
        overrides = {} if self.broad_check.isChecked() else {"data.shape.general": 0.0}
        return QuickStartOptions(tools=source, base=base, size=self.size_spin.value() or None,
                                 bfcl=self.bfcl_check.isChecked(), overrides=overrides)

    # --- actions ------------------------------------------------------------------------------
    def start(self) -> None:
        """Plan the flow on a worker thread (model files are read), then run it."""
        try:
            opts = self.options()
        except StudioError as exc:
            self.say(str(exc))
            return
        if self._planning is not None and not self._planning.done():
            return
        self.say("Preparing the recipe...")
        self.start_button.setEnabled(False)
        fut = asyncio.ensure_future(asyncio.to_thread(self.qs.plan, opts))
        self._planning = fut
        fut.add_done_callback(self._planned)

    def _planned(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            self.say(str(exc))
            self._update_buttons()
            return
        options, recipe = fut.result()
        try:
            state = self.qs.create(options, recipe)
            self.qs.start(state.id)
        except StudioError as exc:
            self.say(str(exc))
            self._update_buttons()
            return
        self.show_flow(state.id)
        self.say(f"Running: {state.label}. Every step is a job in the Jobs dock.")

    def resume(self) -> None:
        if self.flow_id is None:
            return
        try:
            self.qs.resume(self.flow_id)
        except StudioError as exc:
            self.say(str(exc))
        self._dirty = True
        self._update_buttons()

    def cancel(self) -> None:
        if self.flow_id is not None and self.qs.cancel(self.flow_id):
            self.say("Cancelling: the running step stops (training keeps a checkpoint).")

    def open_link(self, kind: str) -> None:
        state = self.state()
        if state is None:
            return
        a = state.artefacts
        ident: str | None
        if kind == "evaluation":
            evals = (a.get("evaluations") or {}).get("finetuned") or {}
            ident = next(iter(evals.values()), None)
        else:
            key = next(k for kk, _t, k in LINKS if kk == kind)
            ident = a.get(str(key))
        if ident:
            self.link_activated.emit(kind, str(ident))

    def say(self, text: str) -> None:
        self.message.setText(text)

    # --- state -> widgets ------------------------------------------------------------------
    def state(self) -> FlowState | None:
        if self.flow_id is None:
            return None
        try:
            return self.qs.load(self.flow_id)
        except KeyError:
            return None

    def show_flow(self, flow_id: str) -> None:
        self.flow_id = flow_id
        self.refresh()

    def _on_event(self, event: str, state: FlowState) -> None:
        if self.flow_id is None or state.id == self.flow_id:
            self.flow_id = state.id
            self._dirty = True

    def _repaint_if_dirty(self) -> None:
        if self._dirty:
            self._dirty = False
            self.refresh()

    def refresh(self) -> None:
        state = self.state()
        if state is None:
            self._update_buttons()
            return
        self.progress.setValue(round(100 * state.progress))
        for row, s in enumerate(state.steps):
            live = self.qs.progress_of(state.id, s.name)
            detail = (live[1] if live else s.message) or ""
            if s.error:
                detail = s.error
            values = [s.title, f"{STATUS_MARK.get(s.status, '')} {s.status}", detail,
                      _fmt_s(s.duration_s) if s.started_at else ""]
            for col, text in enumerate(values):
                item = self.steps.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.steps.setItem(row, col, item)
                if item.text() != text:
                    item.setText(text)
                    item.setToolTip(text)
        self._fill_results(state)
        self._update_buttons()

    def _fill_results(self, state: FlowState) -> None:
        rows = table_rows(state)
        self.results.setRowCount(len(rows))

        def pct(v: Any) -> str:
            return "–" if v is None else f"{100 * float(v):.0f}%"

        for i, r in enumerate(rows):
            ci = r["ci"]
            cells = [f"{r['label']} ({r['cases']})", pct(r["base"]), pct(r["finetuned"]),
                     "–" if r["delta"] is None else f"{100 * r['delta']:+.0f} pts",
                     f"[{100 * ci[0]:+.0f}, {100 * ci[1]:+.0f}]" if ci else "–",
                     "–" if r["p_value"] is None else f"{r['p_value']:.2g}",
                     pct(r["schema_validity"]), str(r["decision"] or "–")]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip("\n".join(r["reasons"]) if col == len(cells) - 1 else text)
                self.results.setItem(i, col, item)
        verdict = state.artefacts.get("verdict")
        notes = " ".join(state.artefacts.get("evaluation_notes") or [])
        if verdict:
            self.verdict.setText(f"<b>Verdict on the held-out split: {verdict}</b> "
                                 f"(flow took {_fmt_s(state.duration_s)}). {notes}")
        elif state.error:
            self.verdict.setText(f"Stopped: {state.error}")
        else:
            self.verdict.setText(notes)

    def _update_buttons(self) -> None:
        state = self.state()
        running = state is not None and self.qs.active(state.id)
        planning = self._planning is not None and not self._planning.done()
        self.start_button.setEnabled(not running and not planning)
        self.resume_button.setEnabled(state is not None and not running and not state.done)
        self.cancel_button.setEnabled(running)
        a = state.artefacts if state is not None else {}
        for kind, _title, key in LINKS:
            ok = bool((a.get("evaluations") or {}).get("finetuned")) if key is None \
                else bool(a.get(key))
            self.link_buttons[kind].setEnabled(ok)

    def closeEvent(self, event: Any) -> None:  # the flow goes on: it is a job
        self._timer.stop()
        super().closeEvent(event)

    def showEvent(self, event: Any) -> None:
        self._timer.start()
        self._dirty = True
        super().showEvent(event)

    def shutdown(self) -> None:
        self._timer.stop()
        self.qs.remove_listener(self._listener)
        if self._planning is not None and not self._planning.done():
            self._planning.cancel()


__all__ = ["Path", "QuickStartPage"]
