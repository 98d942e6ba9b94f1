"""The server as the app and the command line run it: in its own process (`phi4studio --worker
serve`, started by the ServeController as a job) and `phi4studio serve` in the foreground."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import openai
import pytest
from serve_support import wait_for

from phi4studio.core.serve.controller import ServeController, ServeOptions, workspace_models
from phi4studio.core.serve.reqlog import read_history
from phi4studio.core.workspace.catalog import open_catalog


async def test_controller_runs_the_serve_worker(tiny_phi3_onnx_dir: Path,
                                                tmp_path: Path) -> None:
    catalog = open_catalog(tmp_path / "catalog.sqlite")
    catalog.add("exports", name="tiny export", path=str(tiny_phi3_onnx_dir))
    catalog.add("exports", name="gone", path=str(tmp_path / "missing"))
    models = workspace_models(catalog)
    assert [m.name for m in models] == ["tiny export"]
    tasks: list[asyncio.Task[object]] = []
    ctl = ServeController(lambda job: tasks.append(asyncio.ensure_future(job.run())),
                          catalog=lambda: catalog)
    seen: list[str] = []
    ctl.add_listener(seen.append)
    try:
        job = ctl.start(ServeOptions(models[0].path, name="tiny", port=0, api_key="k-123"))
        assert ctl.state == "starting" and job.resources == {"gpu": 1}
        assert "k-123" not in " ".join(job.argv)  # the key travels in the environment
        await wait_for(lambda: ctl.state in ("running", "failed"), 60, "the server")
        assert ctl.state == "running", ctl.message
        assert ctl.url and ctl.key_required and ctl.info and ctl.info["models"] == ["tiny"]
        oc = openai.AsyncOpenAI(base_url=ctl.url, api_key="k-123", max_retries=0)
        r = await oc.chat.completions.create(model="tiny", max_tokens=4,
                                             messages=[{"role": "user", "content": "hi 42"}])
        await wait_for(lambda: ctl.total == 1, 10, "the request event")
        rec = ctl.records[-1]
        assert rec["response_id"] == r.id and rec["status"] == 200 and rec["preview"] == "hi 42"
        assert "record" in seen and "state" in seen
        assert ctl.stop()
        await wait_for(lambda: ctl.state == "stopped", 20, "the stop")
        await asyncio.gather(*tasks)
        assert job.returncode == 0
        history = read_history(catalog)
        assert [h["response_id"] for h in history] == [r.id]
        assert history[0]["completion_tokens"] == r.usage.completion_tokens  # type: ignore[union-attr]
        again = ServeController(lambda job: None, catalog=lambda: catalog)
        assert again.load_history() == 1 and again.records[0]["response_id"] == r.id
    finally:
        if ctl.running:
            ctl.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        catalog.close()


async def test_a_failing_start_is_reported(tmp_path: Path) -> None:
    tasks: list[asyncio.Task[object]] = []
    ctl = ServeController(lambda job: tasks.append(asyncio.ensure_future(job.run())))
    ctl.start(ServeOptions(tmp_path, port=0))
    await asyncio.gather(*tasks, return_exceptions=True)
    assert ctl.state == "failed" and "genai_config.json" in ctl.message


@pytest.mark.skipif(sys.platform == "win32", reason="Ctrl+C is a console event there")
def test_phi4studio_serve_command(tiny_phi3_onnx_dir: Path) -> None:
    env = {**os.environ, "PHI4STUDIO_HOME": str(tiny_phi3_onnx_dir.parent / "no-home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "phi4studio", "serve", "--model", str(tiny_phi3_onnx_dir),
         "--name", "tiny", "--port", "0", "--no-log"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            if "OpenAI:" in line:
                url = line.split("base_url=")[1].split()[0]
            if line.startswith("Ctrl+C"):
                break
        assert url, "no address printed"
        oc = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        r = oc.chat.completions.create(model="tiny", max_tokens=3,
                                       messages=[{"role": "user", "content": "hi"}])
        assert r.usage is not None
        line = proc.stdout.readline()
        assert " 200 openai " in line and "tiny" in line
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Stopped after 1 requests." in out
    finally:
        if proc.poll() is None:
            proc.kill()
