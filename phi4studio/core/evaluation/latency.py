"""Latency benchmark of one model through the inference worker.

    figures = await bench_latency("exports/m", prompt_tokens=(128, 512), repeats=5)

Per prompt length (a user message padded to about that many tokens) and concurrency (requests
in flight at once; the worker serves them one after another, so this measures queueing, not
batching): time to first token p50/p95 (worker-side `ttft_s`), decode tokens/s (after the first
token), and end-to-end latency p50/p95 as the client sees it. End-to-end tool-call latency
p50/p95: a tool-calling prompt, guided to one call of the offered tools, from the request to
the parsed call. Peak RSS of the worker process tree (psutil, sampled every 20 ms) and, on
CUDA, peak device memory from `nvidia-smi` (None elsewhere). Greedy decoding throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from phi4studio.core.evaluation.driver import adapter_file
from phi4studio.core.evaluation.stats import percentile

FILLER = ("The quick brown fox jumps over the lazy dog while the committee reviews the quarterly "
          "report on regional weather stations and their calibration schedules. ")
BENCH_TOOLS = [
    {"name": "get_weather", "description": "Current weather for a city.",
     "inputSchema": {"type": "object", "properties": {
         "city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
         "required": ["city"]}},
    {"name": "send_email", "description": "Send an email.",
     "inputSchema": {"type": "object", "properties": {
         "to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}},
         "required": ["to", "subject"]}},
]
TOOL_PROMPT = "What's the weather like in Oslo right now? Use celsius."


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def pct(values: Sequence[float], q: float) -> float | None:
    return percentile(sorted(values), q) if values else None


class PeakMemory:
    """Samples the RSS of a process tree (and CUDA memory) until stopped."""

    def __init__(self, pid: int, *, cuda: bool = False, interval_s: float = 0.02) -> None:
        self.pid = pid
        self.cuda = cuda and shutil.which("nvidia-smi") is not None
        self.interval_s = interval_s
        self.peak_rss = 0
        self.peak_gpu_mb: float | None = None
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        import psutil

        try:
            proc = psutil.Process(self.pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        self.peak_rss = max(self.peak_rss, total)

    def sample_gpu(self) -> None:
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-compute-apps=pid,used_memory",
                 "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5,
                check=False).stdout
        except (OSError, subprocess.SubprocessError):
            return
        for line in out.splitlines():
            parts = [x.strip() for x in line.split(",")]
            if len(parts) == 2 and parts[0] == str(self.pid):
                with contextlib.suppress(ValueError):
                    self.peak_gpu_mb = max(self.peak_gpu_mb or 0.0, float(parts[1]))

    async def _loop(self) -> None:
        n = 0
        while True:
            self.sample()
            if self.cuda and n % 25 == 0:
                await asyncio.to_thread(self.sample_gpu)
            n += 1
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()


async def bench_latency(model: str | Path, *, adapter: str | None = None, provider: str = "auto",
                        prompt_tokens: Sequence[int] = (128, 512),
                        concurrency: Sequence[int] = (1,),
                        repeats: int = 5, max_new_tokens: int = 64, tool_repeats: int = 5,
                        on_progress: Callable[[float, str], None] | None = None,
                        client_factory: Callable[..., Any] | None = None) -> dict[str, Any]:
    from phi4studio.core.chatformats import detect_format
    from phi4studio.core.inference import GenerateRequest, Guidance, InferenceClient

    model = Path(model).expanduser().resolve()
    adapters = {"bench": adapter_file(model, adapter)} if adapter else None
    factory = client_factory or InferenceClient
    client = factory(model, provider=provider, adapters=adapters)
    t0 = time.perf_counter()
    info = await client.start()
    startup_s = time.perf_counter() - t0
    assert client.pid is not None
    memory = PeakMemory(client.pid, cuda=str(info.get("provider")) == "cuda")
    memory.start()
    fmt = detect_format(model)
    which = "bench" if adapter else ""
    steps = len(prompt_tokens) * sum(max(1, repeats // c) for c in concurrency) + tool_repeats
    done = [0]

    def tick(what: str) -> None:
        done[0] += 1
        if on_progress is not None:
            on_progress(done[0] / steps, what)

    rows: list[dict[str, Any]] = []
    try:
        await client.complete(GenerateRequest(prompt="Hello", max_new_tokens=4, greedy=True,
                                              adapter=which))  # warm-up
        for n_tok in prompt_tokens:
            text = (FILLER * (n_tok // 20 + 1))[: n_tok * 4]
            prompt = fmt.render_prompt([{"role": "user", "content": text}])
            for conc in concurrency:
                ttft: list[float] = []
                tps: list[float] = []
                e2e: list[float] = []
                p_tokens = 0
                for _ in range(max(1, repeats // conc)):
                    batch = await asyncio.gather(*(_timed(client, GenerateRequest(
                        prompt=prompt, add_special_tokens=False, greedy=True,
                        max_new_tokens=max_new_tokens, adapter=which)) for _ in range(conc)))
                    for seconds, d in batch:
                        e2e.append(seconds)
                        p_tokens = int(d.get("prompt_tokens") or 0)
                        if isinstance(d.get("ttft_s"), (int, float)):
                            ttft.append(float(d["ttft_s"]))
                        if d.get("decode_tokens_per_s"):
                            tps.append(float(d["decode_tokens_per_s"]))
                    tick(f"prompt {n_tok} tokens, {conc} in flight")
                rows.append({"prompt_tokens": p_tokens, "target_tokens": n_tok,
                             "concurrency": conc, "requests": len(e2e),
                             "ttft_p50_s": _r(pct(ttft, 0.5)), "ttft_p95_s": _r(pct(ttft, 0.95)),
                             "decode_tokens_per_s": _r(statistics.median(tps) if tps else None),
                             "e2e_p50_s": _r(pct(e2e, 0.5)), "e2e_p95_s": _r(pct(e2e, 0.95))})
        spec = fmt.guidance(BENCH_TOOLS, kind="json_schema", max_calls=1)
        tool_prompt = fmt.render_prompt([{"role": "user", "content": TOOL_PROMPT}], BENCH_TOOLS)
        tool_lat: list[float] = []
        parsed_ok = 0
        for _ in range(tool_repeats):
            s = time.perf_counter()
            d = await client.complete(GenerateRequest(
                prompt=tool_prompt, add_special_tokens=False, greedy=True, max_new_tokens=96,
                guidance=Guidance(spec.type, spec.text), adapter=which))
            out = fmt.parse_payload(str(d.get("text") or ""))
            tool_lat.append(time.perf_counter() - s)
            parsed_ok += int(bool(out.tool_calls))
            tick("tool call")
    finally:
        await memory.stop()
        await client.close()
    return {
        "model": str(model), "adapter": adapter, "provider": info.get("provider"),
        "startup_s": round(startup_s, 4), "rows": rows,
        "tool_call_p50_s": _r(pct(tool_lat, 0.5)), "tool_call_p95_s": _r(pct(tool_lat, 0.95)),
        "tool_calls_parsed": f"{parsed_ok}/{tool_repeats}",
        "peak_rss_mb": round(memory.peak_rss / 2**20, 1),
        "peak_gpu_mb": memory.peak_gpu_mb, "max_new_tokens": max_new_tokens,
        "measured_at": time.time(),
    }


async def _timed(client: Any, request: Any) -> tuple[float, Any]:
    s = time.perf_counter()
    data = await client.complete(request)
    return time.perf_counter() - s, data


def record(workspace: Any, figures: dict[str, Any]) -> str:
    """Store a benchmark in the catalog's evaluations table (suite `bench:latency`)."""
    model = str(figures["model"]) + (f"#{figures['adapter']}" if figures.get("adapter") else "")
    name = f"Latency · {Path(figures['model']).name}"
    return str(workspace.catalog.add("evaluations", name=name, model=model,
                                     suite="bench:latency", path="", metrics=figures))


def history(workspace: Any, model: str | None = None) -> list[dict[str, Any]]:
    rows = [r for r in workspace.catalog.records("evaluations") if r["suite"] == "bench:latency"]
    return [r for r in rows if model is None or r["model"] == model]
