"""The main window bound to real jobs, real settings and a real workspace catalog."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt

from phi4studio.core.jobs import JobState, SubprocessJob, worker_argv
from phi4studio.ui.main_window import TAB_NAMES
from phi4studio.ui.widgets.jobs_panel import COL_CANCEL, COL_STATE
from tests.ui.conftest import run


async def until(pred, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def state_cell(window, job) -> str:  # type: ignore[no-untyped-def]
    model = window.jobs_panel.model
    return str(model.index(model.row_of(job), COL_STATE).data())


def test_shell_has_tabs_menus_and_status(window) -> None:  # type: ignore[no-untyped-def]
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert tabs == list(TAB_NAMES)
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "View", "Help"]
    file_items = [a.text().replace("&", "") for a in window.menuBar().actions()[0].menu().actions()]
    for item in ("New workspace...", "Open workspace...", "Recent workspaces", "Quit"):
        assert item in file_items
    assert window.jobs_dock.isVisible()
    assert "workspace" in window.workspace_label.text()
    recents = [a.text() for a in window.recent_menu.actions()]
    assert recents == [str(window.studio.workspace.root)]


def test_jobs_dock_follows_a_real_job_and_cancels_it(window, qloop, qtbot) -> None:  # type: ignore[no-untyped-def]
    queue = window.studio.queue
    job = queue.submit(SubprocessJob(
        "long job", worker_argv("selfcheck", "--steps", "100000", "--interval", "0.02")))
    run(qloop, until(lambda: (job.progress or 0) > 0 and state_cell(window, job) == "running"))
    # the row's Cancel button, clicked like a user would
    table = window.jobs_panel.table
    rect = table.visualRect(window.jobs_panel.model.index(window.jobs_panel.model.row_of(job),
                                                           COL_CANCEL))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    state = run(qloop, queue.wait(job))
    assert state is JobState.CANCELLED
    run(qloop, until(lambda: state_cell(window, job) == "cancelled"))
    window.jobs_panel.select_job(job)
    # the log view follows the job at the dock's 10 Hz refresh
    run(qloop, until(lambda: "cancelled at step" in window.jobs_panel.log_view.toPlainText()))
    assert not window.jobs_panel.cancel_button.isEnabled()


def test_failed_job_shows_its_error(window, qloop) -> None:  # type: ignore[no-untyped-def]
    queue = window.studio.queue
    job = queue.submit(SubprocessJob("failing", worker_argv("selfcheck", "--fail-at", "2")))
    assert run(qloop, queue.wait(job)) is JobState.FAILED
    run(qloop, until(lambda: state_cell(window, job) == "failed"))
    model = window.jobs_panel.model
    tip = model.index(model.row_of(job), COL_STATE).data(Qt.ItemDataRole.ToolTipRole)
    assert "simulated failure at step 2" in tip


def test_history_survives_restart_and_running_jobs_become_interrupted(
    window, qloop, home
) -> None:  # type: ignore[no-untyped-def]
    from phi4studio.app import build_window
    from phi4studio.core.studio import Studio

    studio = window.studio
    done = studio.queue.submit(SubprocessJob("finished before", worker_argv("selfcheck")))
    run(qloop, studio.queue.wait(done))
    # a job the catalog still believes is running (the app died under it)
    ghost = SubprocessJob("running when the app died", worker_argv("selfcheck"))
    ghost.state = JobState.RUNNING
    studio.workspace.catalog.record_job(ghost)

    again = Studio.open()
    try:
        w2 = build_window(again)
        ids = {j.id: j for j in again.queue.jobs}
        assert ids[done.id].state is JobState.SUCCEEDED
        assert ids[ghost.id].state is JobState.INTERRUPTED
        w2.jobs_panel.model.flush()
        assert state_cell(w2, ids[ghost.id]) == "interrupted"
        w2.jobs_panel.select_job(ids[done.id])
        assert "selfcheck" in w2.jobs_panel.log_view.toPlainText()  # the log came from its file
        w2.close()
    finally:
        again.close()


def test_excepthook_logs_and_shows_a_banner(window, home) -> None:  # type: ignore[no-untyped-def]
    from phi4studio.app import ExceptHook
    from phi4studio.core.logs import setup_logging

    log_file = setup_logging(home / "logs")
    hook = ExceptHook(window.show_error)
    try:
        raise ValueError("something specific broke")
    except ValueError:
        hook(*sys.exc_info())  # type: ignore[arg-type]
    assert window.banner.isVisible()
    assert "something specific broke" in window.banner.message
    for h in logging.getLogger().handlers:
        h.flush()
    assert log_file is not None and "something specific broke" in log_file.read_text()


def test_corrupt_settings_are_kept_and_reported(qloop, home, qtbot) -> None:  # type: ignore[no-untyped-def]
    from phi4studio.app import build_window
    from phi4studio.core.studio import Studio

    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.json").write_text("{broken", encoding="utf-8")
    studio = Studio.open()
    w = build_window(studio)
    try:
        assert not w.banner.isHidden() and "could not be read" in w.banner.message
        kept = list((home / "config").glob("settings.corrupt-*.json"))
        assert len(kept) == 1 and kept[0].read_text() == "{broken"
    finally:
        w.close()
        studio.close()


def test_preferences_dialog_saves_validated_values(window, home) -> None:  # type: ignore[no-untyped-def]
    dlg = window.show_preferences()
    spin = dlg.editors["cpu_job_slots"]
    spin.setValue(3)
    dlg.editors["theme"].setCurrentText("dark")
    dlg._accept()
    saved = json.loads((home / "config" / "settings.json").read_text())
    assert saved["cpu_job_slots"] == 3 and saved["theme"] == "dark"
    assert window.studio.queue.capacities["cpu"] == 3
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    window_color = QApplication.instance().palette().color(QPalette.ColorRole.Window)
    assert window_color.lightness() < 80  # the dark theme is applied, not just saved

    dlg2 = window.show_preferences()
    dlg2._apply = lambda values: window.studio.update_settings({**values, "cpu_job_slots": 0})
    dlg2._accept()
    assert dlg2.isVisible() and "cpu_job_slots" in dlg2.error.text()
    assert json.loads((home / "config" / "settings.json").read_text())["cpu_job_slots"] == 3
    dlg2.close()
    window.studio.update_settings({"theme": "system"})
    from phi4studio.app import apply_theme

    apply_theme("system")


def test_workspace_switch_refused_while_jobs_run(window, qloop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    queue = window.studio.queue
    job = queue.submit(SubprocessJob(
        "busy", worker_argv("selfcheck", "--steps", "100000", "--interval", "0.02")))
    run(qloop, until(lambda: job.state is JobState.RUNNING))
    assert not window.switch_workspace(tmp_path / "other")
    assert "still running" in window.banner.message
    queue.cancel(job)
    run(qloop, queue.wait(job))
    assert window.switch_workspace(tmp_path / "other")
    assert window.studio.workspace.root == (tmp_path / "other").resolve()
    assert (tmp_path / "other" / "catalog.sqlite").exists()
    assert str((tmp_path / "other").resolve()) in [a.text() for a in window.recent_menu.actions()]


def test_unwritable_workspace_gives_a_clear_error(window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert not window.switch_workspace(blocker / "ws")
    assert str(blocker) in window.banner.message


@pytest.mark.parametrize("n", [3000])
def test_qt_signal_emit_keeps_refcounts(qapp, n: int) -> None:  # type: ignore[no-untyped-def]
    """PySide6 6.12.0 dropped a reference to True on every Signal.emit(): guard against it."""
    from PySide6.QtCore import QObject, Signal

    class S(QObject):
        sig = Signal()

    s = S()
    s.sig.connect(lambda: None)
    before = sys.getrefcount(True)
    for _ in range(n):
        s.sig.emit()
    assert abs(sys.getrefcount(True) - before) < 50


def test_banner_point_is_not_covering_tabs(window) -> None:  # type: ignore[no-untyped-def]
    window.show_error("first")
    window.show_error("second")
    assert "(+1 earlier)" in window.banner.label.text()
    window.banner.dismiss()
    assert not window.banner.isVisible()
    assert window.tabs.childAt(QPoint(5, 5)) is not None or window.tabs.isVisible()


def test_quit_asks_while_jobs_run(window, qloop) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QMessageBox

    queue = window.studio.queue
    job = queue.submit(SubprocessJob(
        "busy", worker_argv("selfcheck", "--steps", "100000", "--interval", "0.02")))
    run(qloop, until(lambda: job.state is JobState.RUNNING))
    window.close()
    assert window.isVisible() and window.quit_box is not None  # asked, not closed
    window.quit_box.done(QMessageBox.StandardButton.No)
    assert window.isVisible() and job.state is JobState.RUNNING
    window.close()
    window.quit_box.done(QMessageBox.StandardButton.Yes)
    assert not window.isVisible()
    assert run(qloop, queue.shutdown(timeout=15)) is None
    assert job.state is JobState.CANCELLED


def test_quit_does_not_ask_about_long_lived_services(window, qloop) -> None:  # type: ignore[no-untyped-def]
    queue = window.studio.queue
    svc = queue.submit(SubprocessJob(
        "a loaded model", worker_argv("selfcheck", "--steps", "100000", "--interval", "0.02"),
        long_lived=True))
    run(qloop, until(lambda: svc.state is JobState.RUNNING))
    window.close()
    assert window.quit_box is None and not window.isVisible()
    assert run(qloop, queue.shutdown(timeout=15)) is None
    assert svc.state is JobState.CANCELLED


def test_playground_mounts_the_serve_panel_and_tabs_shut_down_on_close(window) -> None:  # type: ignore[no-untyped-def]
    from phi4studio.ui.widgets.serve_panel import ServePanel

    pg = window.tabs.widget(TAB_NAMES.index("Playground"))
    panels = pg.findChildren(ServePanel)
    assert len(panels) == 1 and panels[0].ctl.state == "stopped"
    train = window.tabs.widget(TAB_NAMES.index("Train"))
    window.close()
    assert not panels[0]._timer.isActive()
    assert not train.timer.isActive()


def test_datasets_and_playground_share_one_library(window) -> None:  # type: ignore[no-untyped-def]
    datasets = window.tabs.widget(TAB_NAMES.index("Datasets"))
    playground = window.tabs.widget(TAB_NAMES.index("Playground"))
    assert datasets.library is playground.library is window.studio.library
    seen: list[tuple[str, object]] = []
    window.studio.library.add_listener(lambda kind, ds: seen.append((kind, ds)))
    created = playground.library.create(playground.library.unique_name("From the playground"))
    assert any(ds == created.id for _, ds in seen)
    assert created.id in [d.id for d in datasets.library.datasets()]


def test_train_tab_offers_runtime_setup_once_when_none_is_usable(window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from phi4studio.ui.widgets.runtime_setup import RuntimeSetupDialog

    window.studio.settings.training_python = str(tmp_path / "no-such" / "python")
    window.tabs.setCurrentIndex(TAB_NAMES.index("Train"))
    dlg = window.runtime_dialog
    assert isinstance(dlg, RuntimeSetupDialog) and dlg.isVisible()
    dlg.close()
    window.tabs.setCurrentIndex(0)
    window.tabs.setCurrentIndex(TAB_NAMES.index("Export"))
    assert window.runtime_dialog is dlg  # offered once a session, not on every visit


def test_no_runtime_offer_when_the_runtime_is_usable(window) -> None:  # type: ignore[no-untyped-def]
    window.tabs.setCurrentIndex(TAB_NAMES.index("Export"))  # from source: our own interpreter
    assert window.runtime_dialog is None


def test_garbage_is_collected_on_the_gui_thread_only(window: Any, qloop: Any) -> None:
    import gc
    import threading

    assert not gc.isenabled() and window.gc_guard.active
    collected_in: list[str] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            collected_in.append(threading.current_thread().name)

    def worker() -> None:  # garbage made, and lots of allocation, off the GUI thread
        Cycle()
        _ = [[i] for i in range(200_000)]

    t = threading.Thread(target=worker, name="worker")
    t.start()
    t.join()
    assert collected_in == []  # nothing collected on the worker
    keep = [[] for _ in range(gc.get_threshold()[0] + 10)]  # past the first threshold
    run(qloop, asyncio.sleep(0.6))  # the guard's timer collects the young generation
    assert gc.get_count()[0] < len(keep)
    del keep
    window.close()  # the rest is collected here, and automatic collection is back on
    assert collected_in == [threading.main_thread().name]
    assert gc.isenabled() and not window.gc_guard.active
