"""JobQueue history: jobs recorded in a real catalog, a broken history that never breaks jobs,
jobs running at exit coming back interrupted, historic jobs without a log.

Everything runs on the test's own event loop (pytest-asyncio), without Qt.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from jobqueue_helpers import CAPS, Recorder, gate_job, returning

from phi4studio.core.errors import JobError
from phi4studio.core.jobs import CoroutineJob, HistoricJob, Job, JobQueue, JobState
from phi4studio.core.workspace.catalog import Catalog


async def test_history_is_recorded_in_a_real_catalog(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog.sqlite")
    q = JobQueue(CAPS, history=cat, log_dir=tmp_path / "logs")
    gate = asyncio.Event()
    started = asyncio.Event()

    async def fails(job: Job) -> None:
        job.add_log("about to fail")
        raise JobError("no space left for the export")

    long = q.submit(gate_job("long", gate, started, category="training", resources={"gpu": 1}))
    await started.wait()
    rows = {r["name"]: r for r in cat.job_history()}
    assert rows["long"]["state"] == "running"
    assert rows["long"]["category"] == "training"
    assert rows["long"]["kind"] == "coroutine"
    assert rows["long"]["started_at"] is not None and rows["long"]["finished_at"] is None

    bad = q.submit(CoroutineJob("export", fails))
    await q.wait(bad)
    gate.set()
    await q.wait(long)
    rows = {r["name"]: r for r in cat.job_history()}
    assert rows["long"]["state"] == "succeeded"
    assert rows["long"]["progress"] == 1.0
    assert rows["export"]["state"] == "failed"
    assert "no space left for the export" in rows["export"]["error"]
    log_path = Path(rows["export"]["log_path"])
    assert log_path.parent == tmp_path / "logs"
    assert "about to fail" in log_path.read_text(encoding="utf-8")
    cat.close()


async def test_broken_history_does_not_break_jobs(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    cat = Catalog(tmp_path / "catalog.sqlite")
    cat.close()  # every write now raises
    q = JobQueue(CAPS, history=cat)
    job = q.submit(returning(5))
    assert await q.wait(job) is JobState.SUCCEEDED
    assert job.result == 5
    assert "could not record job" in caplog.text


async def test_jobs_running_at_exit_come_back_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    cat = Catalog(path)
    q = JobQueue(CAPS, history=cat, log_dir=tmp_path / "logs")
    gate = asyncio.Event()
    started = asyncio.Event()
    done = q.submit(returning("ok"))
    await q.wait(done)
    crashed = q.submit(gate_job("training run", gate, started, resources={"gpu": 1}))
    queued = q.submit(returning("queued", resources={"gpu": 1}))
    await started.wait()
    crashed.add_log("epoch 1 of 3")
    crashed.log.flush()

    # "The app died": a new session opens the same catalog while those rows say running/pending.
    cat2 = Catalog(path)
    assert cat2.mark_interrupted() == 2
    history = cat2.job_history()
    assert [r["name"] for r in history] == [done.name, "training run", queued.name]

    q2 = JobQueue(CAPS)
    rec = Recorder()
    q2.add_listener(rec)
    restored = q2.restore(history)
    assert [type(j) for j in restored] == [HistoricJob] * 3
    by_name = {j.name: j for j in restored}
    assert by_name[done.name].state is JobState.SUCCEEDED
    old = by_name["training run"]
    assert old.state is JobState.INTERRUPTED and old.state.finished
    assert old.message == "interrupted: the app stopped while this job was running"
    assert by_name[queued.name].message.endswith("was pending")
    assert old.finished_at is not None
    assert isinstance(old, HistoricJob) and "epoch 1 of 3" in old.load_log()
    assert [w for w, _, _ in rec.events] == ["added"] * 3
    assert q2.active() == []
    assert q2.cancel(old) is False
    assert await q2.wait(old) is JobState.INTERRUPTED

    # Restoring the same records again adds nothing; new jobs come after the old ones.
    assert q2.restore(history) == []
    new = q2.submit(returning("new"))
    await q2.wait(new)
    assert q2.jobs[-1] is new and len(q2.jobs) == 4
    assert q2.get(old.id) is old

    gate.set()
    await q.wait_all()
    cat.close()
    cat2.close()


async def test_restored_unfinished_records_show_as_interrupted() -> None:
    """Records not marked by the catalog (another path, an older build) never look alive."""
    q = JobQueue(CAPS)
    [old] = q.restore([{"id": "r1", "name": "train", "state": "running", "created_at": 1.0}])
    assert old.state is JobState.INTERRUPTED
    assert not old.can_cancel and q.cancel(old) is False
    assert q.active() == []
    await q.shutdown(timeout=1)
    assert old.state is JobState.INTERRUPTED


def test_historic_job_without_a_log_file_says_so() -> None:
    job = HistoricJob(
        {"id": "abc", "name": "old", "kind": "subprocess", "state": "failed", "error": "boom",
         "created_at": 1.0, "log_path": "/nonexistent/abc.log"}
    )
    assert job.state is JobState.FAILED and job.error == "boom" and job.kind_name == "subprocess"
    assert "no log" in job.load_log()
