"""Set up / repair / remove the training runtime, or point the app at an existing environment.

The seam for the Train and Export tabs (they own no runtime logic):

    from phi4studio.ui.widgets.runtime_setup import RuntimeSetupPanel, offer_runtime_setup

    # on the tab's first show: a non-modal dialog, only if no usable runtime is configured
    offer_runtime_setup(self, studio)
    # or inline, e.g. in place of the Start button while no runtime exists
    panel = RuntimeSetupPanel(RuntimeManager.for_studio(studio), studio.queue, self)
    panel.runtime_ready.connect(self.on_runtime_ready)   # str: the interpreter now in settings

All work is a job in the JobQueue (it shows in the Jobs dock with its log); this widget only
renders the job's state at 10 Hz. A failure shows its message and a Retry button.
"""

from __future__ import annotations

import weakref
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from phi4studio.core.jobs import ExecutorJob, Job, JobQueue, JobState, ThreadContext
from phi4studio.core.runtime import PythonCandidate, RuntimeManager, find_pythons

AUTO = "auto"
INTRO = (
    "Training and export run in their own Python environment (torch, transformers, peft, trl: "
    "about 2 GB with the CPU build of torch, 6 GB or more with the CUDA build, chosen when an "
    "NVIDIA GPU is found). Phi-4 Studio creates it in <code>{location}</code> from a Python "
    "3.10+ on this computer, downloads the pinned versions and checks them with a tiny "
    "training step. Needs a network connection to PyPI (or your pip mirror)."
)


