"""The training runtime through the real worker process and the JobQueue, as the app runs it:
pointing the app at an existing environment (this project's own .venv, verified for real with a
tiny LoRA step), and refusing one that cannot train. A setup that fails for want of a network and
then succeeds on Retry runs through the same worker in tests/ui/test_runtime_setup_widget.py
(and its steps in tests/core/runtime/test_runtime_setup.py)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.jobs import JobQueue, JobState
from phi4studio.core.runtime import RuntimeManager

ROOT = Path(__file__).resolve().parents[2]


class Recorded:
    def __init__(self) -> None:
        self.python: str | None = None
        self.sets: list[str | None] = []
        self.info: dict[str, Any] | None = None

    def set(self, value: str | None) -> None:
        self.python = value
        self.sets.append(value)

    def verified(self, info: dict[str, Any] | None) -> None:
        self.info = info


@pytest.fixture
async def queue() -> AsyncIterator[JobQueue]:
    q = JobQueue({"gpu": 1, "cpu": 2})
    yield q
    await q.shutdown(timeout=10)


def manager(tmp_path: Path, rec: Recorded) -> RuntimeManager:
    return RuntimeManager(tmp_path / "training-runtime", lambda: rec.python, rec.set,
                          rec.verified)


async def test_point_the_app_at_this_projects_environment(
        tmp_path: Path, queue: JobQueue, figures: Any) -> None:
    rec = Recorded()
    m = manager(tmp_path, rec)
    job = queue.submit(m.use_existing_job(Path(sys.executable).parent.parent))  # the folder
    state = await queue.wait(job)
    assert state is JobState.SUCCEEDED, job.error
    assert rec.python is not None and Path(rec.python).samefile(sys.executable)
    assert rec.info is not None and rec.info["ok"] and not rec.info["missing"]
    assert rec.info["packages"]["torch"].startswith("2.")
    assert rec.info["forward"]["cpu"]["loss"] > 0
    assert m.status().kind == "external" and not m.needs_setup(rec.info)
    figures("runtime: verify this .venv (imports + LoRA step) (s)", job.elapsed_s or 0.0)


async def test_an_environment_without_torch_is_not_taken(tmp_path: Path, queue: JobQueue) -> None:
    rec = Recorded()
    m = manager(tmp_path, rec)
    with pytest.raises(ValueError, match="neither a Python interpreter"):
        m.use_existing_job(tmp_path / "nothing-here")
    fake = tmp_path / "py"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    job = queue.submit(m.use_existing_job(fake))
    assert await queue.wait(job) is JobState.FAILED
    assert "not a working Python" in (job.error or "")
    assert rec.sets == []  # settings untouched
