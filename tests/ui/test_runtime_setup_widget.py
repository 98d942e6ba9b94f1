"""The "Set up training runtime" panel on real jobs: it lists the Pythons found, fails clearly
without a network (with Retry), succeeds on retry, records the runtime, then removes it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from phi4studio.core.jobs import JobQueue, JobState
from phi4studio.core.runtime import RuntimeManager
from phi4studio.core.runtime import manager as manager_mod
from phi4studio.core.runtime.pythons import venv_python
from phi4studio.ui.widgets.runtime_setup import RuntimeSetupPanel
from tests.ui.conftest import run


async def until(pred, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def frozen_like(monkeypatch: pytest.MonkeyPatch) -> None:
    """The manager sees an installed app: no interpreter of its own to fall back on."""
    monkeypatch.setattr(manager_mod, "is_frozen", lambda: True)


def test_panel_sets_up_fails_offline_retries_and_removes(
        qloop, qtbot, tmp_path: Path, frozen_like: None) -> None:  # type: ignore[no-untyped-def]
    settings: dict[str, str | None] = {"python": None}
    m = RuntimeManager(tmp_path / "training-runtime", lambda: settings["python"],
                       lambda p: settings.__setitem__("python", p))
    req = tmp_path / "runtime.txt"
    req.write_text("six\n")
    m.worker_args = ["--requirements", str(req), "--verify-script", "none", "--torch-index",
                     "none", "--min-free-gb", "0.5"]
    m.env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    m.env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="http://127.0.0.1:9/simple",
                 PIP_RETRIES="1", PIP_TIMEOUT="3")
    queue = JobQueue({"gpu": 1, "cpu": 2})
    panel = RuntimeSetupPanel(m, queue)
    qtbot.addWidget(panel)
    panel.show()
    try:
        assert "No training runtime is set up" in panel.status_label.text()
        assert panel.setup_button.isVisible() and not panel.remove_button.isVisible()
        run(qloop, until(lambda: panel.pythons != []))  # discovery ran as a job
        assert panel.python_combo.count() >= 2
        assert panel.python_combo.itemText(0).startswith("Best found: Python 3.")
        assert panel.chosen_python() is None  # "best found"
        panel._add_python(sys.executable)
        assert panel.chosen_python() == sys.executable
        job = panel.start("setup")
        assert job is not None and panel.progress.isVisible() and panel.cancel_button.isVisible()
        run(qloop, until(lambda: job.state.finished, 120), timeout=130)
        run(qloop, until(lambda: panel.retry_button.isVisible(), 5))
        assert job.state is JobState.FAILED
        assert "cannot be reached" in panel.error_label.text()
        assert settings["python"] is None
        assert panel.setup_button.text() == "Continue setting up"

        ready: list[str] = []
        panel.runtime_ready.connect(ready.append)
        m.env = None  # the network is back
        panel.retry_button.click()
        retry = panel.job
        assert retry is not None and retry is not job and "repair" in retry.argv
        run(qloop, until(lambda: retry.state.finished, 120), timeout=130)
        run(qloop, until(lambda: bool(ready), 5))
        assert retry.state is JobState.SUCCEEDED, retry.error
        assert ready == [str(venv_python(m.location))] == [settings["python"]]
        assert "Managed training runtime" in panel.status_label.text()
        assert not panel.error_label.isVisible() and not panel.setup_button.isVisible()
        assert panel.repair_button.isVisible() and panel.remove_button.isVisible()

        removed: list[bool] = []
        panel.runtime_removed.connect(lambda: removed.append(True))
        panel.remove_button.click()
        run(qloop, until(lambda: bool(removed), 30))
        assert settings["python"] is None and not m.location.exists()
        assert panel.setup_button.isVisible() and not panel.remove_button.isVisible()
    finally:
        run(qloop, queue.shutdown(timeout=10))
        panel.close()
    assert not panel._timer.isActive()


def test_offer_opens_only_without_a_runtime(qloop, qtbot, home: Path,  # type: ignore[no-untyped-def]
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from phi4studio.app import make_qapp
    from phi4studio.core.studio import Studio
    from phi4studio.ui.widgets.runtime_setup import RuntimeSetupDialog, offer_runtime_setup

    make_qapp()
    studio = Studio.open()
    try:
        from PySide6.QtWidgets import QWidget

        host = QWidget()
        qtbot.addWidget(host)
        assert offer_runtime_setup(host, studio) is None  # from source: this interpreter
        monkeypatch.setattr(manager_mod, "is_frozen", lambda: True)
        dlg = offer_runtime_setup(host, studio)
        assert isinstance(dlg, RuntimeSetupDialog) and dlg.isVisible() and not dlg.isModal()
        assert "No training runtime is set up" in dlg.panel.status_label.text()
        discovery = dlg.panel._discovery
        assert discovery is not None
        run(qloop, until(lambda: discovery.state.finished, 60))
        assert discovery.state is JobState.SUCCEEDED, discovery.error
        dlg.close()
        run(qloop, studio.queue.shutdown(timeout=10))
    finally:
        studio.close()
