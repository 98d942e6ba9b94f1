"""The import wizard: source and format -> preview of the first examples -> import, and, when
records are bad, the per-line report with the choice to import the good ones.

Navigation lives in `ImportWizardNav` (core); this dialog renders its pages. The preview and
the import run as jobs (Jobs dock); the dialog is opened with open(), never exec().
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.datasets.importers.common import ImportReport
from phi4studio.core.datasets.importers.formats import FORMATS
from phi4studio.core.datasets.importers.pipeline import ImportPreview
from phi4studio.core.datasets.library import DatasetLibrary
from phi4studio.core.datasets.schema import called_tools, preview_text
from phi4studio.core.datasets.workflows import (
    PAGE_DONE,
    PAGE_PREVIEW,
    PAGE_REPORT,
    PAGE_SOURCE,
    ImportWizardNav,
    import_job,
    preview_job,
)
from phi4studio.core.jobs import Job, JobState

AUTO = "Auto-detect"


class ImportWizard(QDialog):
    imported = Signal(str)  # the dataset the examples went into

    def __init__(self, library: DatasetLibrary, current: str | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import examples")
        self.resize(820, 560)
        self.library = library
        self.nav = ImportWizardNav(new_name="")
        self.job: Job | None = None
        self._alive = True
        self._previewing = False
        self.pages = QStackedWidget(self)
        self._page_ids: dict[str, int] = {}

        # source
        src = QWidget()
        self.path_edit = QLineEdit(src)
        self.path_edit.setPlaceholderText("a .jsonl / .json / .parquet file or a saved HF folder")
        browse = QPushButton("Browse…", src)
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.format_combo = self._formats(src)
        self.to_new = QRadioButton("A new dataset named", src)
        self.new_name = QLineEdit(src)
        self.to_current = QRadioButton("Add to the selected dataset", src)
        group = QButtonGroup(src)
        group.addButton(self.to_new)
        group.addButton(self.to_current)
        self.to_new.setChecked(True)
        self.current = current
        if current is not None:
            self.to_current.setText(f"Add to “{library.get(current).name}”")
        else:
            self.to_current.setEnabled(False)
        self.answers_edit = QLineEdit(src)
        self.answers_edit.setPlaceholderText("BFCL: the possible-answer file (default: "
                                             "possible_answer/<same name> beside the file)")
        self.tools_edit = QLineEdit(src)
        self.tools_edit.setPlaceholderText("Claude transcripts: a tool catalog (.json) with the "
                                           "tools' definitions (default: stubs from the calls)")
        form = QFormLayout(src)
        form.addRow("File", row)
        form.addRow("Format", self.format_combo)
        form.addRow("BFCL answers", self._file_row(src, self.answers_edit,
                                                   "Choose the BFCL possible-answer file"))
        form.addRow("Tool definitions", self._file_row(src, self.tools_edit,
                                                       "Choose a tool catalog"))
        target = QHBoxLayout()
        target.addWidget(self.to_new)
        target.addWidget(self.new_name, 1)
        form.addRow("Import into", target)
        form.addRow("", self.to_current)
        self._add_page(PAGE_SOURCE, src)
        for w in (self.path_edit, self.new_name, self.answers_edit, self.tools_edit):
            w.textChanged.connect(self._sync_nav)
        for b in (self.to_new, self.to_current):
            b.toggled.connect(self._sync_nav)
        self.format_combo.currentIndexChanged.connect(self._sync_nav)
        self.path_edit.textChanged.connect(self._suggest_name)

        # preview
        prev = QWidget()
        self.detected = QLabel(prev)
        self.reformat = self._formats(prev)
        self.reformat.activated.connect(self._reread)
        top = QHBoxLayout()
        top.addWidget(self.detected, 1)
        top.addWidget(QLabel("Read as", prev))
        top.addWidget(self.reformat)
        self.examples = QTableWidget(0, 5, prev)
        self.examples.setHorizontalHeaderLabels(["id", "scenario", "tools called", "messages",
                                                 "first user message"])
        self.examples.horizontalHeader().setStretchLastSection(True)
        self.examples.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.preview_issues = QListWidget(prev)
        pl = QVBoxLayout(prev)
        pl.addLayout(top)
        pl.addWidget(self.examples, 3)
        pl.addWidget(QLabel("Problems in the records read so far:", prev))
        pl.addWidget(self.preview_issues, 1)
        self._add_page(PAGE_PREVIEW, prev)

        # report
        rep = QWidget()
        self.report_label = QLabel(rep)
        self.report_label.setWordWrap(True)
        self.report_list = QListWidget(rep)
        rl = QVBoxLayout(rep)
        rl.addWidget(self.report_label)
        rl.addWidget(self.report_list, 1)
        self._add_page(PAGE_REPORT, rep)

        # done
        done = QWidget()
        self.done_label = QLabel(done)
        self.done_label.setWordWrap(True)
        dl = QVBoxLayout(done)
        dl.addWidget(self.done_label)
        dl.addStretch(1)
        self._add_page(PAGE_DONE, done)

        self.status = QLabel(self)
        self.back_button = QPushButton("Back", self)
        self.next_button = QPushButton("Next", self)
        self.next_button.setDefault(True)
        self.close_button = QPushButton("Cancel", self)
        self.back_button.clicked.connect(self.go_back)
        self.next_button.clicked.connect(self.go_next)
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.next_button)
        buttons.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.pages, 1)
        lay.addLayout(buttons)
        self.finished.connect(self._closed)
        self._render()

    # --- building ----------------------------------------------------------------------------
    def _add_page(self, name: str, w: QWidget) -> None:
        self._page_ids[name] = self.pages.addWidget(w)

    @staticmethod
    def _formats(parent: QWidget) -> QComboBox:
        combo = QComboBox(parent)
        combo.addItem(AUTO, None)
        for f in FORMATS.values():
            combo.addItem(f.title, f.name)
        return combo

    def _file_row(self, parent: QWidget, edit: QLineEdit, title: str) -> QHBoxLayout:
        def browse() -> None:
            dlg = QFileDialog(self, title)
            dlg.setNameFilters(["JSON (*.json *.jsonl)", "All files (*)"])
            dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dlg.fileSelected.connect(edit.setText)
            dlg.open()

        edit.setClearButtonEnabled(True)
        b = QPushButton("Browse…", parent)
        b.clicked.connect(browse)
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(b)
        return row

    def _browse(self) -> None:
        dlg = QFileDialog(self, "Choose a dataset file")
        dlg.setNameFilters(["Datasets (*.jsonl *.json *.parquet *.arrow)", "All files (*)"])
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.fileSelected.connect(self.path_edit.setText)
        dlg.open()

    def _suggest_name(self, text: str) -> None:
        if text and not self.new_name.isModified():
            self.new_name.setText(Path(text).stem)

    def set_path(self, path: Path, fmt: str | None = None) -> None:
        self.path_edit.setText(str(path))
        if fmt is not None:
            self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(fmt)))

    # --- navigation --------------------------------------------------------------------------
    def _sync_nav(self, *_: Any) -> None:
        text = self.path_edit.text().strip()
        self.nav.path = Path(text).expanduser() if text else None
        self.nav.fmt = self.format_combo.currentData()
        self.nav.dataset_id = self.current if self.to_current.isChecked() else None
        self.nav.new_name = self.new_name.text()
        answers, tools = self.answers_edit.text().strip(), self.tools_edit.text().strip()
        self.nav.answers = Path(answers).expanduser() if answers else None
        self.nav.tools_file = Path(tools).expanduser() if tools else None
        self._render_buttons()

    def _render(self) -> None:
        self.pages.setCurrentIndex(self._page_ids[self.nav.page])
        self._render_buttons()

    def _render_buttons(self) -> None:
        running = self.job is not None and not self.job.state.finished
        page = self.nav.page
        self.back_button.setEnabled(bool(self.nav.history) and page != PAGE_DONE and not running)
        self.next_button.setVisible(page != PAGE_DONE)
        self.next_button.setText(self.nav.next_label())
        ok = self.nav.can_next() and not running
        if page == PAGE_SOURCE:
            missing = [what for what, p in (("file", self.nav.path),
                                            ("BFCL answers file", self.nav.answers),
                                            ("tool catalog", self.nav.tools_file))
                       if p is not None and not p.exists()]
            if missing:
                ok = False
            self.status.setText(f"No such {missing[0]}." if missing else "")
        self.next_button.setEnabled(ok)
        self.close_button.setText("Close" if page == PAGE_DONE else "Cancel")

    def go_back(self) -> None:
        if self.nav.back():
            self._render()

    def go_next(self) -> None:
        if self.nav.page == PAGE_SOURCE:
            self._sync_nav()
        if not self.nav.can_next():
            return
        if self.nav.page == PAGE_SOURCE:
            self.reformat.setCurrentIndex(self.format_combo.currentIndex())
            self._run_preview(self.nav.fmt)
        else:
            self._run_import()

    def _reread(self, _i: int = 0) -> None:
        self.nav.fmt = self.reformat.currentData()
        self._run_preview(self.nav.fmt)

    # --- jobs --------------------------------------------------------------------------------
    def _run_preview(self, fmt: str | None) -> None:
        assert self.nav.path is not None
        self.status.setText("Reading the first examples…")
        self._previewing = True
        self.job = self.library.submit(preview_job(self.nav.path, fmt,
                                                   options=self.nav.options()), self._previewed)
        self._render_buttons()

    def _previewed(self, job: Job) -> None:
        if not self._alive:
            return
        self.status.setText("")
        if job.state is JobState.SUCCEEDED and isinstance(job.result, ImportPreview):
            self.nav.previewed(job.result)
            self._show_preview(job.result)
        elif job.state is JobState.FAILED:
            self.nav.previewed(None, job.error or "cannot read the file")
            self._show_preview(None)
        self._render()

    def _show_preview(self, preview: ImportPreview | None) -> None:
        self.examples.setRowCount(0)
        self.preview_issues.clear()
        if preview is None:
            self.detected.setText(f"<b>Cannot read this file:</b> {self.nav.preview_error}")
            self.detected.setWordWrap(True)
            return
        title = FORMATS[preview.format].title if preview.format in FORMATS else preview.format
        how = "read as" if self.nav.fmt else "detected"
        self.detected.setText(f"Format {how}: <b>{title}</b> — first {len(preview.examples)} "
                              f"example(s) of {preview.records_read} record(s) read")
        self.examples.setRowCount(len(preview.examples))
        for r, ex in enumerate(preview.examples):
            d = ex.to_dict()
            cells = [d["id"], d.get("scenario") or "", ", ".join(called_tools(d)),
                     str(len(d["messages"])), preview_text(d)]
            for c, text in enumerate(cells):
                self.examples.setItem(r, c, QTableWidgetItem(text))
        self.examples.resizeColumnsToContents()
        for issue in preview.issues:
            self.preview_issues.addItem(f"{issue.severity}: {issue}")
        if not preview.issues:
            self.preview_issues.addItem("none")

    def _run_import(self) -> None:
        assert self.nav.path is not None
        self.status.setText("Importing…")
        self._previewing = False
        self.job = import_job(
            self.library, self.nav.path, self.nav.fmt, dataset_id=self.nav.dataset_id,
            new_name=self.nav.new_name, allow_partial=self.nav.allow_partial,
            options=self.nav.options(), on_done=self._imported,
        )
        self._render_buttons()

    def _imported(self, job: Job) -> None:
        made = getattr(job, "made_dataset", None) or self.nav.dataset_id
        if isinstance(job.result, ImportReport) and job.result.committed and made:
            self.imported.emit(made)  # closed or not: the dialog lives until the next one opens
        self.status.setText("")
        report = job.result
        if not isinstance(report, ImportReport):
            self.status.setText(f"Import {job.state.value}: {job.error or ''}".strip())
            self._render_buttons()
            return
        self.nav.imported(report)
        if self.nav.page == PAGE_REPORT:
            self.report_label.setText(
                f"<b>{len(report.skipped)} record(s) cannot be imported</b>, so nothing was "
                f"written. {report.good} record(s) are fine: import them and skip the rest, or "
                "go back and choose another format.")
            self.report_list.clear()
            for issue in report.skipped[:5000]:
                self.report_list.addItem(str(issue))
            for issue in report.warnings[:1000]:
                self.report_list.addItem(f"warning: {issue}")
        else:
            self.done_label.setText(report.message or report.summary())
        self._render()

    def _closed(self, _result: int) -> None:
        """Closing stops a preview still reading; an import goes on in the Jobs dock."""
        self._alive = False
        job = self.job
        if job is not None and not job.state.finished and self._previewing \
                and self.library.queue is not None:
            self.library.queue.cancel(job)
