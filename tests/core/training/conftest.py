"""Fixtures for the training tests: tiny models, synthesized tool-calling data, a Studio."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures import tiny_train_models
from fixtures.tool_data import TOOLS, tool_examples, write_jsonl

__all__ = ["TOOLS", "tool_examples", "write_jsonl"]

TRAINING_SCRIPTS = Path(__file__).resolve().parents[3] / "training"


@pytest.fixture(scope="module")
def training_scripts() -> Iterator[Path]:
    """training/ on sys.path for one test module: the scripts import each other by name."""
    sys.path.insert(0, str(TRAINING_SCRIPTS))
    try:
        yield TRAINING_SCRIPTS
    finally:
        sys.path.remove(str(TRAINING_SCRIPTS))


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