class RuntimeSetupPanel(QWidget):
    runtime_ready = Signal(str)
    runtime_removed = Signal()
    job_finished = Signal(object)  # the Job, whatever its end

    def __init__(self, manager: RuntimeManager, queue: JobQueue,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.queue = queue
        self.job: Job | None = None
        self._last_action: tuple[str, Any] | None = None
        self._discovery: Job | None = None
        self.pythons: list[PythonCandidate] = []

        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.RichText)
        intro = QLabel(INTRO.format(location=manager.location), self)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)

        self.python_combo = QComboBox(self)
        self.python_combo.addItem("Best Python found on this computer", AUTO)
        self.python_combo.setMinimumContentsLength(30)
        browse = QPushButton("Browse...", self)
        browse.clicked.connect(self._browse_python)
        py_row = QHBoxLayout()
        py_row.addWidget(QLabel("Build from:", self))
        py_row.addWidget(self.python_combo, 1)
        py_row.addWidget(browse)

        self.setup_button = QPushButton("Set up training runtime", self)
        self.setup_button.setDefault(True)
        self.setup_button.clicked.connect(lambda: self.start("setup"))
        self.repair_button = QPushButton("Repair", self)
        self.repair_button.setToolTip("Reinstall the pinned packages and check them again")
        self.repair_button.clicked.connect(lambda: self.start("repair"))
        self.existing_button = QPushButton("Use an existing environment...", self)
        self.existing_button.clicked.connect(self._choose_existing)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(lambda: self.start("remove"))
        buttons = QHBoxLayout()
        for b in (self.setup_button, self.repair_button, self.existing_button,
                  self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        prog_row = QHBoxLayout()
        prog_row.addWidget(self.progress, 1)
        prog_row.addWidget(self.cancel_button)

        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("color: #82071e;")
        self.retry_button = QPushButton("Retry", self)
        self.retry_button.clicked.connect(self.retry)
        self.details_button = QPushButton("Details", self)
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(lambda on: self.log_view.setVisible(on))
        err_row = QHBoxLayout()
        err_row.addWidget(self.error_label, 1)
        err_row.addWidget(self.retry_button)
        err_row.addWidget(self.details_button)
        self.log_view = QPlainTextEdit(self)
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(400)
        self.log_view.hide()
        self.details_button.toggled.connect(self._details_toggled)

        lay = QVBoxLayout(self)
        lay.addWidget(self.status_label)
        lay.addWidget(intro)
        lay.addLayout(py_row)
        lay.addLayout(buttons)
        lay.addLayout(prog_row)
        lay.addWidget(self.message)
        lay.addLayout(err_row)
        lay.addWidget(self.log_view, 1)
        lay.addStretch(0)

        self._timer = QTimer(self)
        self._timer.setInterval(100)  # 10 Hz repaint of the job's state
        self._timer.timeout.connect(self._refresh)
        ref = weakref.ref(self)

        def on_queue(what: str, job: Job | None) -> None:
            me = ref()
            if me is None:
                queue.remove_listener(on_queue)
            elif job is not None and job in (me.job, me._discovery) and what in ("state",
                                                                                 "finished"):
                me._refresh()

        self._listener = on_queue
        queue.add_listener(on_queue)
        self.destroyed.connect(lambda *_: queue.remove_listener(on_queue))
        self._render_idle()

    # --- actions ----------------------------------------------------------------------------
    def chosen_python(self) -> str | None:
        value = self.python_combo.currentData()
        return None if value in (None, AUTO) else str(value)

    def start(self, action: str, arg: Any = None) -> Job | None:
        if self.job is not None and not self.job.state.finished:
            return None
        try:
            if action == "setup":
                job: Job = self.manager.create_job(self.chosen_python())
            elif action == "repair":
                job = self.manager.repair_job(self.chosen_python())
            elif action == "existing":
                job = self.manager.use_existing_job(arg)
            elif action == "remove":
                job = self.manager.remove_job()
            else:
                raise ValueError(action)
        except ValueError as exc:
            self._show_error(str(exc), retry=False)
            return None
        self._last_action = (action, arg)
        self.job = self.queue.submit(job)
        self.error_label.clear()
        self.log_view.clear()
        self._timer.start()
        self._refresh()
        return job

    def retry(self) -> Job | None:
        if self._last_action is None:
            return None
        return self.start(*self._last_action)

    def cancel(self) -> None:
        if self.job is not None and not self.job.state.finished:
            self.queue.cancel(self.job)

    def find_pythons(self) -> Job:
        """List the interpreters the runtime can be built from (a background job)."""
        if self._discovery is not None and not self._discovery.state.finished:
            return self._discovery

        def run(_ctx: ThreadContext) -> list[PythonCandidate]:
            return find_pythons()

        job: ExecutorJob[list[PythonCandidate]] = ExecutorJob(
            "Find Python interpreters", run, group="training-runtime", category="system")
        self._discovery = self.queue.submit(job)
        return job

    def _browse_python(self) -> None:
        dlg = QFileDialog(self, "Choose a Python interpreter (3.10 or newer)")
        dlg.setFileMode(QFileDialog.FileMode.ExistingFile)
        dlg.fileSelected.connect(self._add_python)
        dlg.open()

    def _add_python(self, path: str) -> None:
        if not path:
            return
        idx = self.python_combo.findData(path)
        if idx < 0:
            self.python_combo.addItem(f"{path} (chosen)", path)
            idx = self.python_combo.count() - 1
        self.python_combo.setCurrentIndex(idx)

    def _choose_existing(self) -> None:
        dlg = QFileDialog(self, "Choose the environment's folder (or its python)")
        dlg.setFileMode(QFileDialog.FileMode.Directory)
        dlg.fileSelected.connect(lambda p: self.start("existing", p) if p else None)
        dlg.open()

    # --- rendering --------------------------------------------------------------------------
    def _details_toggled(self, on: bool) -> None:
        layout = self.layout()
        if isinstance(layout, QVBoxLayout):  # the log takes the room when shown, else nobody
            layout.setStretch(layout.count() - 1, 0 if on else 1)
        if on and self.job is not None:
            self.log_view.setPlainText(self.job.log.text()[-20000:])

    def _render_idle(self) -> None:
        st = self.manager.status()
        ready = st.state == "ready" or (st.kind in ("external", "source") and st.exists)
        mark = "&#10003;" if ready else "&#9888;"
        self.status_label.setText(f"<b>{mark} {st.describe()}</b>")
        busy = self.job is not None and not self.job.state.finished
        managed = st.kind == "managed" or self.manager.has_partial()
        self.setup_button.setVisible(not (st.kind == "managed" and st.state == "ready"))
        self.setup_button.setText("Continue setting up" if self.manager.has_partial()
                                  and st.state != "ready" else "Set up training runtime")
        self.repair_button.setVisible(managed)
        self.remove_button.setVisible(managed)
        for b in (self.setup_button, self.repair_button, self.existing_button,
                  self.remove_button, self.python_combo):
            b.setEnabled(not busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.message.setVisible(busy or bool(self.message.text()))
        has_error = bool(self.error_label.text())
        self.error_label.setVisible(has_error)
        self.retry_button.setVisible(has_error and self._last_action is not None)
        self.details_button.setVisible(self.job is not None)

    def _refresh(self) -> None:
        self._fill_pythons()
        job = self.job
        if job is None:
            self._timer.stop()
            self._render_idle()
            return
        if job.progress is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(job.progress * 1000))
        self.message.setText(job.message)
        if self.log_view.isVisible():
            text = job.log.text()
            if text != self.log_view.toPlainText():
                self.log_view.setPlainText(text[-20000:])
        if job.state.finished:
            self._timer.stop()
            self._finished(job)
        self._render_idle()

    def _finished(self, job: Job) -> None:
        if getattr(job, "_ui_seen", False):
            return
        job._ui_seen = True  # type: ignore[attr-defined]
        if job.state is JobState.SUCCEEDED:
            self.error_label.clear()
            self.message.setText(job.message or "done")
            st = self.manager.status()
            if self._last_action and self._last_action[0] == "remove":
                self.runtime_removed.emit()
            elif st.python:
                self.runtime_ready.emit(st.python)
        elif job.state is JobState.CANCELLED:
            self._show_error("Cancelled. Press Retry to continue where it stopped.")
        else:
            self._show_error(job.error or "failed")
        self.job_finished.emit(job)

    def _show_error(self, text: str, retry: bool = True) -> None:
        self.error_label.setText(text)
        if not retry:
            self._last_action = None
        self._render_idle()

    def _fill_pythons(self) -> None:
        job = self._discovery
        if job is None or not job.state.finished or job.result is None or self.pythons:
            return
        self.pythons = list(job.result)
        best = next((c for c in self.pythons if c.usable), None)
        if best is not None:
            self.python_combo.setItemText(0, f"Best found: {best.label}")
        for c in self.pythons:
            if c.usable and self.python_combo.findData(c.path) < 0:
                self.python_combo.addItem(c.label, c.path)
        if best is None:
            from phi4studio.core.runtime.pythons import no_python_message

            self.error_label.setText(no_python_message(self.pythons))
            self._render_idle()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._discovery is None and self.manager.needs_setup():
            self.find_pythons()
            self._timer.start()


class RuntimeSetupDialog(QDialog):
    """The panel in a non-modal dialog (show it with `.show()`, never `.exec()`)."""

    def __init__(self, manager: RuntimeManager, queue: JobQueue,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Training runtime")
        self.setModal(False)
        self.panel = RuntimeSetupPanel(manager, queue, self)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        box.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.panel, 1)
        lay.addWidget(box)
        self.resize(720, 420)


def offer_runtime_setup(parent: QWidget, studio: Any) -> RuntimeSetupDialog | None:
    """Open the setup dialog if the app has no usable training runtime (else None)."""
    manager = RuntimeManager.for_studio(studio)
    if not manager.needs_setup(studio.runtime_info):
        return None
    dlg = RuntimeSetupDialog(manager, studio.queue, parent)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    dlg.raise_()
    return dlg
