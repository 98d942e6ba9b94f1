"""Pieces of the Train tab: the live charts of a run, and the plan as rich text."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QGridLayout, QWidget

from phi4studio.core.training.monitor import RunMonitor
from phi4studio.core.training.prepare import PreflightReport
from phi4studio.core.training.service import TrainingPlan
from phi4studio.ui.widgets.loss_chart import PALETTE, LossChart


class LiveCharts(QWidget):
    """Loss (train, validation and overlays), learning rate, tokens/s and memory of one run.

    The charts hold the monitor's own lists (no copies); `show_run` is called from the tab's
    timer only when the run's version moved, and each chart repaints at most once per frame.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss = LossChart("Loss (train, validation, selected runs)")
        self.lr = LossChart("Learning rate")
        self.tps = LossChart("Tokens / s")
        self.mem = LossChart("Memory (GB)")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, c in enumerate(self.charts()):
            grid.addWidget(c, i // 2, i % 2)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)

    def charts(self) -> tuple[LossChart, ...]:
        return (self.loss, self.lr, self.tps, self.mem)

    def clear(self) -> None:
        for c in self.charts():
            c.clear()

    def show_run(self, m: RunMonitor) -> None:
        self.loss.set_series("train", m.series["loss"], PALETTE[0])
        self.loss.set_series("validation", m.series["eval_loss"], PALETTE[1], dashed=True)
        self.lr.set_series("", m.series["lr"], PALETTE[2])
        self.tps.set_series("", m.series["tokens_per_s"], PALETTE[3])
        self.mem.set_series("", m.series["memory_gb"], PALETTE[4])


def describe_plan(plan: TrainingPlan, report: PreflightReport | None) -> str:
    """The plan as the tab shows it: model, resolved modules, trainable parameters, memory and
    advice, the data check (when it is for this configuration) and what would stop a launch."""
    info, t, est = plan.info, plan.targets, plan.estimate
    esc = html.escape
    pct = 100.0 * plan.trainable_params / info.n_params if info.n_params else 0.0
    lines = [f"<b>{esc(info.display_name)}</b>: {info.n_params:,} parameters"
             + (f" ({esc(info.source)})" if info.source else "")]
    if t.names:
        lines.append(f"<b>Target modules:</b> {esc(', '.join(t.names))} "
                     f"({len(t.layers)} layers) · <b>trainable:</b> "
                     f"{plan.trainable_params:,} ({pct:.2f}%)")
    lines += [f"<i>{esc(n)}</i>" for n in (*t.notes, *info.notes)]
    if est is not None:
        color = "#1a7f37" if est.fits else "#cf222e"
        lines.append(f"<b>Memory:</b> <span style='color:{color}'>{esc(est.summary())}</span>")
        lines += [f"&nbsp;&nbsp;• {esc(a)}" for a in est.advice]
        lines += [f"<i>{esc(n)}</i>" for n in est.notes]
    if report is not None:
        lines.append(f"<b>Data:</b> {esc(report.summary())}")
        lines += [f"<span style='color:#cf222e'>{esc(e)}</span>" for e in report.errors[:3]]
    lines += [f"<span style='color:#cf222e'>{esc(p)}</span>" for p in plan.problems]
    return "<br>".join(lines)
