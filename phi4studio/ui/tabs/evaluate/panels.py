"""The Evaluate tab's panels: the new-evaluation form, a run's results, its failures, A/B.
They lay out and show; the view (view.py) connects them to the EvaluationService."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.evaluation import bfcl
from phi4studio.core.evaluation.metrics import METRIC_NAMES, TITLES, fmt_ratio
from phi4studio.core.evaluation.report import diff_html
from phi4studio.core.evaluation.stats import Criteria
from phi4studio.core.inference.relevance import WEIGHT as TOOL_WORDS
from phi4studio.ui.tabs.evaluate.charts import RateChart, Row
from phi4studio.ui.tabs.evaluate.qmodels import (
    COMPARE_COLUMNS,
    FAILURE_COLUMNS,
    TOOL_COLUMNS,
    RowsModel,
    metric_columns,
)

SUITE_GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    ("BFCL", [(f"bfcl:{c}", c) for c in bfcl.CATEGORIES]),
    ("ToolTalk", [("tooltalk:easy", "easy (28)"), ("tooltalk:tooltalk", "conversations (50)")]),
]
DEFAULT_SUITES = ("bfcl:simple_python", "bfcl:multiple", "bfcl:parallel", "bfcl:irrelevance")


def table(parent: QWidget, model: RowsModel) -> QTableView:
    t = QTableView(parent)
    t.setModel(model)
    t.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QTableView.SelectionMode.SingleSelection)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    t.setWordWrap(False)
    return t


class NewRunPanel(QWidget):
    """Model, adapter, suites, limit, decoding; Run / Resume / Cancel; benchmark data."""

    run_clicked = Signal()
    resume_clicked = Signal()
    cancel_clicked = Signal()
    browse_clicked = Signal()
    fetch_clicked = Signal(str)
    bench_clicked = Signal()
    model_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QComboBox(self)
        self.model.setEditable(True)
        self.model.setMinimumContentsLength(24)
        self.model.setToolTip("An exported model folder (onnxruntime-genai, genai_config.json)")
        self.model.currentTextChanged.connect(lambda _t: self.model_changed.emit(self.model_dir()))
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self.browse_clicked)
        self.adapter = QComboBox(self)
        self.suites = QListWidget(self)
        self.suites.setMinimumHeight(180)
        self.limit = QSpinBox(self)
        self.limit.setRange(0, 100_000)
        self.limit.setValue(50)
        self.limit.setSpecialValueText("all")
        self.limit.setToolTip("First N items of each suite (0: all)")
        self.guided = QComboBox(self)
        for text, key in (("off (free decoding)", "off"), ("grammar: text or calls", "grammar"),
                          ("calls only (JSON schema)", "calls")):
            self.guided.addItem(text, key)
        self.max_tokens = QSpinBox(self)
        self.max_tokens.setRange(16, 4096)
        self.max_tokens.setValue(256)
        self.call_threshold = self._probability_box(
            "With grammar guidance: call a tool only when the model's probability of starting "
            "a call is at least this (0.5: when a call is more likely than not). Calls then come "
            "first, and a text answer stops after 16 tokens (only calls are scored). "
            "greedy: the likeliest token decides.")
        self.more_threshold = self._probability_box(
            "With a call threshold, for formats with one block per call: after each call, "
            "write another only when the model's probability of one (against ending the "
            "answer) is at least this. greedy: the likelier of the two decides.")
        self.stop_repeats = QCheckBox("End a call list at a repeated call", self)
        self.stop_repeats.setChecked(False)  # as EvalConfig and `phi4studio eval`: off unless asked
        self.stop_repeats.setToolTip(
            "End a call list at a call that repeats an earlier one, drop repeated items where "
            "the schema wants them unique, and drop a call that calls a tool again with a value "
            "the conversation does not state.")
        self.ask_missing = QCheckBox("Ask for required values the request does not give", self)
        self.ask_missing.setChecked(False)
        self.ask_missing.setToolTip(
            "Withhold a call that gives a required value the conversation does not state "
            "(a made-up path, city or query); the answer asks for it instead.")
        self.stated_optional = QCheckBox("Add optional values the request states", self)
        self.stated_optional.setChecked(False)
        self.stated_optional.setToolTip(
            "With guidance: after each call, offer the optional parameters it leaves out to the "
            "model again, and keep only the values the conversation states (\"in Celsius\", "
            "\"avoiding tolls\").")
        self.tool_words = QCheckBox("Weigh the tool's name by the request's words", self)
        self.tool_words.setChecked(False)
        self.tool_words.setToolTip(
            "With grammar guidance: while the model writes a tool's name, each word of the "
            "request that a tool's name (twice) or description holds makes that tool e times "
            "likelier than one without it (\"solar farm\" -> solarFarm.potential, not "
            "windFarm.potential). The model still chooses where the words hold the tools alike.")
        self.stated_numbers = QCheckBox("Write required numbers as the request states them",
                                        self)
        self.stated_numbers.setChecked(False)
        self.stated_numbers.setToolTip(
            "With guidance: each required number is one the conversation states (\"$400,000\" "
            "as 400000, not 400; \"4%\" as 4 or 0.04). A parameter no stated number fits is "
            "left free.")
        self.run_btn = QPushButton("Run evaluation", self)
        self.run_btn.clicked.connect(self.run_clicked)
        self.resume_btn = QPushButton("Resume", self)
        self.resume_btn.setToolTip("Continue the selected stopped evaluation")
        self.resume_btn.clicked.connect(self.resume_clicked)
        self.cancel_btn = QPushButton("Cancel", self)
        self.cancel_btn.clicked.connect(self.cancel_clicked)
        self.bench_btn = QPushButton("Latency benchmark", self)
        self.bench_btn.clicked.connect(self.bench_clicked)
        self.data_label = QLabel(self)
        self.data_label.setWordWrap(True)
        self.fetch_bfcl = QPushButton("Get BFCL data", self)
        self.fetch_bfcl.clicked.connect(lambda: self.fetch_clicked.emit("bfcl"))
        self.fetch_tt = QPushButton("Get ToolTalk data", self)
        self.fetch_tt.clicked.connect(lambda: self.fetch_clicked.emit("tooltalk"))

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.model, 1)
        row.addWidget(browse)
        form.addRow("Model", row)
        form.addRow("Adapter", self.adapter)
        form.addRow("Limit", self.limit)
        form.addRow("Guided", self.guided)
        form.addRow("Max tokens", self.max_tokens)
        form.addRow("Call when P >=", self.call_threshold)
        form.addRow("Another call when P >=", self.more_threshold)
        form.addRow("", self.stop_repeats)
        form.addRow("", self.ask_missing)
        form.addRow("", self.stated_optional)
        form.addRow("", self.tool_words)
        form.addRow("", self.stated_numbers)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(form)
        lay.addWidget(QLabel("<b>Suites</b>", self))
        lay.addWidget(self.suites, 1)
        buttons = QGridLayout()
        buttons.addWidget(self.run_btn, 0, 0, 1, 2)
        buttons.addWidget(self.resume_btn, 1, 0)
        buttons.addWidget(self.cancel_btn, 1, 1)
        buttons.addWidget(self.bench_btn, 2, 0, 1, 2)
        lay.addLayout(buttons)
        lay.addWidget(self.data_label)
        fetch = QHBoxLayout()
        fetch.addWidget(self.fetch_bfcl)
        fetch.addWidget(self.fetch_tt)
        lay.addLayout(fetch)

    def model_dir(self) -> str:
        data = self.model.currentData()
        text = self.model.currentText().strip()
        if data and self.model.itemText(self.model.currentIndex()) == text:
            return str(data)
        return text

    def set_models(self, choices: list[tuple[str, str]]) -> None:
        current = self.model_dir()
        self.model.blockSignals(True)
        self.model.clear()
        for label, path in choices:
            self.model.addItem(label, path)
            self.model.setItemData(self.model.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        if current:
            self.select_model(current)
        self.model.blockSignals(False)

    def select_model(self, path: str) -> None:
        for i in range(self.model.count()):
            if self.model.itemData(i) == path:
                self.model.setCurrentIndex(i)
                return
        self.model.setEditText(path)

    def set_adapters(self, names: list[str]) -> None:
        self.adapter.clear()
        self.adapter.addItem("(base model)", None)
        for n in names:
            self.adapter.addItem(n, n)

    def set_suites(self, datasets: list[tuple[str, str]]) -> None:
        checked = set(self.checked_suites()) or set(DEFAULT_SUITES)
        self.suites.clear()
        groups = [*SUITE_GROUPS,
                  ("Datasets (test split)", [(f"dataset:{i}", n) for i, n in datasets])]
        for title, items in groups:
            head = QListWidgetItem(title)
            head.setFlags(Qt.ItemFlag.NoItemFlags)
            f = head.font()
            f.setBold(True)
            head.setFont(f)
            self.suites.addItem(head)
            for key, label in items:
                it = QListWidgetItem(f"  {label}")
                it.setData(Qt.ItemDataRole.UserRole, key)
                it.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                it.setCheckState(Qt.CheckState.Checked if key in checked
                                 else Qt.CheckState.Unchecked)
                self.suites.addItem(it)

    def _probability_box(self, tip: str) -> QDoubleSpinBox:
        """A threshold (0-1) whose lowest value reads "greedy" (no threshold)."""
        box = QDoubleSpinBox(self)
        box.setRange(-0.05, 1.0)
        box.setSingleStep(0.05)
        box.setDecimals(2)
        box.setSpecialValueText("greedy")
        box.setValue(-0.05)
        box.setToolTip(tip)
        return box

    def decoding(self) -> dict[str, Any]:
        """The call control the form asks for (EvalConfig's call_threshold, text_tokens,
        more_threshold, stop_repeats, ask_missing, stated_optional, tool_words,
        stated_numbers)."""
        value = self.call_threshold.value()
        threshold = None if value < 0 else round(value, 2)
        more = self.more_threshold.value()
        return {"call_threshold": threshold, "text_tokens": 16 if threshold is not None else None,
                "more_threshold": None if more < 0 or threshold is None else round(more, 2),
                "stop_repeats": self.stop_repeats.isChecked(),
                "ask_missing": self.ask_missing.isChecked(),
                "stated_optional": self.stated_optional.isChecked(),
                "tool_words": TOOL_WORDS if self.tool_words.isChecked() else None,
                "stated_numbers": self.stated_numbers.isChecked()}

    def checked_suites(self) -> list[str]:
        out = []
        for i in range(self.suites.count()):
            it = self.suites.item(i)
            key = it.data(Qt.ItemDataRole.UserRole)
            if key and it.checkState() == Qt.CheckState.Checked:
                out.append(str(key))
        return out

    def set_checked(self, suites: list[str]) -> None:
        for i in range(self.suites.count()):
            it = self.suites.item(i)
            key = it.data(Qt.ItemDataRole.UserRole)
            if key:
                it.setCheckState(Qt.CheckState.Checked if key in suites
                                 else Qt.CheckState.Unchecked)


class ResultsPanel(QWidget):
    """A run: live progress, headline metrics, per-category / per-scenario / per-tool tables and
    the per-category chart."""

    export_html = Signal()
    export_json = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("<i>Select an evaluation, or run one.</i>", self)
        self.title.setWordWrap(True)
        self.progress = QProgressBar(self)
        self.progress.setFormat("%v / %m cases")
        self.progress_text = QLabel(self)
        self.headline = QLabel(self)
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setWordWrap(True)
        self.chart = RateChart("Accuracy per category", self)
        self.groups = RowsModel([])
        self.group_by = QComboBox(self)
        for text, key in (("per category", "by_category"), ("per scenario", "by_scenario"),
                          ("per suite", "by_suite")):
            self.group_by.addItem(text, key)
        self.groups_view = table(self, self.groups)
        self.tools = RowsModel(TOOL_COLUMNS)
        self.tools_view = table(self, self.tools)
        self.html_btn = QPushButton("Export HTML…", self)
        self.html_btn.clicked.connect(self.export_html)
        self.json_btn = QPushButton("Export JSON…", self)
        self.json_btn.clicked.connect(self.export_json)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.html_btn)
        top.addWidget(self.json_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.progress_text)
        lay.addLayout(prog)
        lay.addWidget(self.headline)
        lay.addWidget(self.chart)
        row = QHBoxLayout()
        row.addWidget(QLabel("<b>Metrics</b>", self))
        row.addWidget(self.group_by)
        row.addStretch(1)
        lay.addLayout(row)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.groups_view)
        split.addWidget(self.tools_view)
        lay.addWidget(split, 1)
        self.summary: Mapping[str, Any] = {}
        self.group_by.currentIndexChanged.connect(lambda _i: self._fill_groups())

    def show_summary(self, title: str, summary: Mapping[str, Any]) -> None:
        self.summary = summary
        self.title.setText(f"<b>{title}</b>")
        overall = summary.get("overall") or {}
        parts = []
        for m in METRIC_NAMES:
            r = overall.get(m) or {}
            if r.get("den"):
                parts.append(f"{TITLES[m]} <b>{fmt_ratio(r)}</b> "
                             f"<small>({r.get('num')}/{r.get('den')})</small>")
        tt = summary.get("tooltalk")
        if tt:
            parts.append(f"ToolTalk success <b>{100 * tt['success_rate']:.1f}%</b>, "
                         f"recall {100 * tt['recall']:.1f}% (exact text match)")
        self.headline.setText(" · ".join(parts) or "<i>no finished cases yet</i>")
        cats = summary.get("by_category") or {}
        self.chart.set_rows([Row(k, (v.get("accuracy") or {}).get("value"),
                                 text=f"{fmt_ratio(v.get('accuracy'))} of {v.get('cases')}")
                             for k, v in cats.items()])
        self._fill_groups()
        self.tools.set_rows(list((summary.get("by_tool") or {}).items()))

    def _fill_groups(self) -> None:
        groups = self.summary.get(self.group_by.currentData() or "by_category") or {}
        self.groups.set_rows(list(groups.items()), metric_columns(groups, "Group"))

    def set_progress(self, done: int, total: int, text: str = "") -> None:
        self.progress.setMaximum(max(1, total))
        self.progress.setValue(min(done, max(1, total)))
        self.progress_text.setText(text)


class FailuresPanel(QWidget):
    """Failing cases; for the selected one: expected vs predicted (a diff), raw output, prompt."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.category = QComboBox(self)
        self.model = RowsModel(FAILURE_COLUMNS)
        self.view = table(self, self.model)
        self.diff = QTextBrowser(self)
        self.raw = QPlainTextEdit(self)
        self.raw.setReadOnly(True)
        self.prompt = QPlainTextEdit(self)
        self.prompt.setReadOnly(True)
        detail = QTabWidget(self)
        detail.addTab(self.diff, "Expected vs predicted")
        detail.addTab(self.raw, "Raw output")
        detail.addTab(self.prompt, "Prompt")
        self.detail = detail
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.view)
        split.addWidget(detail)
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Category", self))
        row.addWidget(self.category)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addWidget(split, 1)
        self.failures: list[dict[str, Any]] = []
        self.category.currentIndexChanged.connect(lambda _i: self._filter())
        self.view.selectionModel().currentRowChanged.connect(lambda cur, _p: self.show(cur.row()))

    def set_failures(self, failures: list[dict[str, Any]]) -> None:
        self.failures = failures
        current = self.category.currentData()
        self.category.blockSignals(True)
        self.category.clear()
        self.category.addItem("All", None)
        for c in sorted({str(f["category"]) for f in failures}):
            self.category.addItem(c, c)
        idx = self.category.findData(current)
        self.category.setCurrentIndex(max(0, idx))
        self.category.blockSignals(False)
        self._filter()

    def _filter(self) -> None:
        cat = self.category.currentData()
        self.model.set_rows([f for f in self.failures if cat is None or f["category"] == cat])
        if self.model.rows:
            self.view.selectRow(0)
            self.show(0)
        else:
            self.show(-1)

    def show(self, row: int) -> None:  # type: ignore[override]
        f = self.model.row(row)
        if f is None:
            self.diff.setHtml("<i>No failures.</i>")
            self.raw.setPlainText("")
            self.prompt.setPlainText("")
            return
        head = (f"<p><b>{f['id']}</b> · turn {f.get('turn')} · {f['error_type']}<br>"
                f"{f['error']}</p><p>− expected · + predicted</p>")
        self.diff.setHtml(head + diff_html(f["expected"], f["predicted"]))
        self.raw.setPlainText(str(f.get("raw") or ""))
        self.prompt.setPlainText(str(f.get("prompt") or ""))


