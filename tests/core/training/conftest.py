"""Fixtures for the training tests: tiny models, synthesized tool-calling data, a Studio."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures import tiny_train_models

TOOLS: list[dict[str, Any]] = [
    {"name": "get_weather", "description": "Get the current weather for a city",
     "inputSchema": {"type": "object", "properties": {
         "city": {"type": "string", "description": "City name"},
         "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
         "required": ["city"]}},
    {"name": "search_flights", "description": "Search flights between two airports",
     "inputSchema": {"type": "object", "properties": {
         "origin": {"type": "string", "description": "IATA code of the origin airport"},
         "destination": {"type": "string", "description": "IATA code of the destination"},
         "date": {"type": "string", "format": "date"}},
         "required": ["origin", "destination"]}},
    {"name": "convert_currency", "description": "Convert an amount between two currencies",
     "inputSchema": {"type": "object", "properties": {
         "amount": {"type": "number"}, "from": {"type": "string"}, "to": {"type": "string"}},
         "required": ["amount", "from", "to"]}},
]


def tool_examples(n: int, *, seed: int = 0, validation: float = 0.2,
                  tools: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """n synthesized tool-calling examples with train/validation splits assigned."""
    from phi4studio.core.datasets.synthesis import synthesize

    rng = random.Random(seed)
    out = []
    for d in synthesize(tools or TOOLS, n, seed=seed):
        d["split"] = "validation" if rng.random() < validation else "train"
        out.append(d)
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_llama_hf_dir(model_cache_dir: Path) -> Path:
    return tiny_train_models.tiny_llama_hf_dir(model_cache_dir)


@pytest.fixture(scope="session")
def tiny_gpt2_hf_dir(model_cache_dir: Path) -> Path:
    return tiny_train_models.tiny_gpt2_hf_dir(model_cache_dir)


@pytest.fixture
def tool_dataset(tmp_path: Path) -> Path:
    """A JSONL file of 20 short synthesized examples (one tool: ~230 tokens each)."""
    return write_jsonl(tmp_path / "tools.jsonl", tool_examples(20, seed=3, tools=TOOLS[:1]))


@pytest.fixture
def studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Studio in a throw-away home (needs a running loop: use in async tests)."""
    from phi4studio.core.studio import Studio

    monkeypatch.setenv("PHI4STUDIO_HOME", str(tmp_path / "home"))
    s = Studio.open()
    yield s
    s.close()
