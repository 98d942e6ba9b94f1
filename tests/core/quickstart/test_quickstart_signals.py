"""`phi4studio quickstart` stopped by a signal, for real: SIGTERM during training cancels the
flow as the Cancel button does, so the trainer's process tree ends with it, the command exits 3,
and the flow is left resumable at its training step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from phi4studio.core.jobs.workers import app_argv


def _flow_processes(ws: Path) -> list[psutil.Process]:
    """Processes whose command line names the workspace (the flow, its trainer)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(str(ws) in part for part in p.info["cmdline"] or []):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.slow
@pytest.mark.ci
@pytest.mark.timeout(600)
def test_sigterm_during_training_cancels_the_flow_and_its_trainer(
        tmp_path: Path, tiny_phi3_hf_dir: Path) -> None:
    ws = tmp_path / "ws"
    env = {**os.environ, "PHI4STUDIO_HOME": str(tmp_path / "home")}
    argv = app_argv("--workspace", str(ws), "quickstart", "--tools", "sample",
                    "--base", str(tiny_phi3_hf_dir), "--size", "40", "--no-bfcl",
                    "--set", "training.max_steps=100000", "--set", "training.max_length=256")
    err_path = tmp_path / "stderr.txt"
    with err_path.open("w") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        try:
            deadline = time.monotonic() + 400
            while "Train (LoRA): step" not in err_path.read_text():
                assert proc.poll() is None, err_path.read_text()[-3000:]
                assert time.monotonic() < deadline, err_path.read_text()[-3000:]
                time.sleep(0.5)
            trainer = [p for p in _flow_processes(ws) if p.pid != proc.pid]
            assert trainer, "the training step runs in a process of its own"
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = err_path.read_text()
    assert rc == 3, text[-3000:]
    assert "cancelling" in text and "--resume" in text
    psutil.wait_procs(trainer, timeout=30)
    assert not _flow_processes(ws), "no process of the flow outlives the command"
    (flow,) = [p for p in (ws / "quickstart").iterdir() if p.is_dir()]
    state = json.loads((flow / "state.json").read_text())
    assert state["status"] == "cancelled"
    unfinished = [s["name"] for s in state["steps"] if s["status"] != "done"]
    assert unfinished[0] == "train"
    assert state["artefacts"]["run_id"]  # the run to resume from