class ABPanel(QWidget):
    """Two evaluations, the criteria, and the comparison with its verdict."""

    compare_clicked = Signal()
    export_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.a = QComboBox(self)
        self.b = QComboBox(self)
        self.metric = QComboBox(self)
        for m in METRIC_NAMES:
            self.metric.addItem(TITLES[m], m)
        self.min_improvement = QDoubleSpinBox(self)
        self.min_improvement.setRange(0.0, 100.0)
        self.min_improvement.setValue(5.0)
        self.min_improvement.setSuffix(" points")
        self.relative = QCheckBox("relative to A", self)
        self.alpha = QDoubleSpinBox(self)
        self.alpha.setDecimals(3)
        self.alpha.setRange(0.001, 0.5)
        self.alpha.setSingleStep(0.01)
        self.alpha.setValue(0.05)
        self.by = QComboBox(self)
        for key in ("category", "scenario", "suite"):
            self.by.addItem(key, key)
        self.compare_btn = QPushButton("Compare", self)
        self.compare_btn.clicked.connect(self.compare_clicked)
        self.export_btn = QPushButton("Export HTML…", self)
        self.export_btn.clicked.connect(self.export_clicked)
        self.verdict = QLabel("<i>Choose A (the baseline) and B (the candidate).</i>", self)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.verdict.setWordWrap(True)
        self.metrics = RowsModel(COMPARE_COLUMNS)
        self.categories = RowsModel(COMPARE_COLUMNS)
        self.chart = RateChart("Δ per category (B − A) with 95% CI", self, signed=True)
        form = QFormLayout()
        form.addRow("A (baseline)", self.a)
        form.addRow("B (candidate)", self.b)
        crit = QHBoxLayout()
        crit.addWidget(QLabel("Ship when", self))
        crit.addWidget(self.metric)
        crit.addWidget(QLabel("improves by more than", self))
        crit.addWidget(self.min_improvement)
        crit.addWidget(self.relative)
        crit.addWidget(QLabel("with p <", self))
        crit.addWidget(self.alpha)
        crit.addWidget(QLabel("and no", self))
        crit.addWidget(self.by)
        crit.addWidget(QLabel("regresses beyond its CI", self))
        crit.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(crit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.compare_btn)
        buttons.addWidget(self.export_btn)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        lay.addWidget(self.verdict)
        lay.addWidget(table(self, self.metrics), 1)
        lay.addWidget(self.chart)
        lay.addWidget(table(self, self.categories), 1)
        self.result: dict[str, Any] | None = None

    def criteria(self) -> Criteria:
        return Criteria(metric=str(self.metric.currentData()),
                        min_improvement=self.min_improvement.value() / 100.0,
                        relative=self.relative.isChecked(), alpha=self.alpha.value(),
                        category_key=str(self.by.currentData()))

    def set_runs(self, runs: list[tuple[str, str]]) -> None:
        for combo in (self.a, self.b):
            current = combo.currentData()
            combo.clear()
            for rid, label in runs:
                combo.addItem(label, rid)
            idx = combo.findData(current)
            combo.setCurrentIndex(idx if idx >= 0 else (1 if combo is self.a and
                                                      combo.count() > 1 else 0))

    def show_result(self, cmp: dict[str, Any]) -> None:
        self.result = cmp
        v = cmp["verdict"]
        color = {"ship": "#2da44e", "iterate": "#bf8700"}.get(v["decision"], "#cf222e")
        reasons = "".join(f"<li>{r}</li>" for r in v["reasons"])
        self.verdict.setText(f"<span style='font-size:16pt;color:{color}'><b>"
                             f"{v['decision'].upper()}</b></span> · {cmp['pairs']} paired cases"
                             f"<ul>{reasons}</ul>")
        self.metrics.set_rows([m for m in cmp["metrics"].values()
                               if m.get("a") is not None or m.get("b") is not None])
        cats = [{**m, "title": k} for k, m in cmp["categories"].items()]
        self.categories.set_rows(cats)
        self.chart.set_rows([Row(str(c["title"]), c.get("delta"),
                                 tuple(c["ci"]) if c.get("ci") else None,
                                 text="–" if c.get("delta") is None
                                 else f"{100 * c['delta']:+.1f}") for c in cats])

    def criteria_text(self) -> str:
        return json.dumps(self.criteria().to_dict())
