"""The command line for real: --version, doctor, selftest, and a light start-up path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from phi4studio import __version__
from phi4studio.core.jobs.workers import app_argv


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "PHI4STUDIO_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(app_argv(*args), capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def test_version(tmp_path: Path) -> None:
    r = cli(tmp_path, "--version")
    assert r.returncode == 0 and __version__ in r.stdout


def test_doctor_json_reports_every_check(tmp_path: Path) -> None:
    r = cli(tmp_path, "doctor", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    names = [c["name"] for c in report["checks"]]
    assert names == ["python", "qt", "inference runtime", "training runtime", "workspace",
                     "free disk"]
    inference = report["checks"][2]
    assert inference["ok"] and "cpu" in inference["data"]["providers"]
    assert report["checks"][3]["data"]["packages"]["torch"].startswith("2.")


def test_doctor_fails_with_the_fix_when_the_workspace_is_unusable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = cli(tmp_path, "--workspace", str(blocker / "ws"), "doctor")
    assert r.returncode == 1
    assert "FAIL" in r.stdout and str(blocker) in r.stdout


def test_doctor_warns_about_a_broken_training_runtime(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.json").write_text(json.dumps(
        {"schema_version": 2, "training_python": str(tmp_path / "no-such-python")}))
    r = cli(tmp_path, "doctor")
    assert r.returncode == 0  # the app still runs; training is what is missing
    assert "WARN" in r.stdout and "training runtime" in r.stdout and "fix:" in r.stdout


def test_selftest_passes_and_saves_screenshots(tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    r = cli(tmp_path, "selftest", "--screenshots", str(shots))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failed" in r.stdout
    pngs = sorted(p.name for p in shots.glob("*.png"))
    assert pngs[:5] == ["1-datasets.png", "2-train.png", "3-export.png", "4-playground.png",
                        "5-evaluate.png"]
    assert "7-quickstart.png" in pngs and "quick start page" in r.stdout
    assert all((shots / p).stat().st_size > 5000 for p in pngs)


def test_startup_path_imports_nothing_heavy() -> None:
    code = (
        "import sys, phi4studio.cli, phi4studio.app, phi4studio.ui.main_window;"
        "heavy = [m for m in ('torch','transformers','onnxruntime_genai','datasets','peft','trl')"
        " if m in sys.modules]; print(heavy)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["bench"], ["no-such-command"]])
def test_bad_arguments_explain_themselves(tmp_path: Path, args: list[str]) -> None:
    r = cli(tmp_path, *args)
    assert r.returncode == 2 and "usage" in r.stderr.lower()
