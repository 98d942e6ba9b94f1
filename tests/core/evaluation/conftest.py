from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.bench_data import benchmarks_root


@pytest.fixture(scope="session")
def bench_root(pytestconfig: pytest.Config) -> Path:
    """Unpacked bfcl-eval and nvidia-tooltalk wheels (fetched once into the pytest cache)."""
    return benchmarks_root(pytestconfig)


@pytest.fixture
def bench_env(bench_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PHI4STUDIO_BENCHMARKS", str(bench_root))
    yield bench_root
