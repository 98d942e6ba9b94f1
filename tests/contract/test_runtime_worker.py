"""The training runtime through the real worker process and the JobQueue, as the app runs it:
pointing the app at an existing environment (this project's own .venv, verified for real with a
tiny LoRA step), and a setup that fails for want of a network, then succeeds on retry."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.jobs import JobQueue, JobState
from phi4studio.core.runtime import RuntimeManager
from phi4studio.core.runtime.pythons import venv_python

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


async def test_setup_without_network_fails_clearly_and_retry_completes(
        tmp_path: Path, queue: JobQueue) -> None:
    rec = Recorded()
    m = manager(tmp_path, rec)
    req = tmp_path / "runtime.txt"
    req.write_text("six\n")
    m.worker_args = ["--requirements", str(req), "--verify-script", "none", "--torch-index",
                     "none", "--min-free-gb", "0.5"]
    m.env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    m.env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="http://127.0.0.1:9/simple",
                 PIP_RETRIES="1", PIP_TIMEOUT="3")
    assert m.needs_setup() is False  # from source: this interpreter is the runtime
    job = m.create_job(python=sys.executable, channel="cpu")
    assert job.argv[-len(m.worker_args) - 7:-len(m.worker_args)][0] == "create"
    queue.submit(job)
    assert await queue.wait(job) is JobState.FAILED
    assert "cannot be reached" in (job.error or "") and "Retry" in (job.error or "")
    assert rec.sets == []
    assert m.has_partial() and m.status().kind == "source"  # still the interpreter from before

    m.env = None  # the network is back: the same button again
    retry = m.create_job(python=sys.executable, channel="cpu")
    assert "repair" in retry.argv  # continues in the same folder
    queue.submit(retry)
    assert await queue.wait(retry) is JobState.SUCCEEDED, retry.error
    assert rec.python == str(venv_python(m.location))
    st = m.status()
    assert st.kind == "managed" and st.state == "ready" and not m.needs_setup()
    assert (retry.progress or 0) == 1.0

    removal = queue.submit(m.remove_job())
    assert await queue.wait(removal) is JobState.SUCCEEDED
    assert not m.location.exists() and rec.python is None
