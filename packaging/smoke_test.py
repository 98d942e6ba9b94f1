#!/usr/bin/env python3
"""Frozen smoke test: build the CPU flavour, then check the installed-style app for real.

    .venv/bin/python packaging/smoke_test.py              # build + every check (minutes)
    .venv/bin/python packaging/smoke_test.py --no-build   # check dist/phi4studio as it is
    .venv/bin/python packaging/smoke_test.py --json OUT   # also write the figures as JSON

Run it with the development environment (`python3 dev.py env` prints its interpreter): it
builds the tiny ONNX test model with the code in tests/fixtures/tiny_models.py (torch and the
model builder live there, never in the frozen app). Checks, each printed PASS/FAIL:

1. `packaging/build.py --flavour cpu` builds dist/phi4studio/ (+ the tarball);
2. `phi4studio selftest` passes offscreen (the real window, tabs, jobs, cancel, probes);
3. `phi4studio doctor --json`: inference usable with the CPU flavour named by the build;
4. one real generation on the tiny model through the frozen worker
   (`phi4studio --worker inference --model DIR`, the JSON-lines protocol);
5. the training runtime seen from the frozen app: doctor probes an external Python (this
   environment) with the bundled probe script, and the frozen `runtime` worker verifies it with
   a tiny LoRA step (the bundle's own libraries must not leak into that Python);
6. cold start to the first painted window (`phi4studio startup-probe`, best of 3).

Exit code 0 only when everything passed.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
EXE = DIST / "phi4studio" / ("phi4studio-cli.exe" if sys.platform == "win32" else "phi4studio")


class Smoke:
    def __init__(self) -> None:
        self.results: list[tuple[str, bool, str]] = []
        self.figures: dict[str, Any] = {}
        self.home = Path(tempfile.mkdtemp(prefix="phi4studio-smoke-"))

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update({"PHI4STUDIO_HOME": str(self.home), **extra})
        if sys.platform.startswith("linux") and not env.get("DISPLAY"):
            env["QT_QPA_PLATFORM"] = "offscreen"
        return env

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""),
              flush=True)
        return ok

    def run(self, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env(**env), check=False)


def build(s: Smoke) -> bool:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--flavour", "cpu"],
                       cwd=ROOT, timeout=3600, check=False)
    s.figures["build_s"] = round(time.monotonic() - t0, 1)
    report = DIST / "build-report-cpu.json"
    if r.returncode == 0 and report.exists():
        data = json.loads(report.read_text())
        s.figures["folder_mb"] = round(data["folder_bytes"] / 1e6, 1)
        s.figures["files"] = data["files"]
        if data.get("package_bytes"):
            s.figures["tarball_mb"] = round(data["package_bytes"] / 1e6, 1)
    return s.check("build (cpu)", r.returncode == 0 and EXE.exists(),
                   f"{s.figures['build_s']} s, {s.figures.get('folder_mb')} MB")


def selftest(s: Smoke) -> None:
    t0 = time.monotonic()
    r = s.run("selftest", timeout=600)
    s.figures["selftest_s"] = round(time.monotonic() - t0, 1)
    tail = [ln for ln in r.stdout.splitlines() if ln.startswith(("PASS", "FAIL", "selftest"))]
    s.check("frozen selftest", r.returncode == 0, tail[-1] if tail else r.stderr[-300:])
    for line in tail:
        if line.startswith("FAIL"):
            print(f"      {line}")


def doctor(s: Smoke, training_python: str | None = None) -> dict[str, Any]:
    if training_python:
        cfg = s.home / "config"
        cfg.mkdir(parents=True, exist_ok=True)
        (cfg / "settings.json").write_text(json.dumps({"schema_version": 2,
                                                       "training_python": training_python}))
    r = s.run("doctor", "--json", timeout=600)
    try:
        data: dict[str, Any] = json.loads(r.stdout)
    except ValueError:
        s.check("frozen doctor --json", False, r.stdout[-200:] + r.stderr[-300:])
        return {}
    return {c["name"]: c for c in data["checks"]} | {"_ok": data["ok"]}


def tiny_model() -> Path:
    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    import tiny_models  # type: ignore[import-not-found]

    root = tiny_models.default_cache_root()
    hf = tiny_models.tiny_phi3_hf_dir(root)
    return Path(tiny_models.build_onnx(root, hf, "fp32"))


def inference(s: Smoke, model: Path) -> None:
    t0 = time.monotonic()
    proc = subprocess.Popen([str(EXE), "--worker", "inference", "--model", str(model)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=s.env())
    assert proc.stdin is not None and proc.stdout is not None
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict):
                events.put(ev)
        events.put(None)

    threading.Thread(target=read, daemon=True).start()

    def until(kind: str, timeout: float = 120) -> dict[str, Any] | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                ev = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if ev is None:
                return None
            if ev.get("type") in (kind, "error"):
                return ev
        return None

    start = until("start")
    ok = start is not None and start.get("type") == "start"
    s.figures["worker_start_s"] = round(time.monotonic() - t0, 2)
    result: dict[str, Any] | None = None
    if ok:
        cmd = {"cmd": "generate", "id": "smoke", "greedy": True, "max_new_tokens": 16,
               "messages": [{"role": "user", "content": "What is the weather in Oslo?"}]}
        proc.stdin.write(json.dumps(cmd) + "\n")
        proc.stdin.flush()
        result = until("result")
        proc.stdin.write(json.dumps({"cmd": "shutdown"}) + "\n")
        proc.stdin.flush()
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = -9
    data = (result or {}).get("data") or {}
    good = ok and bool(data.get("token_ids")) and data.get("completion_tokens") == 16 and rc == 0
    if good:
        s.figures["decode_tokens_per_s"] = data.get("decode_tokens_per_s")
    s.check("frozen inference worker on the tiny model", good,
            f"{data.get('completion_tokens')} tokens, {data.get('decode_tokens_per_s')} tok/s, "
            f"provider {start.get('provider') if start else '?'}, exit {rc}"
            if data else (proc.stderr.read()[-400:] if proc.stderr else "no answer"))


def training_runtime(s: Smoke) -> None:
    checks = doctor(s, training_python=sys.executable)
    rt = checks.get("training runtime", {})
    s.check("frozen doctor probes an external training runtime", rt.get("ok") is True,
            rt.get("detail", ""))
    t0 = time.monotonic()
    # stdin stays open while it runs, as in the app: a worker takes a closed stdin as "cancel".
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([str(EXE), "--worker", "runtime", "verify", "--python",
                                 sys.executable], stdin=subprocess.PIPE, stdout=out, stderr=err,
                                text=True, env=s.env())
        try:
            rc = proc.wait(timeout=900)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        assert proc.stdin is not None
        proc.stdin.close()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    result = next((json.loads(ln) for ln in stdout.splitlines()
                   if ln.startswith("{") and '"type":"result"' in ln.replace(" ", "")), None)
    s.figures["runtime_verify_s"] = round(time.monotonic() - t0, 1)
    fwd = ((result or {}).get("data", {}).get("runtime", {}) or {}).get("forward", {})
    s.check("frozen runtime worker verifies it (imports + LoRA step)",
            rc == 0 and "cpu" in fwd, f"{s.figures['runtime_verify_s']} s"
            if rc == 0 else stdout[-300:] + stderr[-300:])


def cold_start(s: Smoke, repeats: int = 3) -> None:
    times: list[float] = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="phi4studio-start-") as home:
            t0 = time.time()
            r = subprocess.run([str(EXE), "startup-probe"], capture_output=True, text=True,
                               timeout=120, env=s.env(PHI4STUDIO_HOME=home), check=False)
            line = next((ln for ln in r.stdout.splitlines() if ln.startswith("{")), None)
            if line is None:
                s.check("frozen cold start", False, r.stderr[-300:])
                return
            times.append(json.loads(line)["painted_at"] - t0)
    s.figures["cold_start_s"] = [round(t, 3) for t in times]
    s.figures["cold_start_best_s"] = round(min(times), 3)
    s.check("frozen cold start to first painted window", min(times) < 5.0,
            f"best {min(times):.2f} s of {repeats}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-build", action="store_true", help="check dist/phi4studio as it is")
    ap.add_argument("--json", type=Path, help="write the results and figures here")
    args = ap.parse_args(argv)
    s = Smoke()
    t0 = time.monotonic()
    if args.no_build:
        s.check("built app present", EXE.exists(), str(EXE))
    elif not build(s):
        return 1
    if EXE.exists():
        selftest(s)
        checks = doctor(s)
        inf = checks.get("inference runtime", {})
        flavour = (inf.get("data") or {}).get("flavour")
        build_flavour = ((inf.get("data") or {}).get("build") or {}).get("flavour")
        s.check("frozen doctor: inference with the CPU flavour",
                bool(inf.get("ok")) and flavour == "cpu" and build_flavour == "cpu",
                inf.get("detail", ""))
        inference(s, tiny_model())
        training_runtime(s)
        cold_start(s)
    s.figures["smoke_total_s"] = round(time.monotonic() - t0, 1)
    failed = [r for r in s.results if not r[1]]
    print(f"smoke: {len(s.results) - len(failed)} passed, {len(failed)} failed")
    print("figures: " + json.dumps(s.figures))
    if args.json:
        args.json.write_text(json.dumps({"results": s.results, "figures": s.figures}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
