"""SubprocessJob against real processes that speak the JSON-lines protocol.

The app's own worker (`phi4studio --worker selfcheck`, started through `worker_argv`) covers
progress, results, errors, crashes, garbage, floods and cancel; the small scripts in `scripts/`
cover what it cannot express (a process tree that ignores SIGTERM, one huge line, bare exit codes).
"""

from __future__ import annotations

import asyncio
import signal
import stat
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from phi4studio.core.jobs import JobQueue, JobState, SubprocessJob, worker_argv
from phi4studio.core.jobs import workers as workers_mod
from phi4studio.core.jobs.subprocess_job import MAX_LINE_BYTES

SCRIPTS = Path(__file__).resolve().parent / "scripts"
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def selfcheck(*args: str) -> list[str]:
    return worker_argv("selfcheck", *args)


def script(name: str, *args: str) -> list[str]:
    return [sys.executable, str(SCRIPTS / name), *args]


def gone(pid: int) -> bool:
    """Not running any more (a zombie nobody has reaped yet counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def until(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Ticker:
    """Measures the event loop's responsiveness: the longest gap between 5 ms ticks."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last)
            self.ticks += 1
            last = now

    def __enter__(self) -> Ticker:
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Every job's reader and waiter threads end, and no child process outlives its test."""
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        threads = [t.name for t in threading.enumerate() if t.name.startswith("job-")]
        children = [p for p in psutil.Process().children(recursive=True) if not gone(p.pid)]
        if not threads and not children:
            return
        time.sleep(0.02)
    for p in children:
        p.kill()
    raise AssertionError(f"leaked threads {threads} or processes {children}")


@pytest.fixture
async def queue() -> AsyncIterator[JobQueue]:
    q = JobQueue({"gpu": 1, "cpu": 2})
    yield q
    await q.shutdown(timeout=5)


async def run(q: JobQueue, job: SubprocessJob, timeout: float = 30) -> JobState:
    q.submit(job)
    return await asyncio.wait_for(q.wait(job), timeout)


# --- success and failure --------------------------------------------------------------------

