from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from phi4studio.core.datasets.store import DatasetStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DatasetStore]:
    s = DatasetStore.create(tmp_path / "ds.sqlite", "Test set")
    yield s
    s.close()
