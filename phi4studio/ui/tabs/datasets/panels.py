"""The panels under the table: validation issues and coverage charts."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.datasets.coverage import DEFAULT_TARGET_MIX
from phi4studio.core.datasets.query import ExampleFilter
from phi4studio.core.datasets.schema import SCENARIOS
from phi4studio.core.datasets.store import DatasetStore
from phi4studio.core.datasets.tokens import TokenOptions
from phi4studio.core.datasets.workflows import rendered_families
from phi4studio.ui.tabs.datasets.charts import Bar, BarChart

MAX_ISSUES = 1000
TARGET_MIX = DEFAULT_TARGET_MIX
SEVERITY_COLORS = {"error": "#cf222e", "warning": "#9a6700"}


class ValidationPanel(QWidget):
    """Every stored issue of the dataset (errors first), with severity and JSON path.

    Activating a row emits `activated(example_id, path)`: the tab selects that example and puts
    the editor on that field.
    """

    activated = Signal(str, str)
    validate_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("Not validated yet.", self)
        self.run_button = QPushButton("Validate all", self)
        self.run_button.clicked.connect(self.validate_requested)
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["severity", "example", "path", "issue"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setColumnWidth(0, 70)
        self.tree.setColumnWidth(1, 120)
        self.tree.setColumnWidth(2, 240)
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemClicked.connect(self._activated)
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(self.run_button)
        # token length for a chosen tokenizer (counted in the validation job, never here)
        self.tokenizer = QLineEdit(self)
        self.tokenizer.setPlaceholderText("tokenizer for token lengths: model folder, "
                                          "tokenizer.json or .gguf (optional)")
        self.tokenizer.setClearButtonEnabled(True)
        self.family = QComboBox(self)
        self.family.addItem("model's own template", None)
        for name in rendered_families():
            self.family.addItem(name, name)
        self.family.setToolTip("The chat format the examples are rendered with before counting")
        self.max_tokens = QSpinBox(self)
        self.max_tokens.setRange(0, 1_000_000)
        self.max_tokens.setSingleStep(256)
        self.max_tokens.setSpecialValueText("no limit")
        self.max_tokens.setSuffix(" tokens")
        self.max_tokens.setToolTip("Examples longer than this are flagged too_long")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        tokens = QHBoxLayout()
        tokens.addWidget(QLabel("Token length:", self))
        tokens.addWidget(self.tokenizer, 1)
        tokens.addWidget(browse)
        tokens.addWidget(self.family)
        tokens.addWidget(QLabel("max", self))
        tokens.addWidget(self.max_tokens)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(head)
        lay.addLayout(tokens)
        lay.addWidget(self.tree, 1)

    def _browse(self) -> None:
        dlg = QFileDialog(self, "Choose a tokenizer (tokenizer.json, .gguf) or a model folder")
        dlg.setNameFilters(["Tokenizers (tokenizer.json *.gguf)", "All files (*)"])
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.fileSelected.connect(self.tokenizer.setText)
        dlg.open()

    def token_options(self) -> TokenOptions | None:
        """What the user chose for token lengths (None: no tokenizer given)."""
        src = self.tokenizer.text().strip()
        if not src:
            return None
        return TokenOptions(src, self.family.currentData(), self.max_tokens.value() or None)

    def set_token_options(self, source: str, family: str | None, max_tokens: int | None) -> None:
        self.tokenizer.setText(source)
        self.family.setCurrentIndex(max(0, self.family.findData(family)))
        self.max_tokens.setValue(max_tokens or 0)

    def load(self, store: DatasetStore | None) -> None:
        """Read the stored issues of examples with errors, then warnings (at most MAX_ISSUES)."""
        self.tree.clear()
        if store is None:
            self.summary.setText("")
            return
        counts = store.counts_by("validity")
        n_err, n_warn = counts.get("error", 0), counts.get("warning", 0)
        unchecked = counts.get(None, 0)
        items: list[QTreeWidgetItem] = []
        for validity in ("error", "warning"):
            offset = 0
            while len(items) < MAX_ISSUES:
                rows = store.page(ExampleFilter(validity=validity), offset, 200)
                if not rows:
                    break
                offset += len(rows)
                for row in rows:
                    for issue in store.issues(row.id) or []:
                        items.append(self._item(row.id, issue))
                if len(rows) < 200:
                    break
        self.tree.addTopLevelItems(items[:MAX_ISSUES])
        text = (f"{n_err} example(s) with errors, {n_warn} with warnings"
                f"{f', {unchecked} not validated' if unchecked else ''}.")
        if len(items) >= MAX_ISSUES:
            text += f" The first {MAX_ISSUES} issues are listed."
        self.summary.setText(text)

    @staticmethod
    def _item(example_id: str, issue: dict[str, Any]) -> QTreeWidgetItem:
        sev = str(issue.get("severity", ""))
        it = QTreeWidgetItem([sev, example_id, str(issue.get("path", "$")),
                              str(issue.get("message", ""))])
        it.setForeground(0, QColor(SEVERITY_COLORS.get(sev, "#57606a")))
        it.setToolTip(3, f"{issue.get('code', '')}: {issue.get('message', '')}")
        it.setData(0, Qt.ItemDataRole.UserRole, (example_id, str(issue.get("path", "$"))))
        return it

    def _activated(self, item: QTreeWidgetItem, _col: int = 0) -> None:
        ex_id, path = item.data(0, Qt.ItemDataRole.UserRole)
        self.activated.emit(ex_id, path)


class CoveragePanel(QWidget):
    """Scenario mix against the target mix and calls per tool, from the store's own counts
    (instant); `Full report` computes parameters, enum values, lengths and gaps as a job."""

    report_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mix = BarChart("Scenario mix (bar) vs target (tick)", self, scale_max=0.6)
        self.tools = BarChart("Examples calling each tool", self)
        self.lengths = BarChart("Length histogram (~tokens)", self)
        self.lengths.hide()
        self.report = QPlainTextEdit(self)
        self.report.setReadOnly(True)
        self.report.setPlaceholderText("Full report: parameters and enum values used, lengths, "
                                       "gaps worth filling.")
        self.report_button = QPushButton("Full report", self)
        self.report_button.clicked.connect(self.report_requested)
        inner = QWidget()
        il = QVBoxLayout(inner)
        il.addWidget(self.mix)
        il.addWidget(self.tools)
        il.addWidget(self.lengths)
        il.addWidget(self.report_button, 0, Qt.AlignmentFlag.AlignLeft)
        il.addWidget(self.report, 1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)

    def load(self, store: DatasetStore | None) -> None:
        self.report.clear()
        self.lengths.hide()
        if store is None:
            self.mix.set_bars([])
            self.tools.set_bars([])
            return
        counts = store.counts_by("scenario")
        total = sum(counts.values()) or 1
        bars = []
        for s in (*SCENARIOS, None):
            n = counts.get(s, 0)
            if s is None and not n:
                continue
            share = n / total
            bars.append(Bar(s or "(not set)", share, TARGET_MIX.get(s or ""),
                            f"{share:.0%} ({n})", _mix_color(share, TARGET_MIX.get(s or ""))))
        self.mix.set_bars(bars)
        tools = store.tool_counts()
        top = sorted(tools.items(), key=lambda kv: -kv[1][1])[:25]
        self.tools.set_bars([Bar(name, called, None, f"{called} / {offered}",
                                 "#8250df" if called else "#cf222e")
                             for name, (offered, called) in top])
        self.tools.title = ("Examples calling each tool (called / offered)"
                            + (f", top 25 of {len(tools)}" if len(tools) > 25 else ""))

    def show_report(self, report: Any) -> None:
        """A CoverageReport from the core: calls per tool, parameters and gaps as text."""
        if report.calls_per_tool:
            self.tools.title = "Calls per tool"
            self.tools.set_bars([Bar(t, n, None, str(n), "#8250df")
                                 for t, n in report.calls_per_tool.most_common(25)])
        est = " (estimated: characters / 4)" if report.length_is_estimate else ""
        self.lengths.title = f"Length histogram, tokens{est}"
        self.lengths.set_bars([Bar(f"{lo}–{hi - 1}" if hi else f"{lo}+", n, None, str(n),
                                   "#1f6feb") for lo, hi, n in report.length_histogram()])
        self.lengths.show()
        lines = [f"{report.n_examples} examples ({report.inferred} with an inferred scenario)"]
        lines.append("Lengths (~tokens): " + ", ".join(
            f"{lo}+: {n}" for lo, _hi, n in report.length_histogram() if n))
        for tool, params in sorted(report.params_used.items()):
            lines.append(f"{tool}: " + ", ".join(f"{k}×{v}" for k, v in params.most_common()))
        if report.gaps:
            lines.append("")
            lines.append("Gaps:")
            lines += [f"  • {g.message}" for g in report.gaps[:100]]
        self.report.setPlainText("\n".join(lines))


def _mix_color(share: float, target: float | None) -> str:
    if target is None:
        return "#57606a"
    if share < target * 0.8:
        return "#cf222e"
    return "#1a7f37" if share <= target * 1.25 else "#9a6700"
