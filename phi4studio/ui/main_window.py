"""The main window: a thin shell of tabs, menus, status bar, the Jobs dock and the error banner."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from phi4studio import APP_NAME, __version__
from phi4studio.core.environment import describe_inference, describe_runtime
from phi4studio.core.errors import StudioError
from phi4studio.core.jobs import Job
from phi4studio.core.studio import Studio
from phi4studio.ui.preferences import PreferencesDialog
from phi4studio.ui.widgets.banner import ErrorBanner
from phi4studio.ui.widgets.jobs_panel import JobsPanel

log = logging.getLogger(__name__)

TAB_NAMES = ("Datasets", "Train", "Export", "Playground", "Evaluate")


class MainWindow(QMainWindow):
    closed = Signal()
    quickstart_requested = Signal()  # Help > Quick start... (app.py opens the page)

    def __init__(self, studio: Studio, tabs: dict[str, QWidget]) -> None:
        super().__init__()
        self.studio = studio
        self.setWindowTitle(f"{APP_NAME} — {studio.workspace.root}")
        self.resize(1280, 820)

        self.banner = ErrorBanner(self)
        self.banner.open_log_requested.connect(self.open_log_folder)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        for name in TAB_NAMES:
            self.tabs.addTab(tabs[name], name)
        central = QWidget(self)
        lay = QVBoxLayout(central)
        lay.setContentsMargins(6, 6, 6, 0)
        lay.addWidget(self.banner)
        lay.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.jobs_panel = JobsPanel(studio.queue, self)
        self.jobs_dock = QDockWidget("Jobs", self)
        self.jobs_dock.setObjectName("jobsDock")
        self.jobs_dock.setWidget(self.jobs_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.jobs_dock)

        self.workspace_label = QLabel(self)
        self.devices_label = QLabel("inference: detecting...", self)
        self.runtime_label = QLabel("training runtime: checking...", self)
        sb = self.statusBar()
        sb.addPermanentWidget(self.workspace_label)
        sb.addPermanentWidget(self.devices_label)
        sb.addPermanentWidget(self.runtime_label)
        self._build_menus()
        self._refresh_workspace()
        self._restore_geometry()
        self._background: set[asyncio.Future[object]] = set()
        self._quit_confirmed = False
        self.quit_box: QMessageBox | None = None
        self.runtime_dialog: QWidget | None = None
        self._runtime_offered = False
        self.tabs.currentChanged.connect(self._offer_runtime_setup)

    # --- menus ------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.act_new_ws = file_menu.addAction("&New workspace...", self.choose_new_workspace)
        self.act_open_ws = file_menu.addAction("&Open workspace...", self.choose_open_workspace)
        self.act_open_ws.setShortcut(QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Recent workspaces")
        file_menu.addSeparator()
        prefs = file_menu.addAction("&Preferences...", self.show_preferences)
        prefs.setShortcut(QKeySequence.StandardKey.Preferences)
        file_menu.addSeparator()
        quit_act = file_menu.addAction("&Quit", self.close)
        quit_act.setShortcut(QKeySequence.StandardKey.Quit)

        view = mb.addMenu("&View")
        view.addAction(self.jobs_dock.toggleViewAction())
        for i, name in enumerate(TAB_NAMES):
            act = QAction(name, self)
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            act.triggered.connect(lambda _=False, i=i: self.tabs.setCurrentIndex(i))
            view.addAction(act)

        help_menu = mb.addMenu("&Help")
        self.act_quickstart = help_menu.addAction("&Quick start...",
                                                  lambda: self.quickstart_requested.emit())
        help_menu.addSeparator()
        help_menu.addAction("&About", self.show_about)
        help_menu.addAction("Open &log folder", self.open_log_folder)

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        current = str(self.studio.workspace.root)
        for path in self.studio.settings.recent_workspaces:
            act = self.recent_menu.addAction(path)
            act.setEnabled(path != current)
            act.triggered.connect(lambda _=False, p=path: self.switch_workspace(Path(p)))
        self.recent_menu.setEnabled(bool(self.studio.settings.recent_workspaces))

    def _refresh_workspace(self) -> None:
        root = self.studio.workspace.root
        self.workspace_label.setText(f"workspace: {root.name}")
        self.workspace_label.setToolTip(str(root))
        self.setWindowTitle(f"{APP_NAME} — {root}")
        self._refresh_recent()

    # --- status ------------------------------------------------------------------------------
    def update_environment(self) -> None:
        self.devices_label.setText(describe_inference(self.studio.inference_info))
        info = self.studio.inference_info or {}
        self.devices_label.setToolTip(info.get("error") or info.get("package") or "")
        self.runtime_label.setText(describe_runtime(self.studio.runtime_info))

    def run_probes(self) -> None:
        """Detect devices and the training runtime as real background jobs."""
        for job in (self.studio.probe_inference_job(), self.studio.probe_runtime_job()):
            if job is not None:
                self.studio.queue.submit(job)
                self._when_done(job)
        self.update_environment()

    def _when_done(self, job: Job) -> None:
        fut = asyncio.ensure_future(self.studio.queue.wait(job))
        self._background.add(fut)

        def done(f: asyncio.Future[object]) -> None:
            self._background.discard(f)
            self.update_environment()

        fut.add_done_callback(done)

    # --- actions ----------------------------------------------------------------------------
    def show_error(self, message: str, details: str = "") -> None:
        self.banner.show_error(message, details)

    def show_preferences(self) -> PreferencesDialog:
        dlg = PreferencesDialog(self.studio.settings, self._apply_settings, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()  # never exec(): the event loop keeps running
        return dlg

    def _apply_settings(self, values: dict[str, object]) -> object:
        from phi4studio.app import apply_theme

        new = self.studio.update_settings(values)
        apply_theme(new.theme)
        if new.workspace and Path(new.workspace).resolve() != self.studio.workspace.root:
            self.switch_workspace(Path(new.workspace))
        return new

    def show_about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle(f"About {APP_NAME}")
        box.setText(
            f"<b>{APP_NAME}</b> {__version__}<br>Fine-tune Phi-4-family models for tool calling "
            "and run them locally with ONNX Runtime GenAI."
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def open_log_folder(self) -> None:
        folder = self.studio.dirs.logs
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def choose_new_workspace(self) -> None:
        self._pick_folder("New workspace: choose an empty folder")

    def choose_open_workspace(self) -> None:
        self._pick_folder("Open workspace")

    def _pick_folder(self, title: str) -> None:
        dlg = QFileDialog(self, title)
        dlg.setFileMode(QFileDialog.FileMode.Directory)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.fileSelected.connect(lambda p: self.switch_workspace(Path(p)))
        dlg.open()

    def switch_workspace(self, root: Path) -> bool:
        try:
            self.studio.switch_workspace(root)
        except StudioError as exc:
            self.show_error(exc.message + (f" {exc.hint}" if exc.hint else ""))
            return False
        self._refresh_workspace()
        self.statusBar().showMessage(f"Opened workspace {root}", 5000)
        return True

    def _offer_runtime_setup(self, index: int) -> None:
        """First visit to Train or Export without a usable training runtime: offer to set one
        up (a non-modal dialog, once a session); the status bar follows what it does."""
        if self._runtime_offered or self.tabs.tabText(index) not in ("Train", "Export"):
            return
        self._runtime_offered = True
        from phi4studio.ui.widgets.runtime_setup import offer_runtime_setup

        dlg = offer_runtime_setup(self, self.studio)
        if dlg is not None:
            self.runtime_dialog = dlg
            dlg.panel.runtime_ready.connect(lambda _python: self.run_probes())
            dlg.panel.runtime_removed.connect(self.run_probes)

    def _confirm_quit(self, n: int) -> None:
        if self.quit_box is not None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning, "Quit Phi-4 Studio",
            f"{n} job(s) are still running. Quit and cancel them? Training saves a checkpoint "
            "first, so it can be resumed.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        self.quit_box = box

        def answered(result: int) -> None:
            self.quit_box = None
            if result == QMessageBox.StandardButton.Yes:
                self._quit_confirmed = True
                self.close()

        box.finished.connect(answered)
        box.open()

    # --- window state -----------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        qs = QSettings()
        geo = qs.value("main/geometry")
        state = qs.value("main/state")
        if geo is not None:
            self.restoreGeometry(geo)
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        active = [j for j in self.studio.queue.active() if not j.long_lived]
        if active and not self._quit_confirmed:
            event.ignore()  # ask first; never exec(): the jobs keep running meanwhile
            self._confirm_quit(len(active))
            return
        qs = QSettings()
        qs.setValue("main/geometry", self.saveGeometry())
        qs.setValue("main/state", self.saveState())
        self.jobs_panel.detach()
        for i in range(self.tabs.count()):  # tabs stop their timers and listeners
            stop = getattr(self.tabs.widget(i), "shutdown", None)
            if callable(stop):
                try:
                    stop()
                except Exception:  # closing must go on; the error is logged
                    log.exception("tab %s failed to shut down", self.tabs.tabText(i))
        for fut in list(self._background):
            fut.cancel()
        guard = getattr(self, "gc_guard", None)
        if guard is not None:
            guard.stop()  # automatic garbage collection back on
        super().closeEvent(event)
        self.closed.emit()
