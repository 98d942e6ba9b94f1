"""The Playground's side panels: generation settings (left) and the inspector (right): the exact
prompt the model received, token counts, time to first token, decode tokens/s, the raw output
and the measured cost of guided decoding."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.chatformats import available_formats
from phi4studio.core.playground.records import GenerationSettings, TurnRecord
from phi4studio.ui.widgets.tool_call_card import mono


class SettingsPanel(QWidget):
    """Edits a GenerationSettings in place (and the system prompt, the chat format)."""

    changed = Signal()

    def __init__(self, settings: GenerationSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.max_new = QSpinBox(self)
        self.max_new.setRange(1, 32768)
        self.temperature = self._float(0.0, 5.0, 0.05)
        self.top_p = self._float(0.0, 1.0, 0.05)
        self.top_k = QSpinBox(self)
        self.top_k.setRange(0, 1000)
        self.rep = self._float(0.05, 5.0, 0.05)
        self.seed = QLineEdit(self)
        self.seed.setPlaceholderText("random")
        self.greedy = QCheckBox("Greedy (ignore temperature, top-p, top-k, seed)", self)
        self.guided = QCheckBox("Guided decoding for tool calls", self)
        self.guided.setToolTip("Constrain calls to the offered tools: the tool name as an enum, "
                               "each tool's argument schema, the model family's call markers")
        self.tool_words = QCheckBox("Weigh the tool's name by the request's words", self)
        self.tool_words.setToolTip(
            "With guided decoding: each word of the request that a tool's name (twice) or "
            "description holds makes that tool e times likelier where the offered names part; "
            "the model still chooses where the words hold the tools alike")
        self.tool_choice = QComboBox(self)
        self.tool_choice.addItem("Text or tool calls", "auto")
        self.tool_choice.addItem("Must call a tool", "required")
        self.max_calls = QSpinBox(self)
        self.max_calls.setRange(1, 16)
        self.system = QPlainTextEdit(self)
        self.system.setPlaceholderText("System prompt (optional)")
        self.system.setMaximumHeight(80)
        self.format = QComboBox(self)
        self.format.addItem("From the model's template", None)
        for name in available_formats():
            self.format.addItem(name, name)
        form.addRow("Max new tokens", self.max_new)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-p", self.top_p)
        form.addRow("Top-k", self.top_k)
        form.addRow("Repetition penalty", self.rep)
        form.addRow("Seed", self.seed)
        form.addRow(self.greedy)
        form.addRow(self.guided)
        form.addRow(self.tool_words)
        form.addRow("Tool choice", self.tool_choice)
        form.addRow("Max calls per turn", self.max_calls)
        form.addRow("Chat format", self.format)
        form.addRow(self.system)
        self.problem = QLabel(self)
        self.problem.setStyleSheet("color:#cf222e")
        self.problem.setWordWrap(True)
        form.addRow(self.problem)
        self._loading = False
        self.load()
        for w in (self.max_new, self.top_k, self.max_calls):
            w.valueChanged.connect(self._store)
        for w in (self.temperature, self.top_p, self.rep):
            w.valueChanged.connect(self._store)
        self.seed.textChanged.connect(self._store)
        self.greedy.toggled.connect(self._store)
        self.guided.toggled.connect(self._store)
        self.tool_words.toggled.connect(self._store)
        self.tool_choice.currentIndexChanged.connect(self._store)
        self.format.currentIndexChanged.connect(self._store)
        self.system.textChanged.connect(self._store)

    def _float(self, lo: float, hi: float, step: float) -> QDoubleSpinBox:
        w = QDoubleSpinBox(self)
        w.setRange(lo, hi)
        w.setSingleStep(step)
        w.setDecimals(2)
        return w

    def load(self) -> None:
        """Show the settings object's values (e.g. after code changed it)."""
        self._loading = True
        try:
            self._load()
        finally:
            self._loading = False
        self._store()

    def _load(self) -> None:
        s = self.settings
        self.max_new.setValue(s.max_new_tokens)
        self.temperature.setValue(s.temperature)
        self.top_p.setValue(s.top_p)
        self.top_k.setValue(s.top_k)
        self.rep.setValue(s.repetition_penalty)
        self.seed.setText("" if s.seed is None else str(s.seed))
        self.greedy.setChecked(s.greedy)
        self.guided.setChecked(s.guided)
        self.tool_words.setChecked(s.tool_words)
        self.tool_words.setEnabled(s.guided)
        self.tool_choice.setCurrentIndex(max(0, self.tool_choice.findData(s.tool_choice)))
        self.max_calls.setValue(s.max_calls or 4)

    @property
    def system_prompt(self) -> str:
        return self.system.toPlainText()

    @property
    def format_override(self) -> str | None:
        value = self.format.currentData()
        return str(value) if value else None

    def _store(self, *_: Any) -> None:
        if self._loading:
            return
        s = self.settings
        s.max_new_tokens = self.max_new.value()
        s.temperature = self.temperature.value()
        s.top_p = self.top_p.value()
        s.top_k = self.top_k.value()
        s.repetition_penalty = self.rep.value()
        text = self.seed.text().strip()
        s.seed = int(text) if text.isdigit() else None
        s.greedy = self.greedy.isChecked()
        s.guided = self.guided.isChecked()
        s.tool_words = self.tool_words.isChecked()
        self.tool_words.setEnabled(s.guided)
        s.tool_choice = "required" if self.tool_choice.currentData() == "required" else "auto"
        s.max_calls = self.max_calls.value()
        for w in (self.temperature, self.top_p, self.top_k):
            w.setEnabled(not s.greedy)
        self.seed.setEnabled(not s.greedy)
        bad = s.problems() + ([] if not text or text.isdigit() else ["the seed is a whole number"])
        self.problem.setText("; ".join(bad))
        self.changed.emit()


