"""`phi4studio bench serve`: figures on the tiny model and (slow) SmolLM2, sanity-checked only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.serve.bench import format_figures, run_bench


@pytest.mark.slow
async def test_bench_serve_smollm2(smollm2_onnx_dir: Path, figures: Any) -> None:
    f = await run_bench(smollm2_onnx_dir, requests=3, max_tokens=64, clients=4, per_client=2,
                        say=lambda _s: None)
    print(format_figures(f))
    assert f["direct"]["tokens"] == f["http"]["tokens"]  # the same greedy answer both ways
    assert f["concurrent_requests"] == 8
    figures("serve bench SmolLM2 int8: HTTP tokens/s overhead (%)", f["tokens_per_s_overhead_pct"])
    figures("serve bench SmolLM2 int8: TTFT overhead (ms)", f["ttft_overhead_ms"])
    figures("serve bench SmolLM2 int8: p95 latency, 4 clients (s)", f["p95_latency_s"])


async def test_bench_serve_tiny(tiny_phi3_onnx_dir: Path, figures: Any) -> None:
    f = await run_bench(tiny_phi3_onnx_dir, requests=2, max_tokens=32, clients=4, per_client=1,
                        say=lambda _s: None)
    assert f["direct"]["tokens"] == f["http"]["tokens"] and f["concurrent_requests"] == 4
    assert "overhead" in format_figures(f)
    figures("serve bench tiny: HTTP tokens/s overhead (%)", f["tokens_per_s_overhead_pct"])
