"""`phi4studio bench chat`: the Playground's figures, printed (never asserted).

1. Decode tokens/s through the inference worker and its IPC vs a bare onnxruntime-genai loop in
   one process, same model and prompt, greedy (target ratio >= 0.95); time to first token.
2. Main-thread stall while the real window streams answers into the visible Playground
   transcript: a precise 5 ms Qt timer records how late each tick fires (target max < 50 ms).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from phi4studio.core.playground.bench import DEFAULT_PROMPT, measure_decode

TICK_MS = 5


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def measure_stall(model_dir: Path, *, turns: int = 3, max_new_tokens: int = 256,
                  prompt: str = DEFAULT_PROMPT) -> dict[str, Any]:
    from PySide6.QtCore import Qt, QTimer

    from phi4studio.ui.headless import headless_session

    with headless_session() as s:
        w = s.window
        tabs = w.tabs
        view = next(tabs.widget(i) for i in range(tabs.count())
                    if tabs.tabText(i) == "Playground")
        tabs.setCurrentWidget(view)
        w.resize(1400, 900)
        if view.open_folder(str(model_dir)) is None:
            raise RuntimeError(view.status.text())
        s.loop.run_until_complete(view.load())
        if not view.wb.sessions:
            raise RuntimeError(view.status.text())
        st = view.wb.settings
        st.max_new_tokens, st.greedy, st.guided = max_new_tokens, True, False
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
        tv = view.transcripts[0]
        flushes0 = tv.flushes
        events = [0]
        handler_ms: list[float] = []  # wall time
        handler_cpu_ms: list[float] = []  # main-thread CPU time: what load does not inflate
        handle = view._session_event

        def timed(side: int, ev: Any) -> None:  # our own main-thread work per session event
            t, c = time.perf_counter(), time.thread_time()
            handle(side, ev)
            handler_cpu_ms.append((time.thread_time() - c) * 1000)
            handler_ms.append((time.perf_counter() - t) * 1000)
            events[0] += 1

        view._session_event = timed

        tokens = [0]

        async def run() -> float:
            timer.start()
            t0 = time.perf_counter()
            for _ in range(turns):
                view.input.setPlainText(prompt)
                task = view.send()
                if task is not None:
                    await task
                tokens[0] += sum(t.completion_tokens or 0 for t in view.wb.sessions[0].turns)
                view.new_chat()
            timer.stop()
            return time.perf_counter() - t0

        seconds = s.loop.run_until_complete(run())
        return {
            "turns": turns, "measured_s": round(seconds, 2), "session_events": events[0],
            "transcript_repaints": tv.flushes - flushes0, "ticks": len(late),
            "stall_p50_ms": round(_pct(late, 50), 2), "stall_p99_ms": round(_pct(late, 99), 2),
            "stall_max_ms": round(max(late, default=0.0), 2), "tokens": tokens[0],
            "event_handler_max_ms": round(max(handler_ms, default=0.0), 2),
            "event_handler_max_cpu_ms": round(max(handler_cpu_ms, default=0.0), 2),
            "repaint_max_ms": round(tv.flush_ms_max, 2),
        }


def run_bench_chat(models: list[Path], *, max_new_tokens: int = 256, repeats: int = 3,
                   turns: int = 3, prompt: str = DEFAULT_PROMPT, ui: bool = True,
                   provider: str = "cpu") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model_dir in models:
        print(f"== {model_dir.name}")
        dec = asyncio.run(measure_decode(model_dir, prompt=prompt, max_new_tokens=max_new_tokens,
                                         repeats=repeats, provider=provider))
        fig = {"decode": dec}
        r = dec["ratio"]
        print(f"  prompt {dec['prompt_tokens']} tokens, {dec['generated_tokens']} generated "
              f"(greedy, {repeats} runs each, same tokens: {dec['same_tokens']})")
        print(f"  decode tokens/s: bare loop {dec['bare_decode_tokens_per_s']:.1f}, through the "
              f"worker + IPC {dec['worker_decode_tokens_per_s']:.1f} -> ratio "
              f"{r:.3f} (target >= 0.95)" if r else "  decode tokens/s: not measured")
        print(f"  TTFT: bare {dec['bare_ttft_s'] * 1000:.1f} ms, through the worker "
              f"{dec['worker_ttft_s'] * 1000:.1f} ms (inside the worker "
              f"{(dec['worker_inside_ttft_s'] or 0) * 1000:.1f} ms); worker start "
              f"{dec['worker_startup_s'] or 0:.2f} s")
        if ui:
            stall = measure_stall(model_dir, turns=turns, max_new_tokens=max_new_tokens,
                                  prompt=prompt)
            fig["stall"] = stall
            print(f"  main thread while streaming {stall['turns']} answers into the visible "
                  f"transcript ({stall['session_events']} events, "
                  f"{stall['transcript_repaints']} repaints, {stall['measured_s']} s): "
                  f"p50 {stall['stall_p50_ms']} ms, p99 {stall['stall_p99_ms']} ms, "
                  f"max {stall['stall_max_ms']} ms (target < 50); our own work: longest event "
                  f"{stall['event_handler_max_ms']} ms ({stall['event_handler_max_cpu_ms']} ms "
                  f"CPU), longest repaint {stall['repaint_max_ms']} ms")
        out[str(model_dir)] = fig
    return out
