"""The Export tab for real: the wizard driven like a user to a real FP32 export of the tiny
Phi3 (job in the Jobs dock, verification figures in the list), Open in Playground through the
handoff, delete with a non-blocking confirmation, and the wizard's refusals on screen."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from phi4studio.core.export import Page
from phi4studio.core.handoff import OpenModelRequest
from phi4studio.core.jobs import JobState
from tests.ui.conftest import run


async def until(pred: Any, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def export_tab(window: Any) -> Any:
    from phi4studio.ui.tabs.export.view import ExportView

    view = window.tabs.widget(2)
    assert isinstance(view, ExportView)
    window.tabs.setCurrentWidget(view)
    return view


def test_the_wizard_exports_the_tiny_model(window: Any, qloop: Any, qtbot: Any,
                                           tiny_phi3_hf_dir: Path) -> None:
    view = export_tab(window)
    assert view.empty.isVisible() and view.model.rowCount() == 0
    view.new_button.click()
    wiz = view.wizard
    assert view.stack.currentWidget() is wiz and wiz.wiz.page is Page.SOURCE
    assert not wiz.next_button.isEnabled()
    wiz.path_edit.setText(str(tiny_phi3_hf_dir))
    wiz.path_edit.editingFinished.emit()
    assert "parameters" in wiz.source_info.text() and wiz.next_button.isEnabled()
    assert "Adapter" not in wiz.steps.text()  # an HF folder: no strategy page
    wiz.next_button.click()
    assert wiz.wiz.page is Page.TARGET and wiz.targets.buttons["cpu"].isChecked()
    wiz.next_button.click()
    assert wiz.wiz.page is Page.PRECISION
    assert not wiz.precisions.buttons["bf16"].isEnabled()
    assert "BF16" in wiz.precisions.reasons["bf16"].text()
    algos = [wiz.algo_combo.itemData(i) for i in range(wiz.algo_combo.count())]
    assert algos == ["rtn", "k_quant", "k_quant_mixed"]  # no GPU: no GPTQ/AWQ
    wiz.precisions.buttons["fp32"].click()
    assert wiz.wiz.draft.precision == "fp32" and not wiz.int4_box.isVisible()
    wiz.next_button.click()
    assert wiz.wiz.page is Page.OUTPUT
    assert wiz.out_edit.text().endswith("-fp32-cpu")
    wiz.prompts_spin.setValue(2)
    wiz.tokens_spin.setValue(10)
    wiz.next_button.click()
    assert wiz.wiz.page is Page.SUMMARY and wiz.export_button.isVisible()
    text = wiz.summary.toPlainText()
    assert "Steps: build -> reference -> verify" in text and "Estimated size" in text
    wiz.export_button.click()
    assert view.stack.currentIndex() == 0
    [job] = [j for j in window.studio.queue.jobs if j.category == "export"]
    assert "Jobs dock" in view.status.text()
    run(qloop, until(lambda: job.state.finished), timeout=180)
    assert job.state is JobState.SUCCEEDED, job.error
    run(qloop, until(lambda: view.model.rowCount() == 1 and
                     view.model.records[0].status == "ready"), timeout=10)
    row = {view.model.headerData(c, Qt.Orientation.Horizontal): view.model.index(0, c).data()
           for c in range(view.model.columnCount())}
    assert row["Agreement"] == "100.0%" and row["Target"] == "cpu" and row["Status"] == "ready"
    assert row["Recipe"].startswith("FP32") and row["Size"].endswith("MB")
    view.select(view.model.records[0].id)
    assert "token agreement 100.0%" in view.details.text()
    # Open in Playground: the request goes through the handoff
    got: list[OpenModelRequest] = []
    playground = window.tabs.widget(3)
    if hasattr(playground, "open_model"):
        window.studio.handoff.unsubscribe(OpenModelRequest, playground.open_model)
    window.studio.handoff.subscribe(OpenModelRequest, got.append)
    assert view.open_button.isEnabled()
    view.open_button.click()
    [req] = got
    record = view.model.records[0]
    assert (req.model_dir, req.provider, req.export_id) == (record.path, "cpu", record.id)
    assert "opened in the Playground" in view.status.text()

    # delete: a non-blocking confirmation; Cancel keeps it, Yes removes row and folder
    folder = record.path
    view.delete_button.click()
    assert isinstance(view.dialog, QMessageBox) and view.dialog.isVisible()
    view.dialog.done(QMessageBox.StandardButton.Cancel)
    assert folder.exists() and view.model.rowCount() == 1
    view.delete_button.click()
    view.dialog.done(QMessageBox.StandardButton.Yes)
    assert not folder.exists() and view.model.rowCount() == 0


def test_the_wizard_shows_why_and_asks_before_using_a_folder(window: Any, qloop: Any,
                                                              tiny_phi3_hf_dir: Path,
                                                              tiny_phi3_lora_dir: Path) -> None:
    from fixtures.exports import RUN_ID, add_run

    from phi4studio.core.training.service import ExportRunRequest

    run_dir = add_run(window.studio.workspace.root, tiny_phi3_hf_dir,
                      tiny_phi3_lora_dir / "peft")
    view = export_tab(window)
    view.new_button.click()
    wiz = view.wizard
    assert wiz.run_combo.findData(RUN_ID) > 0
    wiz.cancel_button.click()
    # "Export this run" in the Train tab: the Export tab opens its wizard on that run
    window.tabs.setCurrentIndex(0)
    window.studio.handoff.publish(ExportRunRequest(
        run_id=RUN_ID, run_dir=run_dir, adapter=run_dir / "adapter",
        base_model=str(tiny_phi3_hf_dir), label="tiny run"))
    assert window.tabs.currentWidget() is view and view.stack.currentWidget() is wiz
    assert wiz.wiz.source_info is not None and wiz.wiz.source_info.has_adapter
    assert wiz.wiz.draft.source is not None and wiz.wiz.draft.source.run_id == RUN_ID
    assert "Adapter" in wiz.steps.text()
    wiz.next_button.click()
    wiz.targets.buttons["dml"].click()
    wiz.next_button.click()
    assert [v for v, b in wiz.precisions.buttons.items() if b.isEnabled()] == ["int4", "fp16"]
    wiz.precisions.buttons["fp16"].click()
    wiz.next_button.click()
    assert wiz.wiz.page is Page.STRATEGY
    assert not wiz.strategies.buttons["adapter"].isEnabled()
    assert "DirectML does not support" in wiz.strategies.reasons["adapter"].text()
    wiz.back_button.click()
    wiz.back_button.click()
    wiz.targets.buttons["cpu"].click()
    wiz.next_button.click()
    wiz.precisions.buttons["int4"].click()
    wiz.next_button.click()
    assert "garbage" in wiz.strategies.reasons["adapter"].text()
    wiz.next_button.click()
    taken = Path(wiz.out_edit.text())
    taken.mkdir(parents=True)
    (taken / "mine.txt").write_text("keep")
    wiz.out_edit.editingFinished.emit()
    assert not wiz.next_button.isEnabled() and wiz.use_free.isVisible()
    assert "is not empty" in wiz.findings.text()
    wiz.use_free.click()
    assert wiz.out_edit.text() == f"{taken}-2" and wiz.next_button.isEnabled()
    assert (taken / "mine.txt").read_text() == "keep"
    wiz.cancel_button.click()
    assert view.stack.currentIndex() == 0 and not window.studio.queue.active()
