"""`phi4studio eval` and `phi4studio bench latency` as a user runs them (real subprocesses, the
tiny Phi3 ONNX model, a throw-away home)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fixtures.bench_data import benchmarks_root


@pytest.fixture(scope="module")
def bench_root(pytestconfig: pytest.Config) -> Path:
    return benchmarks_root(pytestconfig)


def cli(home: Path, bench: Path, *args: str,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PHI4STUDIO_HOME=str(home), PHI4STUDIO_BENCHMARKS=str(bench))
    return subprocess.run([sys.executable, "-m", "phi4studio", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def last_json(out: str) -> Any:
    return json.loads(out.strip().splitlines()[-1])


def test_eval_compare_report_and_latency(tmp_path: Path, tiny_phi3_onnx_dir: Path,
                                         bench_root: Path) -> None:
    home = tmp_path / "home"
    model = str(tiny_phi3_onnx_dir)
    base = ["eval", "--model", model, "--suite", "bfcl:simple_python,bfcl:irrelevance",
            "--limit", "2", "--max-new-tokens", "8", "--json"]
    r1 = cli(home, bench_root, *base)
    assert r1.returncode == 0, r1.stderr
    done = last_json(r1.stdout)
    assert done["status"] == "complete" and done["summary"]["done"] == 4
    events = [json.loads(line) for line in r1.stdout.splitlines()[:-1]]
    assert events[0]["type"] == "start" and any(e["type"] == "progress" for e in events)
    r2 = cli(home, bench_root, *base, "--guided")
    assert r2.returncode == 0, r2.stderr
    a, b = done["run"], last_json(r2.stdout)["run"]

    resumed = cli(home, bench_root, "eval", "--resume", a, "--json")
    assert resumed.returncode == 0 and last_json(resumed.stdout)["summary"]["done"] == 4

    listed = cli(home, bench_root, "eval", "list", "--json")
    rows = json.loads(listed.stdout)
    assert {r["id"] for r in rows} == {a, b}
    assert all(r["metrics"]["status"] == "complete" for r in rows)

    html = tmp_path / "ab.html"
    cmp = cli(home, bench_root, "eval", "compare", a, b, "--html", str(html))
    assert cmp.returncode == 0, cmp.stderr
    assert "verdict:" in cmp.stdout and "4 paired cases" in cmp.stdout
    assert html.exists() and "McNemar" in html.read_text()

    out = tmp_path / "r.html"
    rep = cli(home, bench_root, "eval", "report", a, "--html", str(out))
    assert rep.returncode == 0 and out.exists()

    bad = cli(home, bench_root, "eval", "--model", str(tmp_path), "--suite", "bfcl:multiple")
    assert bad.returncode == 2 and "genai_config.json" in bad.stderr
    assert cli(home, bench_root, "eval", "compare", a).returncode == 2

    lat = cli(home, bench_root, "bench", "latency", "--model", model, "--repeats", "2",
              "--prompt-tokens", "64", "--max-new-tokens", "8", "--json")
    assert lat.returncode == 0, lat.stderr
    fig = json.loads(lat.stdout)
    assert fig["rows"][0]["ttft_p50_s"] > 0 and fig["peak_rss_mb"] > 10
    rows = json.loads(cli(home, bench_root, "eval", "list", "--json").stdout)
    assert [r["suite"] for r in rows].count("bench:latency") == 1


@pytest.mark.timeout(300)
def test_sigterm_stops_an_evaluation_and_its_worker(tmp_path: Path, tiny_phi3_onnx_dir: Path,
                                                    bench_root: Path) -> None:
    """SIGTERM (a service manager, `kill`) stops `phi4studio eval` as Ctrl+C does: exit 3, the
    run left resumable, and its inference worker does not outlive the command."""
    import signal

    import psutil

    home = tmp_path / "home"
    env = dict(os.environ, PHI4STUDIO_HOME=str(home), PHI4STUDIO_BENCHMARKS=str(bench_root))
    argv = [sys.executable, "-m", "phi4studio", "eval", "--model", str(tiny_phi3_onnx_dir),
            "--suite", "bfcl:simple_python", "--limit", "400", "--max-new-tokens", "48", "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # a finished case: the worker is up and generating
            ev = json.loads(line)
            if ev.get("type") == "progress" and ev.get("step", 0) >= 1:
                break
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert workers, "the evaluation's inference runs in a worker process"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err[-2000:]
    done = last_json(out)
    assert done["status"] == "stopped" and 0 < done["summary"]["done"] < 400
    assert "stopping" in err
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, "no worker outlives the command"
    resumed = cli(home, bench_root, "eval", "--resume", done["run"], "--json", timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert last_json(resumed.stdout)["summary"]["done"] == 400
