"""The Evaluate tab for real: the window on a qasync loop, the tiny Phi3 ONNX model evaluated
through the evaluation worker, results, failures, history and A/B on those real results."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures.bench_data import benchmarks_root
from PySide6.QtCore import Qt

from phi4studio.core.jobs import JobState
from tests.ui.conftest import run


@pytest.fixture(scope="module")
def bench_root(pytestconfig: pytest.Config) -> Path:
    return benchmarks_root(pytestconfig)


async def until(pred: Any, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def tab(window: Any) -> Any:
    from phi4studio.ui.tabs.evaluate.view import EvaluateView

    for i in range(window.tabs.count()):
        if window.tabs.tabText(i) == "Evaluate":
            window.tabs.setCurrentIndex(i)
            view = window.tabs.widget(i)
            assert isinstance(view, EvaluateView)
            return view
    raise AssertionError("no Evaluate tab")


def test_evaluate_tab_on_real_results(window: Any, qloop: Any, tiny_phi3_onnx_dir: Path,
                                      bench_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHI4STUDIO_BENCHMARKS", str(bench_root))
    view = tab(window)
    view.reload()
    assert "ready" in view.form.data_label.text()
    form = view.form
    form.select_model(str(tiny_phi3_onnx_dir))
    form.set_checked(["bfcl:simple_python", "bfcl:parallel", "bfcl:irrelevance"])
    form.limit.setValue(2)
    form.max_tokens.setValue(12)

    # nothing chosen: said, not raised
    form.set_checked([])
    assert view.start_run() is None and "suite" in view.status.text()
    form.set_checked(["bfcl:simple_python", "bfcl:parallel", "bfcl:irrelevance"])
    # call control: greedy and no repeat stop by default, as on the command line; a threshold
    # needs grammar guidance, said in the UI
    assert form.call_threshold.text() == "greedy" and not form.stop_repeats.isChecked()
    form.stop_repeats.setChecked(True)
    assert view.config_from_form().call_threshold is None
    form.call_threshold.setValue(0.5)
    form.guided.setCurrentIndex(form.guided.findData("grammar"))
    cfg = view.config_from_form()
    assert (cfg.call_threshold, cfg.text_tokens, cfg.stop_repeats) == (0.5, 16, True)
    assert not cfg.ask_missing  # off unless asked, as on the command line
    form.ask_missing.setChecked(True)
    assert view.config_from_form().ask_missing
    form.ask_missing.setChecked(False)
    assert not cfg.stated_optional
    form.stated_optional.setChecked(True)
    assert view.config_from_form().stated_optional
    form.stated_optional.setChecked(False)
    assert cfg.tool_words is None and not form.tool_words.isChecked()
    form.tool_words.setChecked(True)
    assert view.config_from_form().tool_words == 1.0
    form.tool_words.setChecked(False)
    assert not cfg.stated_numbers and not form.stated_numbers.isChecked()
    form.stated_numbers.setChecked(True)
    assert view.config_from_form().stated_numbers
    form.stated_numbers.setChecked(False)
    assert cfg.more_threshold is None and form.more_threshold.text() == "greedy"
    form.more_threshold.setValue(0.2)
    assert view.config_from_form().more_threshold == 0.2
    form.call_threshold.setValue(-0.05)  # without a call threshold it does not apply
    assert view.config_from_form().more_threshold is None
    form.call_threshold.setValue(0.5)
    form.more_threshold.setValue(-0.05)
    form.guided.setCurrentIndex(form.guided.findData("off"))
    assert view.start_run() is None and "grammar-guided" in view.status.text()
    form.call_threshold.setValue(-0.05)

    job = view.start_run()
    assert job is not None
    run(qloop, view.studio.queue.wait(job), timeout=120)
    assert job.state is JobState.SUCCEEDED, job.error
    run(qloop, until(lambda: view.runs.rowCount() == 1 and view.runs.row(0).status == "complete"))
    assert view.selected == job.run_dir.id
    run(qloop, until(lambda: view.results.summary.get("done") == 6))
    assert view.results.groups.rowCount() == 3  # simple_python, parallel, irrelevance
    assert view.results.chart.rows and "Accuracy" in view.results.headline.text()
    # failures: the random model fails the calling categories
    run(qloop, until(lambda: view.failures.model.rowCount() >= 4))
    f = view.failures.model.row(0)
    view.failures.show(0)
    assert f["id"] in view.failures.diff.toHtml() or "expected" in view.failures.diff.toHtml()
    assert view.failures.prompt.toPlainText().startswith("<|im_start|>")
    # per-tool table, group switch
    assert view.results.tools.rowCount() >= 2
    view.results.group_by.setCurrentIndex(1)
    assert view.results.groups.rowCount() >= 1

    # a second, guided evaluation; then A/B on the two real runs
    form.guided.setCurrentIndex(1)
    job2 = view.start_run()
    assert job2 is not None
    run(qloop, view.studio.queue.wait(job2), timeout=120)
    assert job2.state is JobState.SUCCEEDED, job2.error
    run(qloop, until(lambda: view.runs.rowCount() == 2 and view.ab.a.count() == 2))
    view.ab.a.setCurrentIndex(1)
    view.ab.b.setCurrentIndex(0)
    view.compare()
    run(qloop, until(lambda: view.ab.result is not None))
    assert view.ab.result["pairs"] == 6
    assert view.ab.verdict.text() and view.ab.metrics.rowCount() >= 1
    assert view.ab.categories.rowCount() == 3

    # history of the chosen model: both runs
    view._refresh_history()
    assert len(view.history.labels) == 2

    # the report files were written when each run finished
    info = view.service.get(job.run_dir.id)
    assert (info.path / "report.html").exists()

    shots = os.environ.get("PHI4STUDIO_SCREENSHOTS")
    if shots:
        window.resize(1400, 860)
        view.pages.setCurrentWidget(view.results)
        view.runs_view.selectRow(1)
        run(qloop, asyncio.sleep(0.5))
        window.grab().save(str(Path(shots) / "evaluate.png"))
        view.pages.setCurrentWidget(view.ab)
        run(qloop, asyncio.sleep(0.2))
        window.grab().save(str(Path(shots) / "evaluate-ab.png"))


def test_resume_and_cancel_from_the_tab(window: Any, qloop: Any, tiny_phi3_onnx_dir: Path,
                                        bench_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHI4STUDIO_BENCHMARKS", str(bench_root))
    view = tab(window)
    form = view.form
    form.select_model(str(tiny_phi3_onnx_dir))
    form.set_checked(["bfcl:irrelevance"])
    form.limit.setValue(12)
    form.max_tokens.setValue(24)
    job = view.start_run()
    assert job is not None
    run(qloop, until(lambda: job.done >= 2))
    view.cancel_selected()
    run(qloop, view.studio.queue.wait(job))
    assert job.state is JobState.CANCELLED
    rid = job.run_dir.id
    run(qloop, until(lambda: view.service.get(rid).status == "stopped"))
    done_before = view.service.get(rid).done
    assert 2 <= done_before < 12
    view.selected = rid
    view.resume_selected()
    run(qloop, until(lambda: view.service.get(rid).status == "complete", timeout=120))
    ids = [r["id"] for r in view.service.results(rid)]
    assert len(ids) == len(set(ids)) == 12
    # the table follows within a few coalesced repaints
    run(qloop, until(lambda: view.runs.data(view.runs.index(0, 1),
                                            Qt.ItemDataRole.DisplayRole) == "complete"))
