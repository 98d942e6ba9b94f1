"""Contract tests' shared fixtures: the inference worker on the tiny Phi3, started for real."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.inference import InferenceClient


@pytest.fixture
async def client(tiny_phi3_onnx_dir: Path, figures: Any) -> AsyncIterator[InferenceClient]:
    c = InferenceClient(tiny_phi3_onnx_dir, provider="cpu", start_timeout_s=60)
    t0 = time.perf_counter()
    await c.start()
    figures("tiny Phi3: worker start, spawn to `start` (s)", time.perf_counter() - t0)
    try:
        yield c
    finally:
        await c.close()