async def test_success_with_result_progress_and_eta(queue: JobQueue) -> None:
    seen: list[tuple[float | None, float | None, str]] = []
    events: list[dict[str, Any]] = []

    def watch(what: str, job: Any) -> None:
        if what == "progress" and job is not None and job.state is JobState.RUNNING:
            seen.append((job.progress, job.eta_s, job.message))

    queue.add_listener(watch)
    job = SubprocessJob("self-check", selfcheck("--steps", "10", "--interval", "0.02"),
                        on_event=events.append, resources={"gpu": 1})
    assert await run(queue, job) is JobState.SUCCEEDED
    assert job.returncode == 0 and job.error is None
    assert job.result["steps"] == 10 and job.result["seconds"] > 0
    assert job.start_info is not None and job.start_info["pid"] == job.pid
    fractions = [p for p, _, _ in seen if p is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 10
    etas = [e for _, e, _ in seen if e is not None]
    assert etas and etas[0] > etas[-1] >= 0  # the worker's own estimate counts down
    assert any(m.startswith("step 3/10") and "loss" in m for _, _, m in seen)
    assert [e["type"] for e in events][:2] == ["start", "progress"]
    assert [e["type"] for e in events][-2:] == ["result", "done"]
    assert job.events_seen == len(events) == 13
    assert job.log.lines[0].startswith("$ ") and "selfcheck" in job.log.lines[0]
    assert job.progress == 1.0


async def test_failure_via_error_event(queue: JobQueue) -> None:
    job = SubprocessJob("fails", selfcheck("--steps", "5", "--fail-at", "3", "--interval", "0"))
    assert await run(queue, job) is JobState.FAILED
    assert job.returncode == 1
    assert job.last_error == "simulated failure at step 3"
    assert job.error is not None
    assert "exited with code 1" in job.error and "simulated failure at step 3" in job.error
    assert "ERROR: simulated failure at step 3" in job.log.text()


async def test_crash_reports_exit_code_and_stderr_tail(queue: JobQueue) -> None:
    job = SubprocessJob("crashes", selfcheck("--crash-at", "2", "--interval", "0",
                                             "--stderr", "loading shards"))
    assert await run(queue, job) is JobState.FAILED
    assert job.returncode == 3
    assert job.error is not None
    assert "exited with code 3" in job.error
    assert "simulated crash at step 2" in job.error  # from the stderr tail
    assert "loading shards" in job.error
    assert job.message == "crashes exited with code 3"


async def test_garbage_output_becomes_log_lines(queue: JobQueue) -> None:
    job = SubprocessJob("garbage", selfcheck("--garbage", "--steps", "3", "--interval", "0"))
    assert await run(queue, job) is JobState.SUCCEEDED
    assert job.result is not None and job.result["steps"] == 3
    lines = list(job.log.lines)
    assert lines.count("{not json at all") == 3
    assert lines.count('{"type": "progress", "v": 99}') == 3  # wrong protocol version: a log line
    binary = [ln for ln in lines if "binary" in ln]
    assert len(binary) == 3 and all("\ufffd" in ln for ln in binary)
    assert job.events_seen == 1 + 3 + 2  # start, progress x3, result, done


async def test_flood_keeps_the_loop_responsive_and_loses_nothing(queue: JobQueue) -> None:
    n = 200_000
    job = SubprocessJob("flood", selfcheck("--flood", str(n), "--steps", "2", "--interval", "0"))
    t0 = time.perf_counter()
    with Ticker() as ticker:
        assert await run(queue, job, timeout=60) is JobState.SUCCEEDED
    elapsed = time.perf_counter() - t0
    print(f"\nflood of {n:,} lines: {elapsed:.2f} s, loop max gap {ticker.max_gap * 1000:.1f} ms"
          f" over {ticker.ticks} ticks")
    assert ticker.max_gap < 1.0
    assert ticker.ticks > 10
    assert job.result is not None and job.result["steps"] == 2  # the result after the flood
    assert job.log.total == 1 + n  # the command line, then every flood line
    assert job.log.dropped == n + 1 - len(job.log.lines)
    assert job.log.lines[-1].startswith(f"flood line {n - 1} ")


async def test_one_huge_line_is_split_not_dropped(queue: JobQueue) -> None:
    job = SubprocessJob("big line", script("bigline.py"))
    with Ticker() as ticker:
        assert await run(queue, job) is JobState.SUCCEEDED
    assert job.result == {"size": 5 * 1024 * 1024}
    pieces = list(job.log.lines)[1:]
    assert all(len(p) <= MAX_LINE_BYTES for p in pieces)
    assert sum(len(p) for p in pieces) == 5 * 1024 * 1024
    assert "".join(pieces) == "".join(str(i) * (1024 * 1024) for i in range(5))
    assert ticker.max_gap < 1.0


# --- cancel ---------------------------------------------------------------------------------

async def test_cancel_cooperative_child_exits_cleanly(queue: JobQueue) -> None:
    events: list[dict[str, Any]] = []
    job = SubprocessJob("cooperative", selfcheck("--steps", "100000", "--interval", "0.01"),
                        on_event=events.append, cancel_grace_s=10)
    queue.submit(job)
    await until(lambda: job.progress is not None and job.progress > 0)
    t0 = time.monotonic()
    assert queue.cancel(job) is True
    assert await asyncio.wait_for(queue.wait(job), 15) is JobState.CANCELLED
    assert time.monotonic() - t0 < 5  # it did not wait for a grace period to run out
    assert job.returncode == 0  # it stopped by itself
    checkpoints = [e for e in events if e["type"] == "checkpoint"]
    assert len(checkpoints) == 1 and checkpoints[0]["step"] >= 1
    text = job.log.text()
    assert "cancel requested" in text and "cancelled at step" in text
    assert "terminating" not in text and "killing" not in text
    assert job.pid is not None and gone(job.pid)


@POSIX
async def test_cancel_escalates_to_terminate(queue: JobQueue) -> None:
    job = SubprocessJob("deaf", selfcheck("--ignore-cancel", "--steps", "100000",
                                          "--interval", "0.01"),
                        cancel_grace_s=0.3, terminate_grace_s=5)
    queue.submit(job)
    await until(lambda: job.progress is not None and job.progress > 0)
    assert queue.cancel(job) is True
    assert await asyncio.wait_for(queue.wait(job), 15) is JobState.CANCELLED
    assert job.returncode == -signal.SIGTERM
    text = job.log.text()
    assert "no exit after 0.3 s: terminating the process tree" in text
    assert "killing" not in text
    assert job.pid is not None and gone(job.pid)


@POSIX
@pytest.mark.parametrize(
    "child_ignores_term", [False, True], ids=["child-dies-on-term", "child-ignores-term"]
)
@pytest.mark.parametrize(
    "layout",
    ["same-group", "new-session", "new-session-holding-pipes"],
)
async def test_cancel_kills_the_whole_tree(
    queue: JobQueue, child_ignores_term: bool, layout: str
) -> None:
    args = ["--new-session"] if layout.startswith("new-session") else []
    if layout.endswith("holding-pipes"):
        args.append("--hold-pipes")
    if child_ignores_term:
        args.append("--child-ignores-term")
    job = SubprocessJob("tree", script("tree.py", *args),
                        cancel_grace_s=0.2, terminate_grace_s=0.5)
    queue.submit(job)
    await until(lambda: job.start_info is not None)
    assert job.start_info is not None
    child, grandchild = int(job.start_info["pid"]), int(job.start_info["grandchild"])
    assert psutil.Process(grandchild).ppid() == child
    try:
        t0 = time.monotonic()
        assert queue.cancel(job) is True
        assert await asyncio.wait_for(queue.wait(job), 15) is JobState.CANCELLED
        took = time.monotonic() - t0
        await until(lambda: gone(child) and gone(grandchild), timeout=2)
        text = job.log.text()
        assert "terminating the process tree" in text
        assert "killing the process tree" in text  # the grandchild outlives SIGTERM
        assert took < 3, f"cancel took {took:.1f} s"
    finally:
        for pid in (child, grandchild):
            if not gone(pid):
                psutil.Process(pid).kill()


@POSIX
async def test_cooperative_cancel_does_not_leave_orphans(queue: JobQueue) -> None:
    job = SubprocessJob("leaves a grandchild", script("tree.py", "--obey-cancel", "--new-session"),
                        cancel_grace_s=5, terminate_grace_s=0.5)
    queue.submit(job)
    await until(lambda: job.start_info is not None)
    assert job.start_info is not None
    grandchild = int(job.start_info["grandchild"])
    try:
        assert queue.cancel(job) is True
        assert await asyncio.wait_for(queue.wait(job), 15) is JobState.CANCELLED
        assert job.returncode == 0  # the child itself obeyed
        await until(lambda: gone(grandchild), timeout=2)
        text = job.log.text()
        assert "child exiting, grandchild left behind" in text
        assert "it left child processes running" in text
    finally:
        if not gone(grandchild):
            psutil.Process(grandchild).kill()


async def test_cancel_pending_subprocess_job_never_starts_it(queue: JobQueue) -> None:
    first = SubprocessJob("holds the gpu", selfcheck("--steps", "100000", "--interval", "0.01"),
                          resources={"gpu": 1})
    second = SubprocessJob("waits", selfcheck("--steps", "1"), resources={"gpu": 1})
    queue.submit(first)
    queue.submit(second)
    await until(lambda: first.pid is not None)
    assert second.state is JobState.PENDING
    assert queue.cancel(second) is True
    assert second.state is JobState.CANCELLED and second.pid is None
    queue.cancel(first)
    assert await asyncio.wait_for(queue.wait(first), 15) is JobState.CANCELLED
    assert second.pid is None


async def test_shutdown_stops_running_processes() -> None:
    q = JobQueue({"gpu": 1, "cpu": 2})
    job = SubprocessJob("long", selfcheck("--steps", "100000", "--interval", "0.01"))
    q.submit(job)
    await until(lambda: job.progress is not None and job.progress > 0)
    await q.shutdown(timeout=10)
    assert job.state is JobState.CANCELLED
    assert job.pid is not None and gone(job.pid)


async def test_shutdown_deadline_kills_a_process_that_ignores_cancel() -> None:
    """At app exit the queue waits `timeout`, then the process tree is killed, not left behind."""
    q = JobQueue({"gpu": 1, "cpu": 2})
    job = SubprocessJob("deaf", selfcheck("--ignore-cancel", "--steps", "100000",
                                          "--interval", "0.01"))  # default grace: 20 s
    q.submit(job)
    await until(lambda: job.progress is not None and job.progress > 0)
    t0 = time.monotonic()
    await q.shutdown(timeout=0.5)
    assert time.monotonic() - t0 < 3
    assert job.state is JobState.CANCELLED
    assert job.pid is not None
    await until(lambda: gone(job.pid), timeout=2)


# --- start failures and the exit-code verdict -----------------------------------------------

async def test_missing_program_gives_a_clear_error(queue: JobQueue, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "trainer"
    job = SubprocessJob("missing", [str(missing), "--flag"])
    assert await run(queue, job) is JobState.FAILED
    assert job.error is not None
    assert f"Could not start {missing}" in job.error
    assert "exists and is executable" in job.error  # the hint says what to check
    assert job.pid is None


@POSIX
async def test_non_executable_program_gives_a_clear_error(queue: JobQueue,
                                                          tmp_path: Path) -> None:
    prog = tmp_path / "trainer.sh"
    prog.write_text("#!/bin/sh\necho hi\n")
    prog.chmod(stat.S_IRUSR | stat.S_IWUSR)  # no x bit: not even root may run it
    job = SubprocessJob("not executable", [str(prog)])
    assert await run(queue, job) is JobState.FAILED
    assert job.error is not None and f"Could not start {prog}" in job.error


async def test_bad_working_directory_gives_a_clear_error(queue: JobQueue,
                                                         tmp_path: Path) -> None:
    job = SubprocessJob("bad cwd", selfcheck("--steps", "1"), cwd=tmp_path / "missing")
    assert await run(queue, job) is JobState.FAILED
    assert job.error is not None and "Could not start" in job.error


@pytest.mark.parametrize(
    ("args", "state", "in_error"),
    [
        (["--exit", "0"], JobState.SUCCEEDED, None),
        (["--exit", "0", "--error", "only a warning"], JobState.SUCCEEDED, None),
        (["--exit", "2", "--result"], JobState.FAILED, "exited with code 2"),
        (["--exit", "5"], JobState.FAILED, "exited with code 5 (it printed nothing on stderr)"),
        (["--exit", "4", "--stderr-lines", "50"], JobState.FAILED, "stderr line 49"),
        (["--exit", "6", "--error", "CUDA out of memory", "--stderr-lines", "3"],
         JobState.FAILED, "exited with code 6: CUDA out of memory"),
    ],
    ids=["0-no-result", "0-with-error-event", "2-with-result", "5-silent", "4-stderr",
         "6-error-event-wins"],
)
async def test_exit_code_is_the_verdict(queue: JobQueue, args: list[str], state: JobState,
                                        in_error: str | None) -> None:
    job = SubprocessJob("verdict", script("verdict.py", *args, "--log", "plain text line"))
    assert await run(queue, job) is state
    assert job.returncode == int(args[1])
    assert "plain text line" in job.log.lines  # non-protocol stdout is a log line
    if state is JobState.SUCCEEDED:
        assert job.error is None
        assert job.result is None  # no result event: none invented
    else:
        assert job.error is not None and in_error is not None and in_error in job.error
    if "--stderr-lines" in args and "--error" not in args:
        assert job.error is not None
        assert "stderr line 41" not in job.error  # only the tail
        assert job.error.count("stderr line") == 8


def test_worker_argv_is_frozen_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    assert worker_argv("selfcheck", "--steps", "3") == [
        sys.executable, "-m", "phi4studio", "--worker", "selfcheck", "--steps", "3"
    ]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    frozen = workers_mod.worker_argv("selfcheck", "--steps", "3")
    assert frozen == [sys.executable, "--worker", "selfcheck", "--steps", "3"]
    assert "-m" not in frozen


async def test_unknown_worker_fails_with_the_list_of_known_ones(queue: JobQueue) -> None:
    job = SubprocessJob("nope", worker_argv("no-such-worker"))
    assert await run(queue, job) is JobState.FAILED
    assert job.returncode == 2
    assert "unknown worker 'no-such-worker'" in job.log.text()
    assert "selfcheck" in job.log.text()
