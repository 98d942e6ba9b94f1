"""The evaluation worker for real: the tiny Phi3 ONNX model through `phi4studio --worker eval`
(which drives `phi4studio --worker inference`), as a job in the queue's GPU slot. Cancelled in
the middle, then resumed: the results continue where they stopped, without duplicates."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from fixtures.bench_data import benchmarks_root

from phi4studio.core.evaluation.driver import EvalConfig
from phi4studio.core.evaluation.service import EvaluationJob, EvaluationService
from phi4studio.core.jobs import JobQueue, JobState
from phi4studio.core.workspace import open_workspace


@pytest.fixture(scope="module")
def bench_root(pytestconfig: pytest.Config) -> Path:
    return benchmarks_root(pytestconfig)


def dataset_file(tmp_path: Path) -> Path:
    tool = {"name": "get_weather", "description": "Weather for a city", "inputSchema": {
        "type": "object", "properties": {"city": {"type": "string", "enum": ["Oslo", "Rome"]}},
        "required": ["city"]}}
    lines = []
    for i in range(3):
        lines.append(json.dumps({"id": f"w{i}", "tools": [tool], "scenario": "single",
                                 "split": "test", "messages": [
                                     {"role": "user", "content": f"Weather in Oslo, {i}?"},
                                     {"role": "assistant", "content": "", "tool_calls": [
                                         {"id": "c", "name": "get_weather",
                                          "arguments": {"city": "Oslo"}}]}]}))
    path = tmp_path / "weather.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


async def wait_for(cond: Any, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_evaluation_cancelled_then_resumed(tmp_path: Path, tiny_phi3_onnx_dir: Path,
                                                 bench_root: Path, figures: Any) -> None:
    ws = open_workspace(tmp_path / "ws")
    queue = JobQueue({"gpu": 1, "cpu": 1})
    service = EvaluationService(lambda: ws, queue, benchmarks_root=bench_root,
                                cancel_grace_s=lambda: 10.0)
    cases_seen: list[str] = []
    service.add_listener(lambda kind, p: cases_seen.append(p[1]["id"]) if kind == "case" else None)
    config = EvalConfig(model=str(tiny_phi3_onnx_dir),
                        suites=["bfcl:simple_python", "bfcl:irrelevance",
                                f"file:{dataset_file(tmp_path)}"],
                        limit=4, max_new_tokens=12, guided="grammar")
    try:
        job = service.start(config)
        await wait_for(lambda: len(cases_seen) >= 3)
        queue.cancel(job)
        assert await queue.wait(job) is JobState.CANCELLED
        run_id = job.run_dir.id  # type: ignore[union-attr]
        first = [r["id"] for r in service.results(run_id)]
        total = job.run_dir.n_cases()  # type: ignore[union-attr]
        assert total == 11
        assert 3 <= len(first) < total
        info = service.get(run_id)
        assert info.status == "stopped" and info.done == len(first)

        job2 = service.resume(run_id)
        assert isinstance(job2, EvaluationJob)
        assert await queue.wait(job2) is JobState.SUCCEEDED, job2.error
        results = service.results(run_id)
        ids = [r["id"] for r in results]
        assert ids[: len(first)] == first
        assert len(ids) == len(set(ids)) == total
        lines = (info.path / "results.jsonl").read_text().splitlines()
        assert len(lines) == total
        info = service.get(run_id)
        assert info.status == "complete" and info.done == total
        assert info.headline["json_validity"] is not None
        summary = service.summary(run_id)
        assert set(summary["by_category"]) == {"simple_python", "irrelevance", "single"}
        # guided by the grammar, the random model can only name offered tools
        offered = {c["id"]: {t["name"] for t in c["tools"]}
                   for c in job.run_dir.cases()}  # type: ignore[union-attr]
        for r in results:
            for t in r["turns"]:
                assert {c["name"] for c in t["calls"]} <= offered[r["id"]]
        assert (info.path / "report.html").exists() and (info.path / "report.json").exists()
        figures("eval worker: seconds per case (tiny Phi3, 12 tokens)",
                summary.get("seconds_per_case", 0.0))
    finally:
        await queue.shutdown(timeout=15)
        ws.close()
