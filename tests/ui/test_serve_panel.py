"""The Serve panel (pytest-qt on the real qasync loop): start a server on the tiny model, see
its address and API key, a request in the log table, stop it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai

from phi4studio.core.serve.controller import ServableModel, ServeController
from tests.ui.conftest import run


def test_serve_panel_starts_logs_and_stops(qloop, qtbot, tiny_phi3_onnx_dir: Path,  # type: ignore[no-untyped-def]
                                           tmp_path: Path) -> None:
    from phi4studio.ui.widgets.serve_panel import ServePanel

    tasks: list[asyncio.Task[object]] = []
    ctl = ServeController(lambda job: tasks.append(asyncio.ensure_future(job.run())))
    plain = ServableModel("tiny", tiny_phi3_onnx_dir)
    other = ServableModel("other", tmp_path, {"ft": tmp_path / "ft.onnx_adapter"})
    panel = ServePanel(ctl, list_models=lambda: [plain, other])
    qtbot.addWidget(panel)
    panel.show()
    assert panel.model_box.count() == 2 and panel.adapter_box.count() == 1
    panel.model_box.setCurrentIndex(1)
    assert [panel.adapter_box.itemText(i) for i in range(2)] == ["(base model)", "ft"]
    panel.model_box.setCurrentIndex(0)
    assert not panel.host_edit.isEnabled() and panel.host_edit.text() == "127.0.0.1"
    panel.remote_check.setChecked(True)
    assert panel.host_edit.isEnabled() and panel.host_edit.text() == "0.0.0.0"
    panel.remote_check.setChecked(False)
    panel.port_spin.setValue(0)

    async def scenario() -> None:
        panel.start_btn.click()
        assert ctl.state == "starting" and panel.start_btn.text() == "Stop server"
        assert not panel.model_box.isEnabled()
        while ctl.state == "starting":
            await asyncio.sleep(0.05)
        assert ctl.state == "running", ctl.message
        assert ctl.url is not None and ctl.url in panel.status_label.text()
        assert not panel.key_row.isVisible()  # loopback: no key
        oc = openai.AsyncOpenAI(base_url=ctl.url, api_key="x", max_retries=0)
        r = await oc.chat.completions.create(
            model=tiny_phi3_onnx_dir.name, max_tokens=3,
            messages=[{"role": "user", "content": "hello panel"}])
        for _ in range(100):
            await asyncio.sleep(0.05)
            if panel.log_model.rowCount() == 1:
                break
        assert panel.log_model.rowCount() == 1
        row = [panel.log_model.index(0, c).data() for c in range(8)]
        assert row[1] == "OpenAI" and row[7] == "200 " + (r.choices[0].finish_reason or "")
        assert row[4] == f"{r.usage.prompt_tokens} / {r.usage.completion_tokens}"  # type: ignore[union-attr]
        panel.start_btn.click()
        while ctl.state != "stopped":
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks)
        assert panel.start_btn.text() == "Start server" and panel.model_box.isEnabled()

    run(qloop, scenario(), timeout=90)
    # an API key (off loopback, or chosen) is shown while the server runs
    ctl.api_key, ctl.state = "p4s-test", "running"
    panel._show_state()
    assert panel.key_row.isVisibleTo(panel) and panel.key_edit.text() == "p4s-test"
    ctl.state = "stopped"
    panel._show_state()
    assert not panel.key_row.isVisibleTo(panel)
    panel.close()
    assert not panel._timer.isActive()
