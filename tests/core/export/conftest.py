from __future__ import annotations

from pathlib import Path

import pytest
from exportfixtures import hf_dir, run_dir


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return hf_dir(tmp_path / "models")


@pytest.fixture
def run(tmp_path: Path, base: Path) -> Path:
    return run_dir(tmp_path / "runs", base)
