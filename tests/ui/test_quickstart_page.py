"""The Quick start page on a real window and loop: Help > Quick start... opens it (non-modal),
Start runs a flow (fake steps that submit real jobs, so no model is trained here) with per-step
progress, the A/B table and the verdict appear, links switch tabs; cancel and resume."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from phi4studio.core.jobs import ExecutorJob, JobState, ThreadContext
from phi4studio.core.quickstart import STEPS, QuickStart, StepContext
from tests.ui.conftest import run

COMPARISON = {"base": {"accuracy": 0.1, "schema_validity": None},
              "finetuned": {"accuracy": 0.8, "schema_validity": 1.0}, "delta": 0.7,
              "ci": [0.5, 0.9], "p_value": 0.001, "pairs": 10, "decision": "ship",
              "reasons": ["Accuracy: 10.0% -> 80.0%"]}


async def until(pred: Any, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def fake_steps(gate: dict[str, asyncio.Event]) -> dict[str, Any]:
    def make(name: str) -> Any:
        async def step(ctx: StepContext) -> None:
            ev = gate.get(name)

            def work(c: ThreadContext) -> str:
                while ev is not None and not ev.is_set() and not c.cancelled:
                    time.sleep(0.01)
                return name

            job = ctx.submit(ExecutorJob(f"fake {name}", work))
            ctx.progress(0.5, f"{name} halfway")
            if await ctx.wait(job) is not JobState.SUCCEEDED:
                raise RuntimeError(job.error)
            ids = {"synthesize": {"dataset_id": "ds1", "dataset_name": "Quick start: demo"},
                   "train": {"run_id": "run1"}, "export": {"export_id": "ex1"},
                   "evaluate": {"evaluations": {"base": {"dataset:ds1": "e0"},
                                                "finetuned": {"dataset:ds1": "e1"}}},
                   "verdict": {"comparisons": {"dataset:ds1": COMPARISON},
                               "verdict": "ship"}}
            ctx.artefacts.update(ids.get(name, {}))

        return step

    return {n: make(n) for n in STEPS}


def page_for(window: Any, gate: dict[str, asyncio.Event]) -> Any:
    from phi4studio.ui.quickstart.page import QuickStartPage

    studio = window.studio
    qs = QuickStart(studio, steps=fake_steps(gate))
    return QuickStartPage(qs, window, default_base="")


def test_help_menu_opens_the_page_without_blocking(window: Any, qloop: Any) -> None:
    from phi4studio.ui.quickstart.page import QuickStartPage

    titles = [a.text() for a in window.menuBar().actions()]
    help_menu = window.menuBar().actions()[titles.index("&Help")].menu()
    action = next(a for a in help_menu.actions() if a.text() == "&Quick start...")
    action.trigger()
    page = window.quickstart_launcher.page
    assert isinstance(page, QuickStartPage) and page.isVisible() and not page.isModal()
    assert page.isWindow() and page.windowTitle() == "Quick start"
    assert page.src_sample.isChecked() and page.start_button.isEnabled()
    assert not page.cancel_button.isEnabled() and not page.resume_button.isEnabled()
    assert (window.studio.dirs.config / "quickstart-shown").exists()  # first run is over
    from phi4studio.ui.quickstart import should_show_on_start

    assert not should_show_on_start(window.studio)
    window.quickstart_launcher.shutdown()
    page.close()


def test_a_flow_runs_with_progress_then_the_table_and_links(window: Any, qloop: Any,
                                                            tiny_phi3_hf_dir: Path) -> None:
    gate = {"train": asyncio.Event()}
    page = page_for(window, gate)
    page.show()
    page.base_combo.setEditText(str(tiny_phi3_hf_dir))
    page.size_spin.setValue(40)
    opts = page.options()
    assert opts.tools.kind == "sample" and opts.base == str(tiny_phi3_hf_dir) and opts.size == 40
    assert opts.overrides == {} and page.broad_check.isChecked()  # the recipe's broad share
    page.broad_check.setChecked(False)  # the user's tools only
    assert page.options().overrides == {"data.shape.general": 0.0}
    page.start_button.click()
    assert not page.start_button.isEnabled()
    run(qloop, until(lambda: page.flow_id is not None and page.qs.active(page.flow_id)))
    state = page.qs.load(page.flow_id)
    assert state.recipe["data"]["n"] == 40 and state.options["base"] == str(tiny_phi3_hf_dir)
    assert state.recipe["data"]["shape"]["general"] == 0.0
    run(qloop, until(lambda: "train halfway" in page.steps.item(4, 2).text()))
    assert page.cancel_button.isEnabled() and not page.resume_button.isEnabled()
    assert page.steps.item(0, 1).text().endswith("done")
    assert page.steps.item(4, 1).text().endswith("running")
    assert 0 < page.progress.value() < 100
    flow_job = next(j for j in window.studio.queue.jobs if j.name.startswith("Quick start"))
    assert flow_job.state is JobState.RUNNING  # the flow is a job in the Jobs dock
    gate["train"].set()
    run(qloop, until(lambda: page.qs.load(page.flow_id).done and page.results.rowCount() == 1))
    run(qloop, until(lambda: page.start_button.isEnabled()))
    assert page.progress.value() == 100
    assert page.results.item(0, 0).text().startswith("held-out split (Quick start: demo)")
    assert [page.results.item(0, c).text() for c in (1, 2, 3, 7)] == ["10%", "80%", "+70 pts",
                                                                       "ship"]
    assert "ship" in page.verdict.text()
    seen: list[tuple[str, str]] = []
    page.link_activated.connect(lambda k, i: seen.append((k, i)))
    for kind in ("dataset", "run", "export", "evaluation"):
        assert page.link_buttons[kind].isEnabled()
        page.link_buttons[kind].click()
    assert seen == [("dataset", "ds1"), ("run", "run1"), ("export", "ex1"), ("evaluation", "e1")]
    page.shutdown()
    page.close()


def test_cancel_then_resume(window: Any, qloop: Any, tiny_phi3_hf_dir: Path) -> None:
    gate = {"export": asyncio.Event()}
    page = page_for(window, gate)
    page.show()
    page.base_combo.setEditText(str(tiny_phi3_hf_dir))
    page.start_button.click()
    run(qloop, until(lambda: page.flow_id is not None
                     and page.qs.load(page.flow_id).step("export").status == "running"))
    page.cancel_button.click()
    run(qloop, until(lambda: page.qs.load(page.flow_id).status == "cancelled"))
    run(qloop, until(lambda: page.resume_button.isEnabled()))
    assert page.steps.item(5, 1).text().endswith("cancelled")
    assert "cancel" in page.message.text().lower()
    gate["export"].set()
    page.resume_button.click()
    run(qloop, until(lambda: page.qs.load(page.flow_id).done))
    assert page.qs.load(page.flow_id).step("export").attempts == 2
    page.shutdown()
    page.close()


def test_links_switch_to_the_tab_that_holds_the_artefact(window: Any, qloop: Any) -> None:
    launcher = window.quickstart_launcher
    ds = window.studio.library.datasets()[0].id  # the sample dataset of the first run
    launcher.navigate("dataset", ds)
    assert window.tabs.currentWidget() is launcher.tabs["Datasets"]
    assert launcher.tabs["Datasets"].dataset_id == ds
    launcher.navigate("export", "nope")
    assert window.tabs.currentWidget() is launcher.tabs["Export"]
    launcher.navigate("run", "nope")
    assert window.tabs.currentWidget() is launcher.tabs["Train"]


def test_bad_input_is_said_not_raised(window: Any, qloop: Any) -> None:
    page = page_for(window, {})
    page.src_file.setChecked(True)
    page.start()
    assert "catalog" in page.message.text()
    page.file_edit.setText("/no/such/catalog.json")
    page.start()
    assert "No tool catalog" in page.message.text()
    page.src_mcp.setChecked(True)
    page.start()
    assert "MCP" in page.message.text()
    page.src_sample.setChecked(True)
    page.base_combo.setEditText("/no/such/model")
    page.start()
    run(qloop, until(lambda: "cannot be used" in page.message.text()
                     or "does not exist" in page.message.text().lower()))
    assert page.start_button.isEnabled() and page.flow_id is None
    page.shutdown()
    page.close()
