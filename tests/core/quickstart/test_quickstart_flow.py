"""The quick start state machine without Qt and without models: fake steps that submit real
queue jobs. Resume after a restart at each step, a failing step, cancel (of the flow and of a
step's own job), and the state on disk."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.jobs import ExecutorJob, JobQueue, JobState, ThreadContext
from phi4studio.core.quickstart import STEPS, QuickStart, StepContext, StepFailed
from phi4studio.core.quickstart.state import (
    CANCELLED,
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    FlowStore,
)


class Steps:
    """Fake steps: each submits one job (which may block), records an artefact and counts."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.block: dict[str, asyncio.Event] = {}
        self.started: dict[str, asyncio.Event] = {name: asyncio.Event() for name in STEPS}
        self.fail: set[str] = set()

    def fn(self, name: str) -> Callable[[StepContext], Any]:
        async def step(ctx: StepContext) -> None:
            self.calls[name] += 1
            gate = self.block.get(name)
            import threading

            stop = threading.Event()

            def work(c: ThreadContext) -> str:
                while gate is not None and not gate.is_set() and not c.cancelled:
                    stop.wait(0.01)
                return f"{name}-result"

            job = ExecutorJob(f"fake {name}", work)
            ctx.submit(job)
            self.started[name].set()
            if await ctx.wait(job) is not JobState.SUCCEEDED:
                raise StepFailed(f"{name} job failed")
            if name in self.fail:
                raise StepFailed(f"{name} went wrong")
            ctx.artefacts[f"{name}_id"] = job.result
            ctx.progress(1.0, f"{name} done")

        return step

    def mapping(self) -> dict[str, Callable[[StepContext], Any]]:
        return {n: self.fn(n) for n in STEPS}


def make(tmp_path: Path, steps: Steps) -> QuickStart:
    return QuickStart(queue=JobQueue({"gpu": 1, "cpu": 2}), steps=steps.mapping(),
                      workspace_root=tmp_path)


def on_disk(tmp_path: Path, flow_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (tmp_path / "quickstart" / flow_id / "state.json").read_text())
    return data


async def test_runs_every_step_in_order_and_keeps_the_artefacts(tmp_path: Path) -> None:
    steps = Steps()
    qs = make(tmp_path, steps)
    events: list[str] = []
    qs.add_listener(lambda ev, st: events.append(ev))
    state = qs.create({"label": "demo"})
    job = qs.start(state.id)
    final = await asyncio.wait_for(qs.wait(state.id), 10)
    assert job.state is JobState.SUCCEEDED and job.name == "Quick start: demo"
    assert final.status == DONE and final.done
    assert [s.status for s in final.steps] == [DONE] * len(STEPS)
    assert steps.calls == Counter(dict.fromkeys(STEPS, 1))
    disk = on_disk(tmp_path, state.id)
    assert disk["status"] == DONE
    assert disk["artefacts"] == {f"{n}_id": f"{n}-result" for n in STEPS}
    assert all(len(s["jobs"]) == 1 for s in disk["steps"])  # each step's job id is kept
    assert "state" in events and "progress" in events
    with pytest.raises(Exception, match="complete"):
        qs.start(state.id)


@pytest.mark.parametrize("stop_at", STEPS)
async def test_resumes_after_a_restart_at_the_step_it_reached(tmp_path: Path,
                                                             stop_at: str) -> None:
    steps = Steps()
    steps.block[stop_at] = asyncio.Event()
    qs = make(tmp_path, steps)
    state = qs.create({"label": "restart"})
    qs.start(state.id)
    await asyncio.wait_for(steps.started[stop_at].wait(), 10)
    # The app dies here: keep the state file as it is at this moment...
    folder = tmp_path / "quickstart" / state.id
    snapshot = (folder / "state.json").read_bytes()
    await qs.queue.shutdown(timeout=5)
    (folder / "state.json").write_bytes(snapshot)  # ...whatever the shutdown wrote after it

    fresh_steps = Steps()
    fresh = make(tmp_path, fresh_steps)
    loaded = fresh.load(state.id)
    step = loaded.step(stop_at)
    assert step.status == INTERRUPTED and loaded.status == INTERRUPTED
    assert loaded.current is step
    before = STEPS[:STEPS.index(stop_at)]
    assert all(loaded.step(n).status == DONE for n in before)
    fresh.resume(state.id)
    final = await asyncio.wait_for(fresh.wait(state.id), 10)
    assert final.status == DONE
    assert set(fresh_steps.calls) == set(STEPS[STEPS.index(stop_at):])  # done steps not rerun
    assert final.step(stop_at).attempts == 2
    assert on_disk(tmp_path, state.id)["artefacts"][f"{stop_at}_id"] == f"{stop_at}-result"


