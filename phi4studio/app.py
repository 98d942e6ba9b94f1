"""Composition root: QApplication, the qasync loop, the excepthook, the Studio services, MainWindow.

Nothing heavy is imported here: torch, transformers and onnxruntime_genai load only inside the
subprocesses that need them, so the window paints fast.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from phi4studio import APP_ID, APP_NAME, __version__
from phi4studio.core.errors import StudioError
from phi4studio.core.logs import setup_logging
from phi4studio.core.paths import app_dirs
from phi4studio.core.studio import Studio

if TYPE_CHECKING:
    import qasync

log = logging.getLogger(__name__)


def ensure_display() -> None:
    """Use Qt's offscreen platform where there is no display (CI, SSH, selftest on a server)."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def make_qapp() -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        ensure_display()
        app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_ID)
    app.setOrganizationName(APP_ID)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    # Window geometry lives beside settings.json (so PHI4STUDIO_HOME moves it too).
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(app_dirs().config))
    return app


def apply_theme(theme: str) -> None:
    """system: the platform's look; light / dark: Qt's Fusion style with a matching palette."""
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QStyleFactory

    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    if not hasattr(app, "_studio_default_style"):
        app._studio_default_style = app.style().name()  # type: ignore[attr-defined]
        app._studio_default_palette = QPalette(app.palette())  # type: ignore[attr-defined]
    if theme == "system":
        app.setStyle(QStyleFactory.create(app._studio_default_style))  # type: ignore[attr-defined]
        app.setPalette(app._studio_default_palette)  # type: ignore[attr-defined]
        return
    app.setStyle(QStyleFactory.create("Fusion"))
    pal = QPalette()
    if theme == "dark":
        c = QPalette.ColorRole
        for role, color in ((c.Window, "#202124"), (c.WindowText, "#e8eaed"),
                            (c.Base, "#17181a"), (c.AlternateBase, "#26272b"),
                            (c.Text, "#e8eaed"), (c.Button, "#2d2e31"),
                            (c.ButtonText, "#e8eaed"), (c.Highlight, "#1f6feb"),
                            (c.HighlightedText, "#ffffff"), (c.ToolTipBase, "#2d2e31"),
                            (c.ToolTipText, "#e8eaed"), (c.PlaceholderText, "#9aa0a6")):
            pal.setColor(role, QColor(color))
    app.setPalette(pal)


def build_tabs(studio: Studio, training: Any = None) -> dict[str, QWidget]:
    """Each tab gets its state and services here, and nothing global."""
    from phi4studio.core.training.service import TrainingService
    from phi4studio.ui.tabs.datasets.view import DatasetsView
    from phi4studio.ui.tabs.evaluate.view import EvaluateView
    from phi4studio.ui.tabs.export.view import ExportView
    from phi4studio.ui.tabs.playground.view import PlaygroundView
    from phi4studio.ui.tabs.train.view import TrainView

    return {
        "Datasets": DatasetsView(studio),
        "Train": TrainView(training or TrainingService(studio)),
        "Export": ExportView(studio),
        "Playground": PlaygroundView(studio),
        "Evaluate": EvaluateView(studio),
    }


def build_window(studio: Studio) -> Any:
    from phi4studio.core.training.service import TrainingService
    from phi4studio.ui.gc_guard import MainThreadGC
    from phi4studio.ui.main_window import MainWindow
    from phi4studio.ui.quickstart import QuickStartLauncher

    apply_theme(studio.settings.theme)
    training = TrainingService(studio)  # one per session: the quick start's runs show in Train
    tabs = build_tabs(studio, training)
    window = MainWindow(studio, tabs)
    # Python's garbage collection on the GUI thread only: collected off it, Qt objects crash Qt
    window.gc_guard = MainThreadGC(window)
    window.quickstart_launcher = QuickStartLauncher(window, studio, tabs, training)
    for msg in studio.messages:
        window.show_error(msg)
    return window


class ExceptHook:
    """Logs every uncaught exception (threads and the loop too) and shows it in the banner."""

    def __init__(self, show: Callable[[str, str], None] | None = None) -> None:
        self.show = show
        self.count = 0

    def __call__(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        self.count += 1
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("uncaught exception\n%s", details)
        if self.show is not None:
            try:
                self.show(f"Unexpected error: {exc_type.__name__}: {exc}", details)
            except Exception:
                log.exception("could not show the error banner")

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            self(type(exc), exc, exc.__traceback__)
        else:
            log.error("event loop error: %s", context.get("message"))

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        import threading

        sys.excepthook = self
        def thread_hook(a: threading.ExceptHookArgs) -> None:
            self(a.exc_type, a.exc_value or Exception(), a.exc_traceback)

        threading.excepthook = thread_hook
        if loop is not None:
            loop.set_exception_handler(self.loop_handler)


def _fatal(message: str) -> int:
    print(message, file=sys.stderr)
    box = QMessageBox(QMessageBox.Icon.Critical, APP_NAME, message)
    box.exec()  # start-up only, before the event loop runs
    return 1


def make_loop(app: QApplication) -> qasync.QEventLoop:
    """The qasync loop the window runs on.

    qasync's `run_until_complete` processes the pending Qt events once more after the loop has
    stopped, with no running loop set: a task step that runs there (a job started by the step
    before) fails with "no running event loop" inside asyncio. This loop stays the running loop
    for that last pass."""
    import qasync

    class StudioLoop(qasync.QEventLoop):  # type: ignore[misc,name-defined]
        def run_forever(self) -> Any:
            try:
                return super().run_forever()
            finally:
                asyncio.events._set_running_loop(self)  # for run_until_complete's last pass

        def run_until_complete(self, future: Any) -> Any:
            try:
                return super().run_until_complete(future)
            finally:
                asyncio.events._set_running_loop(None)

    return StudioLoop(app)


def run_gui(workspace: Path | None = None) -> int:
    dirs = app_dirs()
    setup_logging(dirs.logs)
    app = make_qapp()
    loop = make_loop(app)
    asyncio.set_event_loop(loop)
    hook = ExceptHook()
    hook.install(loop)
    try:
        studio = Studio.open(dirs, workspace)
    except StudioError as exc:
        return _fatal(str(exc))
    window = build_window(studio)
    hook.show = window.show_error
    closed: asyncio.Future[None] = loop.create_future()
    window.closed.connect(lambda: closed.done() or closed.set_result(None))
    with loop:
        loop.call_soon(window.run_probes)
        window.show()
        from phi4studio.ui.quickstart import should_show_on_start

        if should_show_on_start(studio):  # first run: the guided flow, non-modal
            loop.call_soon(window.quickstart_launcher.show)
        loop.run_until_complete(closed)
        loop.run_until_complete(studio.queue.shutdown(timeout=studio.settings.cancel_grace_s + 10))
    studio.close()
    return 0
