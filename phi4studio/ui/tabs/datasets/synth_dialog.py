"""Synthesis and split dialogs: gather the options, submit the job, close (open(), not exec())."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QSpinBox,
)

from phi4studio.core.datasets.schema import SCENARIOS
from phi4studio.core.datasets.workflows_synth import split_job, synth_from_server_job, synth_job
from phi4studio.core.jobs import Job
from phi4studio.core.paths import resource
from phi4studio.ui.tabs.datasets.dialogs import _JobDialog, path_row

if TYPE_CHECKING:
    from phi4studio.ui.tabs.datasets.view import DatasetsView


def _spin(value: int, low: int, high: int, parent: Any) -> QSpinBox:
    s = QSpinBox(parent)
    s.setRange(low, high)
    s.setValue(value)
    return s


class SynthesisDialog(_JobDialog):
    """Tool catalog file or live MCP server, how many, scenario mix, seed, where to."""

    def __init__(self, view: DatasetsView) -> None:
        super().__init__(view, "Synthesize examples")
        from phi4studio.core.datasets.synthesis import DEFAULT_SYNTH_MIX

        self.from_file = QRadioButton("Tool catalog file", self)
        self.from_server = QRadioButton("Live MCP server (stdio command)", self)
        group = QButtonGroup(self)
        group.addButton(self.from_file)
        group.addButton(self.from_server)
        self.from_file.setChecked(True)
        self.catalog = QLineEdit(str(resource("samples", "tools.json")), self)
        self.command = QLineEdit(self)
        self.command.setPlaceholderText("e.g. npx -y @modelcontextprotocol/server-filesystem .")
        self.n = _spin(200, 1, 1_000_000, self)
        self.seed = _spin(0, 0, 2**31 - 1, self)
        self.mix: dict[str, QDoubleSpinBox] = {}
        grid = QGridLayout()
        for i, s in enumerate(SCENARIOS):
            box = QDoubleSpinBox(self)
            box.setRange(0, 100)
            box.setSuffix(" %")
            box.setDecimals(0)
            box.setValue(round(DEFAULT_SYNTH_MIX.get(s, 0.0) * 100))
            self.mix[s] = box
            grid.addWidget(QLabel(s, self), i // 2, (i % 2) * 2)
            grid.addWidget(box, i // 2, (i % 2) * 2 + 1)
        self.to_new = QRadioButton("A new dataset named", self)
        self.new_name = QLineEdit(view.library.unique_name("Synthetic"), self)
        self.to_current = QRadioButton("Add to the selected dataset", self)
        into = QButtonGroup(self)
        into.addButton(self.to_new)
        into.addButton(self.to_current)
        self.to_new.setChecked(True)
        self.to_current.setEnabled(view.dataset_id is not None
                                   and view.library.busy(view.dataset_id) is None)
        self.form.addRow(self.from_file, path_row(self, self.catalog, "Tool catalog",
                                                  save=False, filters="JSON (*.json)"))
        self.form.addRow(self.from_server, self.command)
        self.form.addRow("Examples", self.n)
        self.form.addRow("Scenario mix", grid)
        self.form.addRow("Seed (same seed, same examples)", self.seed)
        row = QHBoxLayout()
        row.addWidget(self.to_new)
        row.addWidget(self.new_name, 1)
        self.form.addRow("Into", row)
        self.form.addRow("", self.to_current)

    def submit(self) -> Job:
        mix = {s: b.value() / 100 for s, b in self.mix.items() if b.value() > 0}
        view = self.view
        target: dict[str, Any] = (
            {"dataset_id": view.dataset_id} if self.to_current.isChecked()
            else {"new_name": self.new_name.text()})
        opts: dict[str, Any] = dict(n=self.n.value(), seed=self.seed.value(), mix=mix,
                                    on_done=lambda job: _synthesized(view, job), **target)
        if self.from_server.isChecked():
            argv = shlex.split(self.command.text())
            if not argv:
                from phi4studio.core.datasets.errors import DatasetError

                raise DatasetError("Give the command that starts the MCP server.")
            return synth_from_server_job(view.library, argv[0], argv[1:], **opts)
        return synth_job(view.library, catalog=Path(self.catalog.text()), **opts)



def _synthesized(view: DatasetsView, job: Job) -> None:
    """(The dialog is gone by now: it closes when the job starts.)"""
    view._job_done(job)
    made = getattr(job, "made_dataset", None)
    if made:
        view.list_panel.select(made)


class SplitDialog(_JobDialog):
    """Ratios, seed, tools held out for the test split, sources kept to training, stratify by
    tool."""

    def __init__(self, view: DatasetsView) -> None:
        super().__init__(view, "Split into train / validation / test")
        self.ratios = {s: _spin(v, 0, 100, self) for s, v in
                       (("train", 80), ("validation", 10), ("test", 10))}
        row = QHBoxLayout()
        for s, box in self.ratios.items():
            box.setSuffix(" %")
            row.addWidget(QLabel(s, self))
            row.addWidget(box)
        self.seed = _spin(0, 0, 2**31 - 1, self)
        self.by_tool = QCheckBox("Also stratify by the first tool called", self)
        self.holdout = QListWidget(self)
        store = view.store
        for name in (store.tool_counts() if store is not None else {}):
            it = QListWidgetItem(name, self.holdout)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Unchecked)
        self.form.addRow("Ratios", row)
        self.form.addRow("Seed", self.seed)
        self.form.addRow("", self.by_tool)
        self.form.addRow("Hold out for test\n(tools never seen in training)", self.holdout)
        self.train_only = QListWidget(self)  # auxiliary data: trained on, never validated/tested
        sources = store.counts_by("source") if store is not None else {}
        for src, n in sorted(sources.items(), key=lambda kv: str(kv[0] or "")):
            it = QListWidgetItem(f"{src or '(no source)'} ({n})", self.train_only)
            it.setData(Qt.ItemDataRole.UserRole, src or "")
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Unchecked)
        self.train_only.setMaximumHeight(90)
        self.form.addRow("Training only\n(sources never validated or tested)", self.train_only)
        self.form.addRow("", QLabel("The current splits are kept as a version first: Undo "
                                    "(Ctrl+Z) or Versions > Restore brings them back.", self))

    def submit(self) -> Job:
        held = [self.holdout.item(i).text() for i in range(self.holdout.count())
                if self.holdout.item(i).checkState() == Qt.CheckState.Checked]
        return split_job(
            self.view.library, str(self.view.dataset_id),
            ratios={s: b.value() / 100 for s, b in self.ratios.items()},
            seed=self.seed.value(), holdout_tools=held, stratify_by_tool=self.by_tool.isChecked(),
            train_only_sources=[
                str(self.train_only.item(i).data(Qt.ItemDataRole.UserRole))
                for i in range(self.train_only.count())
                if self.train_only.item(i).checkState() == Qt.CheckState.Checked],
            on_done=self.view.versions.split_done)
