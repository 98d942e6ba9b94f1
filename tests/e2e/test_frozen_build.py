"""The frozen app, built for real: PyInstaller one-folder CPU build, then selftest, doctor, one
real generation through the frozen inference worker, the training runtime seen from the frozen
app, and cold start (packaging/smoke_test.py does the work; this runs it and reports figures).

Slow (the build takes minutes on 2 cores) and not in the default run: on demand with

    python3 dev.py test --all tests/e2e/test_frozen_build.py
    .venv/bin/python packaging/smoke_test.py            # the same, without pytest
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_frozen_build_smoke(tmp_path: Path, figures: Any) -> None:
    out = tmp_path / "smoke.json"
    r = subprocess.run([sys.executable, str(ROOT / "packaging" / "smoke_test.py"), "--json",
                        str(out)], cwd=ROOT, capture_output=True, text=True, timeout=3500,
                       check=False)
    print(r.stdout[-6000:])
    assert out.exists(), r.stdout[-3000:] + r.stderr[-3000:]
    data = json.loads(out.read_text())
    for name, value in data["figures"].items():
        figures(f"frozen build: {name}", value)
    failed = [f"{name}: {detail}" for name, ok, detail in data["results"] if not ok]
    assert not failed and r.returncode == 0, "\n".join(failed) or r.stderr[-3000:]
