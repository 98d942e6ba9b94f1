"""`phi4studio bench ui`: figures for the UI's responsiveness (printed, never asserted).

1. Main-thread stall while N subprocess jobs each stream R progress events a second for S seconds
   into the visible Jobs dock: a precise 5 ms Qt timer records how late each tick fires; p50, p99
   and max lateness are reported. Targets: p99 < 16 ms, max < 50 ms.
2. Cold start to the first painted window, in a fresh process (target < 2 s), and whether any
   heavy library (torch, transformers, onnxruntime_genai) was imported on the way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from phi4studio.core.jobs import SubprocessJob, worker_argv
from phi4studio.core.jobs.workers import app_argv

HEAVY = ("torch", "transformers", "onnxruntime_genai", "datasets", "peft", "trl", "onnx")
TICK_MS = 5


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


def measure_stall(seconds: float, jobs: int, rate: float) -> dict[str, Any]:
    import asyncio

    from PySide6.QtCore import Qt, QTimer

    from phi4studio.ui.headless import headless_session

    with headless_session() as s:
        w, queue = s.window, s.studio.queue
        w.jobs_dock.show()
        w.jobs_dock.raise_()
        late: list[float] = []
        last = [0.0]
        timer = QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.setInterval(TICK_MS)

        def tick() -> None:
            now = time.perf_counter()
            if last[0]:
                late.append(max(0.0, (now - last[0]) * 1000 - TICK_MS))
            last[0] = now

        timer.timeout.connect(tick)

        async def run() -> dict[str, Any]:
            submitted = [
                queue.submit(SubprocessJob(
                    f"Bench stream {i + 1}",
                    worker_argv("selfcheck", "--rate", str(rate), "--duration", str(seconds)),
                ))
                for i in range(jobs)
            ]
            # measure from the moment every job streams, until they finish
            while not all((j.progress or 0) > 0 for j in submitted):
                await asyncio.sleep(0.01)
            flushes0 = w.jobs_panel.model.flush_count
            timer.start()
            t0 = time.perf_counter()
            await asyncio.gather(*(queue.wait(j) for j in submitted))
            timer.stop()
            return {
                "measured_s": round(time.perf_counter() - t0, 2),
                "events": sum(j.events_seen for j in submitted),
                "states": sorted({j.state.value for j in submitted}),
                "dock_repaints": w.jobs_panel.model.flush_count - flushes0,
            }

        info = s.loop.run_until_complete(run())
    return {
        "jobs": jobs,
        "rate_per_job": rate,
        **info,
        "ticks": len(late),
        "stall_p50_ms": round(_percentile(late, 50), 2),
        "stall_p99_ms": round(_percentile(late, 99), 2),
        "stall_max_ms": round(max(late, default=0.0), 2),
    }


def measure_cold_start(repeats: int = 3) -> dict[str, Any]:
    times: list[float] = []
    heavy: set[str] = set()
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="phi4studio-start-") as home:
            env = {**__import__("os").environ, "PHI4STUDIO_HOME": home}
            t0 = time.time()
            out = subprocess.run(
                app_argv("startup-probe"),
                capture_output=True, text=True, env=env, timeout=120, check=False,
            )
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
            if line is None:
                raise RuntimeError(f"startup probe failed: {out.stderr[-2000:]}")
            data = json.loads(line)
            times.append(data["painted_at"] - t0)
            heavy.update(data["heavy_modules"])
    return {
        "cold_start_s": [round(t, 3) for t in times],
        "cold_start_best_s": round(min(times), 3),
        "heavy_modules_on_startup": sorted(heavy),
    }


def startup_probe() -> int:
    """In a fresh process: build the real window, print when it first paints, then quit."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    from phi4studio.app import build_window, make_qapp
    from phi4studio.core.studio import Studio

    app = make_qapp()

    class FirstPaint(QObject):
        def eventFilter(self, obj: QObject, ev: QEvent) -> bool:
            if ev.type() == QEvent.Type.Paint:
                painted = time.time()
                app.removeEventFilter(self)
                mods = sorted(m for m in HEAVY if m in sys.modules)
                print(json.dumps({"painted_at": painted, "heavy_modules": mods}), flush=True)
                QTimer.singleShot(0, app.quit)
            return False

    import qasync  # noqa: F401 - part of the real start-up path

    studio = Studio.open()
    window = build_window(studio)
    f = FirstPaint()
    app.installEventFilter(f)
    window.show()
    QTimer.singleShot(30_000, app.quit)
    app.exec()
    studio.close()
    return 0


def run_bench_ui(seconds: float = 10.0, jobs: int = 4, rate: float = 200.0) -> dict[str, Any]:
    stall = measure_stall(seconds, jobs, rate)
    start = measure_cold_start()
    figures = {**stall, **start}
    print(f"UI stall with {jobs} jobs x {rate:g} events/s for {seconds:g}s "
          f"({stall['events']} events, {stall['dock_repaints']} dock repaints):")
    print(f"  p50 {stall['stall_p50_ms']} ms   p99 {stall['stall_p99_ms']} ms (target < 16)   "
          f"max {stall['stall_max_ms']} ms (target < 50)")
    print(f"Cold start to first painted window: best {start['cold_start_best_s']} s of "
          f"{start['cold_start_s']} (target < 2 s)")
    print("Heavy modules imported on start-up: "
          + (", ".join(start["heavy_modules_on_startup"]) or "none"))
    return figures