def _fmt(value: Any, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


class InspectorPanel(QWidget):
    """What one turn really was. `measure` asks the view to measure the cost of guidance."""

    measure = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.turns: list[tuple[str, TurnRecord]] = []
        self.picker = QComboBox(self)
        self.picker.currentIndexChanged.connect(self._show)
        self.figures = QLabel(self)
        self.figures.setTextFormat(Qt.TextFormat.RichText)
        self.figures.setWordWrap(True)
        self.figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.prompt = QPlainTextEdit(self)
        self.prompt.setReadOnly(True)
        self.prompt.setPlaceholderText("The exact prompt the model received")
        self.raw = QPlainTextEdit(self)
        self.raw.setReadOnly(True)
        self.raw.setPlaceholderText("The raw output, special tokens included")
        self.raw.setMaximumHeight(140)
        for w in (self.prompt, self.raw):
            mono(w)
        self.cost = QLabel("Guided decoding cost: not measured yet", self)
        self.cost.setWordWrap(True)
        self.measure_button = QPushButton("Measure guided vs free", self)
        self.measure_button.setToolTip("Run the next prompt once guided and once free (greedy, "
                                       "not added to the chat) and compare decode speed")
        self.measure_button.clicked.connect(self.measure.emit)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.picker)
        lay.addWidget(self.figures)
        lay.addWidget(QLabel("Prompt", self))
        lay.addWidget(self.prompt, 3)
        lay.addWidget(QLabel("Raw output", self))
        lay.addWidget(self.raw, 1)
        lay.addWidget(self.cost)
        lay.addWidget(self.measure_button)

    def clear(self) -> None:
        self.turns.clear()
        self.picker.clear()
        self.figures.setText("")
        self.prompt.clear()
        self.raw.clear()

    def add_turn(self, label: str, turn: TurnRecord) -> None:
        self.turns.append((label, turn))
        self.picker.addItem(f"{label} · turn {turn.index + 1}")
        self.picker.setCurrentIndex(self.picker.count() - 1)
        self._show(self.picker.count() - 1)

    def current(self) -> TurnRecord | None:
        i = self.picker.currentIndex()
        return self.turns[i][1] if 0 <= i < len(self.turns) else None

    def _show(self, i: int) -> None:
        if not 0 <= i < len(self.turns):
            return
        t = self.turns[i][1]
        guided = f"on ({t.guidance_type})" if t.guided else "off"
        rows = [
            ("Prompt tokens", _fmt(t.prompt_tokens)),
            ("Generated tokens", _fmt(t.completion_tokens)),
            ("Time to first token", _fmt(t.ttft_s, " s", 3)),
            ("Decode speed", _fmt(t.decode_tokens_per_s, " tokens/s", 1)),
            ("Total", _fmt(t.total_s, " s", 2)),
            ("Stop", t.stop_reason or "–"),
            ("Guided decoding", guided),
            ("Adapter", t.adapter or "base model"),
            ("Seed", _fmt(t.seed)),
        ]
        if t.restarted:
            rows.append(("Worker", t.restarted))
        if t.error:
            rows.append(("Error", t.error))
        self.figures.setText("<table>" + "".join(
            f"<tr><td style='padding-right:8px'>{k}</td><td><b>{v}</b></td></tr>"
            for k, v in rows) + "</table>")
        self.prompt.setPlainText(t.prompt)
        self.raw.setPlainText(t.raw_text)

    def show_cost(self, cost: dict[str, Any], where: str = "") -> None:
        g, f, r = cost.get("guided_tps"), cost.get("free_tps"), cost.get("ratio")
        if not g or not f:
            self.cost.setText("Guided decoding cost: needs a guided and a free turn "
                              "(or Measure)")
            return
        self.cost.setText(f"Guided decoding{where}: {g:.0f} tokens/s vs free {f:.0f} tokens/s "
                          f"({(1 - r) * 100:.0f}% slower)" if r and r < 1 else
                          f"Guided decoding{where}: {g:.0f} tokens/s vs free {f:.0f} tokens/s "
                          "(no slower)")

