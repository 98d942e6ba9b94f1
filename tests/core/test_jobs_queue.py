"""JobQueue semantics: states, errors, cancel, resource slots, exclusive groups, listeners,
volume and shutdown (history: test_jobs_history.py).

Everything runs on the test's own event loop (pytest-asyncio), without Qt.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import pytest
from jobqueue_helpers import CAPS, Recorder, gate_job, returning

from phi4studio.core.errors import JobError, StudioError
from phi4studio.core.jobs import (
    CoroutineJob,
    ExecutorJob,
    Job,
    JobCancelled,
    JobQueue,
    JobState,
    ThreadContext,
)

# --- success, failure, exception ------------------------------------------------------------

async def test_success_reports_progress_and_result() -> None:
    q = JobQueue(CAPS)
    rec = Recorder()
    q.add_listener(rec)
    seen_running: list[JobState] = []

    async def fn(job: Job) -> dict[str, int]:
        seen_running.append(job.state)
        job.set_progress(0.25, "a quarter")
        assert job.eta_s is not None  # derived from elapsed time and progress
        job.set_progress(0.5, eta_s=12.0)
        assert job.eta_s == 12.0  # the job's own estimate wins
        job.add_log("half way")
        await asyncio.sleep(0)
        return {"answer": 42}

    job = q.submit(CoroutineJob("compute", fn))
    assert job.state is JobState.RUNNING  # its slots are free: it starts at once
    assert await q.wait(job) is JobState.SUCCEEDED
    assert seen_running == [JobState.RUNNING]
    assert job.result == {"answer": 42}
    assert job.error is None
    assert job.progress == 1.0
    assert job.message == "a quarter"  # the last message set stays
    assert job.eta_s is None  # only running jobs have an ETA
    assert "half way" in job.log.text()
    assert job.started_at is not None and job.finished_at is not None
    assert job.finished_at >= job.started_at >= job.created_at
    assert rec.states("compute") == ["running", "succeeded"]
    kinds = [w for w, n, _ in rec.events if n == "compute"]
    assert kinds[0] == "added"
    assert {"progress", "log"} <= set(kinds)
    assert rec.threads == {threading.get_ident()}


async def test_studio_error_fails_with_its_message_and_hint() -> None:
    q = JobQueue(CAPS)

    async def fn(job: Job) -> None:
        await asyncio.sleep(0)
        raise JobError("the converter refused the file", hint="Pick a JSONL file instead.")

    job = q.submit(CoroutineJob("convert", fn))
    assert await q.wait(job) is JobState.FAILED
    assert job.error is not None
    assert "the converter refused the file" in job.error
    assert "Pick a JSONL file instead." in job.error
    assert job.message == "the converter refused the file"  # first line of the error
    assert "ERROR: the converter refused the file" in job.log.text()
    assert job.result is None
    assert job.progress != 1.0


def _explode(n: int) -> None:
    raise ValueError(f"bad value {n}")


async def test_exception_keeps_message_and_traceback_in_log() -> None:
    q = JobQueue(CAPS)

    async def fn(job: Job) -> None:
        await asyncio.sleep(0)
        _explode(7)

    job = q.submit(CoroutineJob("explode", fn))
    assert await q.wait(job) is JobState.FAILED
    assert job.error == "ValueError: bad value 7"
    assert job.message == "ValueError: bad value 7"
    text = job.log.text()
    assert "Traceback (most recent call last)" in text
    assert "_explode" in text  # the frame that raised
    assert "ValueError: bad value 7" in text


async def test_exception_without_message_is_named_by_its_type() -> None:
    q = JobQueue(CAPS)

    async def fn(job: Job) -> None:
        raise KeyError

    job = q.submit(CoroutineJob("nameless", fn))
    assert await q.wait(job) is JobState.FAILED
    assert job.error == "KeyError"


async def test_executor_exception_and_result_come_back_on_the_loop() -> None:
    q = JobQueue(CAPS)
    rec = Recorder()
    q.add_listener(rec)
    worker_threads: list[int] = []

    def ok(ctx: ThreadContext) -> int:
        worker_threads.append(threading.get_ident())
        for i in range(200):
            ctx.progress(i / 200, f"item {i}")  # coalesced: far fewer than 200 reach the loop
        ctx.log("done counting")
        return 200

    def bad(ctx: ThreadContext) -> None:
        _explode(3)

    good = q.submit(ExecutorJob("count", ok))
    boom = q.submit(ExecutorJob("boom", bad))
    await q.wait_all()
    assert good.state is JobState.SUCCEEDED and good.result == 200
    assert worker_threads and worker_threads[0] != threading.get_ident()
    assert "done counting" in good.log.text()
    progress_events = [e for e in rec.events if e[0] == "progress" and e[1] == "count"]
    assert 1 <= len(progress_events) < 100
    assert rec.threads == {threading.get_ident()}  # listeners only ever run on the loop thread
    assert boom.state is JobState.FAILED
    assert boom.error == "ValueError: bad value 3"
    assert "_explode" in boom.log.text()
    assert q.resources_in_use() == {"gpu": 0, "cpu": 0}


@pytest.mark.parametrize("kind", ["coroutine", "executor"])
async def test_system_exit_in_a_job_fails_the_job_not_the_app(kind: str) -> None:
    """A library calling sys.exit() inside a job must not take the event loop down."""
    q = JobQueue(CAPS)

    def in_thread(ctx: ThreadContext) -> None:
        raise SystemExit(2)

    async def on_loop(job: Job) -> None:
        raise SystemExit(2)

    job: Job = ExecutorJob("exits", in_thread) if kind == "executor" else CoroutineJob(
        "exits", on_loop
    )
    q.submit(job)
    assert await q.wait(job) is JobState.FAILED
    assert job.error is not None and "SystemExit" in job.error
    after = q.submit(returning("still alive"))
    assert await q.wait(after) is JobState.SUCCEEDED


async def test_submit_refuses_bad_requests() -> None:
    q = JobQueue(CAPS)
    with pytest.raises(ValueError, match="unknown resource"):
        q.submit(returning(1, resources={"tpu": 1}))
    with pytest.raises(ValueError, match="only 1 exist"):
        q.submit(returning(1, resources={"gpu": 2}))
    job = q.submit(returning(1))
    with pytest.raises(ValueError, match="already submitted"):
        q.submit(job)
    await q.wait_all()
    assert [j.state for j in q.jobs] == [JobState.SUCCEEDED]


# --- cancel ---------------------------------------------------------------------------------

async def test_cancel_pending_job_never_runs_it() -> None:
    q = JobQueue(CAPS)
    gate = asyncio.Event()
    ran: list[str] = []

    async def never(job: Job) -> None:
        ran.append(job.name)

    blocker = q.submit(gate_job("blocker", gate, resources={"gpu": 1}))
    waiting = q.submit(CoroutineJob("waiting", never, resources={"gpu": 1}))
    await asyncio.sleep(0.01)
    assert blocker.state is JobState.RUNNING and waiting.state is JobState.PENDING
    assert q.cancel(waiting) is True
    assert waiting.state is JobState.CANCELLED  # at once, not on a later loop turn
    assert waiting.message == "cancelled"
    assert q.cancel(waiting) is False  # already finished
    gate.set()
    await q.wait_all()
    assert blocker.state is JobState.SUCCEEDED
    assert ran == []
    assert waiting.started_at is None


async def test_cancel_running_coroutine() -> None:
    q = JobQueue(CAPS)
    started = asyncio.Event()
    cleanup: list[str] = []

    async def forever(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cleanup.append("cancelled inside")
            raise

    job = q.submit(CoroutineJob("forever", forever, resources={"gpu": 1}))
    await started.wait()
    assert job.can_cancel
    assert q.cancel(job) is True
    assert not job.can_cancel
    assert q.cancel(job) is False  # a second request changes nothing
    assert await asyncio.wait_for(q.wait(job), 2) is JobState.CANCELLED
    assert cleanup == ["cancelled inside"]
    assert job.message == "cancelled"
    assert job.error is None
    assert q.resources_in_use()["gpu"] == 0
    nxt = q.submit(returning("next", resources={"gpu": 1}))
    assert await asyncio.wait_for(q.wait(nxt), 2) is JobState.SUCCEEDED


async def test_cancel_executor_job_is_cooperative() -> None:
    q = JobQueue(CAPS)
    started = threading.Event()
    stopped_at: list[int] = []

    def work(ctx: ThreadContext) -> str:
        started.set()
        for i in range(10_000):
            if ctx.cancelled:
                stopped_at.append(i)
            ctx.check_cancelled()
            time.sleep(0.001)
        return "finished"

    job = q.submit(ExecutorJob("slow import", work))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    await asyncio.sleep(0.02)
    assert q.cancel(job) is True
    assert job.message == "cancelling..."
    assert await asyncio.wait_for(q.wait(job), 5) is JobState.CANCELLED
    assert len(stopped_at) == 1 and 0 < stopped_at[0] < 10_000
    assert job.result is None
    assert q.resources_in_use()["cpu"] == 0


async def test_executor_job_that_ignores_the_flag_still_ends_cancelled() -> None:
    q = JobQueue(CAPS)
    started = threading.Event()

    def stubborn(ctx: ThreadContext) -> str:
        started.set()
        time.sleep(0.1)
        return "result nobody wants"

    job = q.submit(ExecutorJob("stubborn", stubborn))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    q.cancel(job)
    assert job.state is JobState.RUNNING  # the thread can't be killed: it is asked to stop
    assert await asyncio.wait_for(q.wait(job), 5) is JobState.CANCELLED
    assert job.result is None


async def test_job_raising_jobcancelled_itself_is_cancelled() -> None:
    q = JobQueue(CAPS)

    async def gives_up(job: Job) -> None:
        raise JobCancelled()

    job = q.submit(CoroutineJob("gives up", gives_up))
    assert await q.wait(job) is JobState.CANCELLED


# --- resource slots -------------------------------------------------------------------------

async def test_gpu_jobs_never_overlap() -> None:
    q = JobQueue(CAPS)
    spans: dict[str, tuple[float, float]] = {}
    max_gpu: list[int] = [0]

    def watch(what: str, job: Job | None) -> None:
        max_gpu[0] = max(max_gpu[0], q.resources_in_use()["gpu"])

    q.add_listener(watch)

    def gpu_job(name: str) -> CoroutineJob[None]:
        async def fn(job: Job) -> None:
            t0 = time.monotonic()
            await asyncio.sleep(0.03)
            spans[name] = (t0, time.monotonic())

        return CoroutineJob(name, fn, resources={"gpu": 1})

    async def cpu_fn(job: Job) -> None:
        t0 = time.monotonic()
        await asyncio.sleep(0.06)
        spans["cpu"] = (t0, time.monotonic())

    jobs = [q.submit(gpu_job(n)) for n in ("train", "export", "infer")]
    q.submit(CoroutineJob("cpu", cpu_fn, resources={"cpu": 1}))
    await asyncio.sleep(0)
    assert [j.state for j in jobs] == [JobState.RUNNING, JobState.PENDING, JobState.PENDING]
    await q.wait_all()
    gpu = sorted(spans[n] for n in ("train", "export", "infer"))
    for (_, end_a), (start_b, _) in itertools.pairwise(gpu):
        assert start_b >= end_a, "two GPU jobs ran at the same time"
    assert max_gpu[0] == 1
    # The CPU job did not wait for the GPU: it overlapped the first GPU job.
    assert spans["cpu"][0] < gpu[0][1]
    assert [j.name for j in sorted(jobs, key=lambda j: j.started_at or 0)] == [
        "train", "export", "infer"
    ]


async def test_cpu_pool_runs_up_to_its_capacity() -> None:
    q = JobQueue({"gpu": 1, "cpu": 2})
    lock = threading.Lock()
    now = [0]
    peak = [0]

    def work(ctx: ThreadContext) -> None:
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.04)
        with lock:
            now[0] -= 1

    jobs = [q.submit(ExecutorJob(f"validate {i}", work)) for i in range(6)]
    await asyncio.sleep(0)
    assert sum(j.state is JobState.RUNNING for j in jobs) == 2
    assert q.resources_in_use()["cpu"] == 2
    await q.wait_all()
    assert all(j.state is JobState.SUCCEEDED for j in jobs)
    assert peak[0] == 2
    assert q.resources_in_use()["cpu"] == 0


async def test_a_big_job_is_not_starved_of_a_multi_slot_request() -> None:
    q = JobQueue({"gpu": 1, "cpu": 3})
    done: list[str] = []

    def make(name: str, n: int) -> CoroutineJob[None]:
        async def fn(job: Job) -> None:
            await asyncio.sleep(0.01)
            done.append(name)

        return CoroutineJob(name, fn, resources={"cpu": n})

    jobs = [q.submit(make("a", 2)), q.submit(make("big", 3)), q.submit(make("b", 1))]
    await asyncio.wait_for(q.wait_all(), 5)
    assert all(j.state is JobState.SUCCEEDED for j in jobs)
    assert sorted(done) == ["a", "b", "big"]


# --- exclusive groups -----------------------------------------------------------------------

async def test_newer_job_replaces_pending_one_of_its_group() -> None:
    q = JobQueue(CAPS)
    gate = asyncio.Event()
    ran: list[str] = []

    def preview(name: str) -> CoroutineJob[None]:
        async def fn(job: Job) -> None:
            ran.append(name)

        return CoroutineJob(name, fn, resources={"gpu": 1}, group="preview")

    blocker = q.submit(gate_job("training", gate, resources={"gpu": 1}))
    first = q.submit(preview("preview 1"))
    other = q.submit(returning("other", resources={"gpu": 1}))  # no group: never replaced
    second = q.submit(preview("preview 2"))
    assert first.state is JobState.CANCELLED
    assert first.message == "replaced by a newer job: preview 2"
    assert second.state is JobState.PENDING and other.state is JobState.PENDING
    gate.set()
    await q.wait_all()
    assert ran == ["preview 2"]
    assert blocker.state is other.state is second.state is JobState.SUCCEEDED
    assert first.message.startswith("replaced")


async def test_running_job_of_the_group_is_left_alone() -> None:
    q = JobQueue(CAPS)
    gate = asyncio.Event()
    started = asyncio.Event()
    running = q.submit(gate_job("load model A", gate, started, result="A", group="model"))
    await started.wait()
    newer = q.submit(returning("B", group="model"))
    assert running.state is JobState.RUNNING
    assert not running.cancel_requested
    gate.set()
    await q.wait_all()
    assert running.state is JobState.SUCCEEDED and running.result == "A"
    assert newer.state is JobState.SUCCEEDED and newer.result == "B"


# --- listeners ------------------------------------------------------------------------------

async def test_raising_listener_does_not_break_the_queue(caplog: pytest.LogCaptureFixture) -> None:
    q = JobQueue(CAPS)
    calls = [0]

    def broken(what: str, job: Job | None) -> None:
        calls[0] += 1
        raise RuntimeError("listener bug")

    rec = Recorder()
    q.add_listener(broken)
    q.add_listener(rec)
    job = q.submit(returning("fine"))
    assert await q.wait(job) is JobState.SUCCEEDED
    assert job.result == "fine"
    assert calls[0] >= 3  # added, running, succeeded
    assert rec.states(job.name) == ["running", "succeeded"]
    assert "job listener failed" in caplog.text
    q.remove_listener(broken)
    q.remove_listener(broken)  # removing twice is harmless
    before = calls[0]
    await q.wait(q.submit(returning("again")))
    assert calls[0] == before


async def test_listener_may_submit_from_a_state_event() -> None:
    """A listener re-entering the queue (submit on a start) must not start a job twice."""
    q = JobQueue(CAPS)
    starts: dict[str, int] = {}
    follow_ups: list[Job] = []

    def counting(name: str) -> CoroutineJob[None]:
        async def fn(job: Job) -> None:
            starts[name] = starts.get(name, 0) + 1
            await asyncio.sleep(0.005)

        return CoroutineJob(name, fn)

    def chain(what: str, job: Job | None) -> None:
        if (
            what == "state" and job is not None and job.state is JobState.RUNNING
            and job.name.startswith("step") and len(follow_ups) < 3
        ):
            follow_ups.append(q.submit(counting(f"follow-up of {job.name}")))

    q.add_listener(chain)
    q.submit(counting("step 1"))
    q.submit(counting("step 2"))
    await asyncio.wait_for(q.wait_all(), 5)
    assert all(n == 1 for n in starts.values()), starts
    assert len(follow_ups) == 2
    assert all(j.state is JobState.SUCCEEDED for j in q.jobs)
    assert len(starts) == 4


# --- volume and shutdown --------------------------------------------------------------------

async def test_a_thousand_short_jobs_all_succeed() -> None:
    q = JobQueue({"gpu": 1, "cpu": 4})
    states = Recorder()
    q.add_listener(states)
    t0 = time.perf_counter()

    def make(i: int) -> CoroutineJob[int]:
        async def fn(job: Job) -> int:
            job.set_progress(0.5)
            await asyncio.sleep(0)
            return i * i

        # Half of them need a CPU slot, so most of those wait in the pending list.
        return CoroutineJob(f"job {i}", fn, resources={"cpu": 1} if i % 2 else {})

    jobs = [q.submit(make(i)) for i in range(1000)]
    await asyncio.wait_for(q.wait_all(), 30)
    elapsed = time.perf_counter() - t0
    print(f"\n1,000 short jobs: {elapsed * 1000:.0f} ms ({elapsed * 1e6 / 1000:.0f} µs a job)")
    assert [j.state for j in jobs] == [JobState.SUCCEEDED] * 1000
    assert [j.result for j in jobs] == [i * i for i in range(1000)]
    assert q.active() == []
    assert q.resources_in_use() == {"gpu": 0, "cpu": 0}
    assert sum(1 for w, _, s in states.events if w == "state" and s == "succeeded") == 1000


async def test_shutdown_cancels_everything_and_refuses_new_jobs() -> None:
    q = JobQueue(CAPS)
    gate = asyncio.Event()
    started = asyncio.Event()
    thread_started = threading.Event()

    def cooperative(ctx: ThreadContext) -> None:
        thread_started.set()
        while not ctx.cancelled:
            time.sleep(0.005)

    running = q.submit(gate_job("running", gate, started, resources={"gpu": 1}))
    pending = q.submit(returning("pending", resources={"gpu": 1}))
    worker = q.submit(ExecutorJob("thread", cooperative))
    await started.wait()
    await asyncio.get_running_loop().run_in_executor(None, thread_started.wait, 5)
    t0 = time.monotonic()
    await q.shutdown(timeout=5)
    assert time.monotonic() - t0 < 2
    assert running.state is pending.state is worker.state is JobState.CANCELLED
    assert pending.started_at is None
    with pytest.raises(StudioError, match="shut down"):
        q.submit(returning("late"))


async def test_shutdown_is_bounded_by_its_timeout_and_leaves_nothing_running() -> None:
    q = JobQueue(CAPS)
    started = asyncio.Event()

    async def stubborn(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(3600)  # ignores the first request; the second one ends it

    job = q.submit(CoroutineJob("stubborn", stubborn))
    await started.wait()
    t0 = time.monotonic()
    await q.shutdown(timeout=0.2)
    assert time.monotonic() - t0 < 2
    assert job.state is JobState.CANCELLED
    assert q.active() == []
