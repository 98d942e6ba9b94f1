"""Helpers for the Serve tests: a server on a free loopback port, tools, record lookups."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from phi4studio.core.serve.config import ServeConfig
from phi4studio.core.serve.reqlog import RequestRecord
from phi4studio.core.serve.server import ServeRuntime

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string", "enum": ["Oslo", "Paris", "Lima"]},
                   "unit": {"type": "string", "enum": ["C", "F"]}},
    "required": ["city", "unit"],
}
OPENAI_TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": WEATHER_SCHEMA}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Current weather in a city",
                    "input_schema": WEATHER_SCHEMA}]


@contextlib.asynccontextmanager
async def running(model_dir: Path, **options: Any) -> AsyncIterator[ServeRuntime]:
    options.setdefault("name", "tiny")
    rt = ServeRuntime(ServeConfig(model_dir, port=0, **options))
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


def anthropic_base(rt: ServeRuntime) -> str:
    return rt.url[: -len("/v1")]


async def record_for(rt: ServeRuntime, response_id: str, timeout: float = 5) -> RequestRecord:
    """The log record of a response (records land when the answer is complete)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rec = rt.reqlog.find(response_id)
        if rec is not None:
            return rec
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no log record for {response_id}")
        await asyncio.sleep(0.02)


async def wait_for(pred: Any, timeout: float = 10, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
