"""The quick start's evaluate step on a computer without the BFCL data: it gets the data first
(a real "Get bfcl-eval" job, pip or PyPI), and where that fails (offline: a proxy that refuses
every connection) it skips the BFCL categories with a note that says why and how to get them.
Needs PyPI for the first test, as the benchmark fixture does."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.evaluation import benchdata
from phi4studio.core.evaluation.service import EvaluationService
from phi4studio.core.jobs import JobQueue, JobState
from phi4studio.core.quickstart import STEPS, QuickStart, StepContext
from phi4studio.core.quickstart.recipe import DATASET_SUITE
from phi4studio.core.quickstart.services import Services
from phi4studio.core.quickstart.state import DONE
from phi4studio.core.quickstart.steps_eval import resolved_suites

SUITES = [[DATASET_SUITE, None], ["bfcl:simple_python", 5], ["bfcl:multiple", 5]]


@pytest.fixture(autouse=True)
def no_bfcl_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """A computer without the BFCL data: earlier tests may have imported a fetched copy or put
    it on sys.path (where `locate` finds an installed one)."""
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "bfcl" not in p.lower()])
    for name in [m for m in sys.modules if m.split(".")[0] == "bfcl_eval"]:
        monkeypatch.delitem(sys.modules, name)
    assert benchdata.locate("bfcl", Path("/nonexistent")) is None


async def flow_suites(tmp_path: Path) -> tuple[QuickStart, dict[str, Any]]:
    """A flow whose evaluate step resolves the recipe's suites (the other steps do nothing)."""
    async def nothing(ctx: StepContext) -> None:
        ctx.artefacts.setdefault("dataset_id", "ds1")

    async def evaluate(ctx: StepContext) -> None:
        suites, notes = await resolved_suites(ctx)
        ctx.artefacts["resolved"] = [s for s, _ in suites]
        ctx.artefacts["notes"] = notes

    queue = JobQueue({"gpu": 1, "cpu": 2})
    evaluations = EvaluationService(lambda: None, queue,  # type: ignore[arg-type,return-value]
                                    benchmarks_root=tmp_path / "benchmarks")
    services = Services(None, None, None, evaluations)  # type: ignore[arg-type]
    steps = {**dict.fromkeys(STEPS, nothing), "evaluate": evaluate}
    qs = QuickStart(queue=queue, services=services, steps=steps, workspace_root=tmp_path)
    state = qs.create({"label": "demo"}, {"evaluation": {"suites": SUITES}})
    qs.start(state.id)
    final = await asyncio.wait_for(qs.wait(state.id), 300)
    assert final.status == DONE
    return qs, final.artefacts


async def test_the_bfcl_data_is_fetched_when_missing(tmp_path: Path) -> None:
    qs, artefacts = await flow_suites(tmp_path)
    assert artefacts["resolved"] == ["dataset:ds1", "bfcl:simple_python", "bfcl:multiple"]
    assert artefacts["notes"] == []
    assert benchdata.locate("bfcl", tmp_path / "benchmarks") is not None
    fetches = [j for j in qs.queue.jobs if j.name.startswith("Get bfcl-eval")]
    assert len(fetches) == 1 and fetches[0].state is JobState.SUCCEEDED  # once, for both


async def test_offline_the_bfcl_categories_are_skipped_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # the discard port: refused
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "3")
    qs, artefacts = await flow_suites(tmp_path)
    assert artefacts["resolved"] == ["dataset:ds1"]  # the held-out split still runs
    (note,) = artefacts["notes"]
    assert note.startswith("BFCL categories skipped") and "could not be fetched" in note
    assert "Could not reach PyPI" in note and "phi4studio eval fetch bfcl" in note
    assert benchdata.locate("bfcl", tmp_path / "benchmarks") is None
    (fetch,) = [j for j in qs.queue.jobs if j.name.startswith("Get bfcl-eval")]
    assert fetch.state is JobState.FAILED
