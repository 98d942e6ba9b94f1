"""`phi4studio bench chat` on the tiny model: the worker and the bare onnxruntime-genai loop
produce the same greedy tokens, and the figures are all there (printed, never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from phi4studio.core.jobs.workers import app_argv
from phi4studio.core.playground.bench import measure_decode


async def test_worker_and_bare_loop_agree_and_are_measured(
    tiny_phi3_onnx_dir: Path, figures: Callable[[str, object], None]
) -> None:
    fig = await measure_decode(tiny_phi3_onnx_dir, max_new_tokens=32, repeats=1)
    assert fig["same_tokens"] and fig["generated_tokens"] == 32
    for key in ("bare_decode_tokens_per_s", "worker_decode_tokens_per_s", "ratio",
                "bare_ttft_s", "worker_ttft_s", "worker_inside_ttft_s"):
        assert fig[key] and fig[key] > 0, key
    figures("bench chat (tiny, 32 tokens): worker/bare decode ratio", fig["ratio"])


@pytest.mark.slow
def test_bench_chat_command_with_the_ui_stall(tiny_phi3_onnx_dir: Path, tmp_path: Path,
                                              figures: Callable[[str, object], None]) -> None:
    env = {**os.environ, "PHI4STUDIO_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run(app_argv("bench", "chat", "--model", str(tiny_phi3_onnx_dir), "--tokens",
                                "64", "--repeats", "1", "--turns", "1", "--json"),
                       capture_output=True, text=True, env=env, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout[r.stdout.index("{\n"):])
    fig = doc[str(tiny_phi3_onnx_dir)]
    assert fig["decode"]["same_tokens"] and fig["stall"]["tokens"] == 64
    assert fig["stall"]["transcript_repaints"] >= 1
    figures("bench chat (tiny): UI stall max ms", fig["stall"]["stall_max_ms"])
    assert "ratio" in r.stdout and "target < 50" in r.stdout
