"""`phi4studio bench serve`: the HTTP API against the inference worker directly.

Both paths run the same greedy request (the same rendered prompt and settings) on the same model,
each in its own inference worker, alternating run by run so load on the machine hits both alike:

Overheads are medians of run pairs (each HTTP run against the direct run just before it), which
keeps a machine whose load changes from run to run from skewing them.

- direct: InferenceClient.generate; TTFT = request sent -> first token event; decode tokens/s =
  (tokens - 1) / (first token -> result).
- HTTP: the serve worker process (`phi4studio --worker serve`, as the app and CLI run it), a
  streaming /v1/chat/completions request; TTFT = request sent -> first SSE chunk; decode tokens/s
  = (tokens - 1) / (first chunk -> last chunk).
- p95: `clients` concurrent HTTP clients, `per_client` non-streaming requests each.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def _p95(values: list[float]) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(0.95 * len(s) + 0.5) - 1))]


async def _direct(client: Any, request: Any) -> tuple[float, float, int]:
    from dataclasses import replace

    from phi4studio.core.inference.requests import new_request_id

    t0 = time.perf_counter()
    t_first: float | None = None
    async for ev in client.generate(replace(request, id=new_request_id())):
        if ev["type"] == "token" and t_first is None:
            t_first = time.perf_counter()
        elif ev["type"] == "result":
            t_end = time.perf_counter()
            n = int(ev["data"]["completion_tokens"])
            assert t_first is not None
            return t_first - t0, (n - 1) / max(t_end - t_first, 1e-9), n
    raise RuntimeError("no result")


async def _http(http: Any, url: str, body: dict[str, Any]) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    t_first: float | None = None
    t_last = t0
    n = 0
    async with http.stream("POST", url + "/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if not line.startswith("data: "):
                continue
            now = time.perf_counter()
            if t_first is None:
                t_first = now
            if line == "data: [DONE]":
                break
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                n = int(chunk["usage"]["completion_tokens"])
            if chunk.get("choices"):
                t_last = now
    assert t_first is not None
    return t_first - t0, (n - 1) / max(t_last - t_first, 1e-9), n


async def _start_serve_worker(model_dir: Path) -> tuple[Any, str]:
    from phi4studio.core.jobs.protocol import parse_event
    from phi4studio.core.jobs.workers import worker_argv

    argv = worker_argv("serve", "--model", str(model_dir), "--port", "0", "--max-queue", "64")
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    while True:
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError("the serve worker exited before it was ready")
        ev = parse_event(line.decode())
        if ev is None:
            continue
        if ev["type"] == "error":
            raise RuntimeError(str(ev.get("message")))
        if ev["type"] == "start":
            return proc, str(ev["url"])


async def run_bench(
    model_dir: Path | str,
    *,
    requests: int = 5,
    max_tokens: int = 128,
    clients: int = 4,
    per_client: int = 3,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    import httpx2

    from phi4studio.core.inference import InferenceClient
    from phi4studio.core.serve.backend import Backend, ChatSpec
    from phi4studio.core.serve.config import ServeConfig

    model_dir = Path(model_dir).expanduser().resolve()
    messages = [{"role": "user", "content": PROMPT}]
    backend = Backend(ServeConfig(model_dir, port=0))  # renders exactly as the server does
    from phi4studio.core.chatformats import detect_format

    backend.fmt = detect_format(model_dir)
    request = backend.prepare(ChatSpec(messages=messages, max_tokens=max_tokens,
                                       temperature=0.0)).request
    body = {"model": model_dir.name, "messages": messages, "max_tokens": max_tokens,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    say(f"model {model_dir}: starting the inference worker and the serve worker")
    direct = InferenceClient(model_dir)
    proc, url = await _start_serve_worker(model_dir)
    rows: dict[str, list[tuple[float, float, int]]] = {"direct": [], "http": []}
    latencies: list[float] = []
    try:
        await direct.start()
        async with httpx2.AsyncClient(timeout=600) as http:
            await _direct(direct, request)  # warm-up, both paths
            await _http(http, url, body)
            for i in range(requests):
                rows["direct"].append(await _direct(direct, request))
                rows["http"].append(await _http(http, url, body))
                say(f"  run {i + 1}/{requests}: direct {rows['direct'][-1][1]:.1f} tok/s, "
                    f"HTTP {rows['http'][-1][1]:.1f} tok/s")
            plain = {**body, "stream": False}
            plain.pop("stream_options")

            async def one_client() -> None:
                for _ in range(per_client):
                    t0 = time.perf_counter()
                    r = await http.post(url + "/chat/completions", json=plain)
                    r.raise_for_status()
                    latencies.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            await asyncio.gather(*(one_client() for _ in range(clients)))
            wall = time.perf_counter() - t0
    finally:
        await direct.close()
        if proc.returncode is None:
            assert proc.stdin is not None
            proc.stdin.write(b'{"cmd": "shutdown"}\n')
            await proc.stdin.drain()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except asyncio.TimeoutError:
                proc.kill()
    pairs = list(zip(rows["direct"], rows["http"], strict=True))
    med = {k: {"ttft_s": statistics.median(r[0] for r in v),
               "tokens_per_s": statistics.median(r[1] for r in v),
               "tokens": statistics.median(r[2] for r in v)} for k, v in rows.items()}
    return {
        "model": str(model_dir), "requests": requests, "max_tokens": max_tokens,
        "direct": med["direct"], "http": med["http"],
        # paired: each HTTP run against the direct run just before it (same machine load)
        "tokens_per_s_overhead_pct": round(100 * statistics.median(
            1 - h[1] / d[1] for d, h in pairs), 2),
        "ttft_overhead_ms": round(1000 * statistics.median(
            h[0] - d[0] for d, h in pairs), 2),
        "concurrent_clients": clients, "concurrent_requests": len(latencies),
        "p50_latency_s": round(statistics.median(latencies), 4),
        "p95_latency_s": round(_p95(latencies), 4),
        "concurrent_wall_s": round(wall, 3),
        "python": sys.version.split()[0],
    }


def format_figures(f: dict[str, Any]) -> str:
    d, h = f["direct"], f["http"]
    return "\n".join([
        f"phi4studio bench serve — {f['model']} ({f['requests']} greedy runs of "
        f"{f['max_tokens']} tokens per path, medians)",
        f"  {'':24}{'worker directly':>18}{'HTTP API':>12}",
        f"  {'decode tokens/s':24}{d['tokens_per_s']:>18.1f}{h['tokens_per_s']:>12.1f}"
        f"   overhead {f['tokens_per_s_overhead_pct']:.1f}% (paired median; target < 5%)",
        f"  {'time to first token (s)':24}{d['ttft_s']:>18.4f}{h['ttft_s']:>12.4f}"
        f"   +{f['ttft_overhead_ms']:.1f} ms",
        f"  {'tokens per answer':24}{d['tokens']:>18.0f}{h['tokens']:>12.0f}",
        f"  {f['concurrent_clients']} concurrent clients, {f['concurrent_requests']} requests: "
        f"p50 {f['p50_latency_s']:.3f} s, p95 {f['p95_latency_s']:.3f} s "
        f"(wall {f['concurrent_wall_s']:.1f} s)",
    ])