async def test_a_failing_step_stops_the_flow_and_resume_retries_it(tmp_path: Path) -> None:
    steps = Steps()
    steps.fail.add("train")
    qs = make(tmp_path, steps)
    state = qs.create({"label": "fails"})
    job = qs.start(state.id)
    final = await asyncio.wait_for(qs.wait(state.id), 10)
    assert job.state is JobState.FAILED and "train went wrong" in (job.error or "")
    assert final.status == FAILED and "Train" in (final.error or "")
    train = final.step("train")
    assert train.status == FAILED and train.error == "train went wrong"
    assert all(final.step(n).status == PENDING for n in STEPS[STEPS.index("train") + 1:])
    assert on_disk(tmp_path, state.id)["status"] == FAILED

    steps.fail.clear()  # the user fixed the cause
    qs.resume(state.id)
    final = await asyncio.wait_for(qs.wait(state.id), 10)
    assert final.status == DONE and steps.calls["train"] == 2 and steps.calls["split"] == 1


async def test_cancel_stops_the_steps_job_and_the_flow_resumes_there(tmp_path: Path) -> None:
    steps = Steps()
    steps.block["export"] = asyncio.Event()
    qs = make(tmp_path, steps)
    state = qs.create({"label": "cancel"})
    job = qs.start(state.id)
    await asyncio.wait_for(steps.started["export"].wait(), 10)
    inner = qs.queue.get(qs.load(state.id).step("export").jobs[-1])
    assert inner is not None and inner.state is JobState.RUNNING
    assert qs.active(state.id) and qs.cancel(state.id)
    final = await asyncio.wait_for(qs.wait(state.id), 10)
    assert job.state is JobState.CANCELLED and inner.state is JobState.CANCELLED
    assert final.status == CANCELLED and final.step("export").status == CANCELLED
    assert not qs.cancel(state.id)  # nothing left to cancel

    steps.block.clear()
    qs.resume(state.id)
    final = await asyncio.wait_for(qs.wait(state.id), 10)
    assert final.status == DONE and steps.calls["export"] == 2 and steps.calls["train"] == 1


async def test_cancelling_a_steps_job_in_the_jobs_dock_cancels_the_flow(tmp_path: Path) -> None:
    steps = Steps()
    steps.block["synthesize"] = asyncio.Event()
    qs = make(tmp_path, steps)
    state = qs.create({})
    job = qs.start(state.id)
    await asyncio.wait_for(steps.started["synthesize"].wait(), 10)
    inner = qs.queue.get(qs.load(state.id).step("synthesize").jobs[-1])
    assert inner is not None
    qs.queue.cancel(inner)
    final = await asyncio.wait_for(qs.wait(state.id), 10)
    assert job.state is JobState.CANCELLED and final.step("synthesize").status == CANCELLED


async def test_an_unexpected_error_fails_the_step_with_its_message(tmp_path: Path) -> None:
    async def broken(ctx: StepContext) -> None:
        raise KeyError("dataset_id")

    steps = Steps()
    mapping = steps.mapping()
    mapping["validate"] = broken
    qs = QuickStart(queue=JobQueue({"gpu": 1, "cpu": 2}), steps=mapping,
                    workspace_root=tmp_path)
    state = qs.create({})
    qs.start(state.id)
    final = await asyncio.wait_for(qs.wait(state.id), 10)
    assert final.step("validate").status == FAILED
    assert "KeyError" in (final.step("validate").error or "")


def test_store_lists_flows_and_skips_damaged_ones(tmp_path: Path) -> None:
    store = FlowStore(tmp_path)
    a = store.create({"label": "a"})
    b = store.create({"label": "b"})
    (store.folder("zz-broken")).mkdir()
    (store.folder("zz-broken") / "state.json").write_text("{not json")
    assert {f.id for f in store.flows()} == {a.id, b.id}
    assert store.unfinished() is not None
    for s in b.steps:
        s.status = DONE
    store.save(b)
    assert store.load(b.id).done
    with pytest.raises(KeyError):
        store.load("nope")
    shutil.rmtree(store.root)
    assert store.latest() is None
