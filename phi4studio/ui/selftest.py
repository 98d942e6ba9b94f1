"""`phi4studio selftest`: the real window, every tab, one real job to success, one cancelled.

Prints a PASS/FAIL line per check and exits 0 only if every check passed. The packaged build runs
the same command. With --screenshots DIR, saves a PNG of the window on each tab.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from phi4studio.core.jobs import JobState, SubprocessJob, worker_argv
from phi4studio.ui.headless import Session, headless_session
from phi4studio.ui.main_window import TAB_NAMES


@dataclass
class Result:
    name: str
    ok: bool
    detail: str = ""


async def _settle(seconds: float = 0.15) -> None:
    await asyncio.sleep(seconds)  # let Qt lay out and paint


async def _until(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(0.05)
    return bool(pred())


async def _steps(s: Session, shots: Path | None) -> list[Result]:
    res: list[Result] = []
    w, queue = s.window, s.studio.queue
    await _settle()
    res.append(Result("main window shown", w.isVisible(), f"{w.width()}x{w.height()}"))
    for i, name in enumerate(TAB_NAMES):
        w.tabs.setCurrentIndex(i)
        await _settle()
        ok = w.tabs.currentIndex() == i and w.tabs.currentWidget().isVisible()
        detail = ""
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            path = shots / f"{i + 1}-{name.lower()}.png"
            ok = ok and w.grab().save(str(path))
            detail = str(path)
        res.append(Result(f"tab {name}", ok, detail))

    launcher = getattr(w, "quickstart_launcher", None)
    if launcher is not None:
        page = launcher.show()
        await _settle()
        ok, detail = page.isVisible(), f"{page.width()}x{page.height()}"
        if shots is not None:
            path = shots / "7-quickstart.png"
            ok = ok and page.grab().save(str(path))
            detail = str(path)
        page.close()
        res.append(Result("quick start page", ok, detail))

    w.tabs.setCurrentIndex(0)
    good = queue.submit(SubprocessJob(
        "Self-test: a job that succeeds",
        worker_argv("selfcheck", "--steps", "20", "--interval", "0.02"),
    ))
    state = await asyncio.wait_for(queue.wait(good), 120)
    res.append(Result(
        "subprocess job succeeds",
        state is JobState.SUCCEEDED and isinstance(good.result, dict)
        and good.result.get("steps") == 20,
        f"{state.value}, {good.events_seen} protocol events, {good.error or ''}".rstrip(", "),
    ))

    slow = queue.submit(SubprocessJob(
        "Self-test: a job that is cancelled",
        worker_argv("selfcheck", "--steps", "100000", "--interval", "0.02"),
    ))
    started = await _until(lambda: (slow.progress or 0) > 0, 60)
    w.jobs_panel.select_job(slow)
    await _settle(0.3)
    t0 = time.monotonic()
    w.jobs_panel.cancel_job(slow)
    state = await asyncio.wait_for(queue.wait(slow), 60)
    res.append(Result(
        "subprocess job cancels", started and state is JobState.CANCELLED,
        f"{state.value} after {time.monotonic() - t0:.2f}s",
    ))

    await _settle(0.3)  # one coalesced repaint of the dock
    model = w.jobs_panel.model
    rows = {model.job_at(r).id: r for r in range(model.rowCount())}
    shown = [model.index(rows[j.id], 1).data() for j in (good, slow) if j.id in rows]
    res.append(Result("jobs dock shows both jobs", shown == ["succeeded", "cancelled"],
                      ", ".join(map(str, shown))))
    log_text = w.jobs_panel.log_view.toPlainText()
    res.append(Result("job log shown on selection", "cancel" in log_text.lower(),
                      f"{len(log_text)} characters"))

    w.run_probes()
    await _until(lambda: not queue.active(), 240)
    info = s.studio.inference_info or {}
    res.append(Result("inference runtime detected", bool(info.get("onnxruntime_genai")),
                      w.devices_label.text()))
    if shots is not None:
        w.grab().save(str(shots / "6-jobs.png"))
    res.append(Result("no uncaught errors", s.hook.count == 0, f"{s.hook.count} errors"))
    return res


def run_selftest(screenshots: Path | None = None) -> int:
    with headless_session() as s:
        results = s.loop.run_until_complete(_steps(s, screenshots))
    for r in results:
        print(f"{'PASS' if r.ok else 'FAIL'}  {r.name}" + (f"  ({r.detail})" if r.detail else ""))
    failed = [r for r in results if not r.ok]
    print(f"selftest: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
