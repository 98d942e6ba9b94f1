"""The Train tab bound to a real (tiny) run: form, presets, plan, launch, live charts, history,
overlay of runs, export hand-off; and the LossChart widget on its own."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

from fixtures.tool_data import TOOLS, tool_examples, write_jsonl
from PySide6.QtCore import QItemSelectionModel, Qt

from phi4studio.ui.main_window import TAB_NAMES
from phi4studio.ui.widgets.loss_chart import LossChart, decimate, nice_ticks
from tests.ui.conftest import run


async def until(pred, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def test_loss_chart_decimates_and_paints_fast(qtbot) -> None:  # type: ignore[no-untyped-def]
    assert nice_ticks(0, 1, 5) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    pts = [(float(i), 1.0 / (1 + i) + (i % 7) * 1e-3) for i in range(100_000)]
    thin = decimate(pts, 0, 99_999, 400)
    assert len(thin) <= 800 and thin[0] == pts[0]
    chart = LossChart("Loss", log_y=True)
    qtbot.addWidget(chart)
    chart.resize(500, 300)
    chart.set_series("train", pts)
    chart.set_series("validation", pts[::1000], "#d1242f", dashed=True)
    t = time.perf_counter()
    image = chart.grab()
    assert time.perf_counter() - t < 0.5 and not image.isNull()
    assert chart.paint_count == 1 and chart.series_names() == ["train", "validation"]
    chart.clear()
    assert chart.grab() is not None and chart.paint_count == 2


def test_train_tab_runs_a_tiny_model(window, qloop, qtbot, tmp_path: Path,  # type: ignore[no-untyped-def]
                                     tiny_phi3_hf_dir: Path) -> None:
    window.tabs.setCurrentIndex(TAB_NAMES.index("Train"))
    view = window.tabs.currentWidget()
    data = write_jsonl(tmp_path / "tools.jsonl", tool_examples(12, seed=5, tools=TOOLS[:1]))

    # inputs: model, dataset + splits, preset, form fields
    view.set_base_model(str(tiny_phi3_hf_dir))
    view.set_dataset(str(data))
    assert view.train_split.currentData() == "train"
    assert view.val_split.currentData() == "validation"
    view.preset_combo.setCurrentIndex(view.preset_combo.findData("accuracy"))
    view.preset_combo.activated.emit(view.preset_combo.currentIndex())
    assert view.form.widgets["lora_r"].value() == 32
    assert view.form.widgets["lora_alpha"].value() == 64
    view.form.widgets["lora_r"].setValue(8)
    assert view.preset_combo.currentData() is None  # customised: "Custom"
    w = view.form.widgets
    for name, value in (("max_steps", 2), ("per_device_train_batch_size", 2),
                        ("gradient_accumulation_steps", 1), ("save_steps", 2), ("eval_steps", 2),
                        ("cpu_threads", 1), ("max_length", 512)):
        w[name].setValue(value)
    w["learning_rate"].setValue(0.003)
    w["trust_remote_code"].setChecked(True)
    assert view.warning.isVisibleTo(view) and "trust" in view.warning.text().lower()
    w["trust_remote_code"].setChecked(False)

    # the plan: resolved (fused) modules, trainable parameters, memory estimate
    run(qloop, until(lambda: "qkv_proj" in view.plan_label.text()))
    text = view.plan_label.text()
    assert "gate_up_proj" in text and "trainable" in text and "Memory" in text
    assert view.launch_btn.isEnabled() and not view.cancel_btn.isEnabled()
    # "Check data": validation and token lengths (a job), then the plan uses the real lengths
    view.check_btn.click()
    run(qloop, until(lambda: "Data:" in view.plan_label.text()))
    assert view.report is not None and view.report.n_train > 0 and not view.report.blocked
    assert "training / " in view.plan_label.text() and "longest" in view.plan_label.text()

    # launch like a user, watch it to the end
    qtbot.mouseClick(view.launch_btn, Qt.MouseButton.LeftButton)
    monitor = view.monitor
    assert monitor is not None
    run(qloop, until(lambda: monitor.status == "running" and view.cancel_btn.isEnabled()))
    run(qloop, until(lambda: not monitor.active, timeout=120))
    assert monitor.status == "completed", monitor.error
    run(qloop, until(lambda: not view.timer.isActive()))  # the tick stops when idle
    assert [s for s, _ in view.loss_chart.points("train")] == [1, 2]
    assert view.loss_chart.points("validation")
    assert len(view.lr_chart.points("")) == 2 and view.tps_chart.points("")
    assert view.mem_chart.points("")
    assert "completed" in view.status_label.text() and view.progress.value() == 1000
    # coalesced repaints: a handful of ticks, not one paint per event
    assert 0 < view.loss_chart.paint_count < 40

    # the history: status, final losses, duration
    model = view.history_model
    row = model.row_of(monitor.run_id)
    assert row is not None
    cells = [model.index(row, c).data() for c in range(model.columnCount())]
    assert cells[1] == "completed" and float(cells[3]) > 0 and float(cells[4]) > 0
    assert cells[5] == "2/2" and cells[6]

    # overlay: a second run (a copy of the first's metrics) and the live one, both selected
    rec = model.rows[row]
    copy = rec.path.parent / "copy-run"
    (copy / "logs").mkdir(parents=True)
    shutil.copy(rec.paths.metrics, copy / "metrics.jsonl")
    window.studio.workspace.catalog.add(
        "runs", id="copy-run", name="earlier run", base_model=rec.base_model,
        status="completed", path="runs/copy-run", metrics={"final_loss": 1.0})
    view._on_run_changed("copy-run")
    run(qloop, until(lambda: model.row_of("copy-run") is not None))
    sel = view.history.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for run_id in (monitor.run_id, "copy-run"):
        sel.select(model.index(model.row_of(run_id), 0), flags)
    assert "run: earlier run" in view.loss_chart.series_names()
    assert len(view.loss_chart.points("run: earlier run")) == 2
    assert view.export_btn.isEnabled()

    # "Export this run" hands the run to the Export tab through the Studio's handoff
    from phi4studio.core.training.service import ExportRunRequest

    got: list[ExportRunRequest] = []
    window.studio.handoff.subscribe(ExportRunRequest, got.append)
    sel.clearSelection()
    sel.select(model.index(model.row_of(monitor.run_id), 0), flags)
    view.export_btn.click()
    assert got and got[0].run_id == monitor.run_id and got[0].adapter.is_dir()
    assert "Export" in view.history_note.text()
    saved = json.loads((rec.path / "studio_run.json").read_text())
    assert saved["training_config"]["lora_r"] == 8
    view.shutdown()
