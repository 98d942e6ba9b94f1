"""Creating the training runtime for real (venv + pip), and its failures: disk full, a folder
that cannot be written, no Python, no network; then the retry that finishes the job."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.runtime import plan as plan_mod
from phi4studio.core.runtime import pythons
from phi4studio.core.runtime.plan import GB, RuntimePlan
from phi4studio.core.runtime.setup import (
    MANIFEST,
    SetupError,
    SetupRequest,
    read_manifest,
    remove_runtime,
    run_setup,
    run_verify,
)

ROOT = Path(__file__).resolve().parents[3]
VERIFY = ROOT / "training" / "verify_runtime.py"


class Recorder:
    def __init__(self, cancel_after: int | None = None) -> None:
        self.events: list[tuple[float, str, str]] = []
        self.lines: list[str] = []
        self.cancel_after = cancel_after

    def progress(self, fraction: float, message: str, step: str) -> None:
        self.events.append((fraction, message, step))

    def log(self, message: str) -> None:
        self.lines.append(message)

    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.lines) >= self.cancel_after


def tiny_plan(tmp_path: Path, *names: str) -> RuntimePlan:
    req = tmp_path / "runtime.txt"
    req.write_text("\n".join(names) + "\n")
    return plan_mod.make_plan("cpu", "none", req, ROOT / "requirements" / "constraints.txt")


def offline_env() -> dict[str, str]:
    """pip pointed at an index nobody answers on, with its configuration files ignored."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="http://127.0.0.1:9/simple",
               PIP_RETRIES="1", PIP_TIMEOUT="3", PIP_NO_CACHE_DIR="1")
    return env


def test_disk_full_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    target = tmp_path / "rt"
    req = SetupRequest("create", target, tiny_plan(tmp_path, "six"), python=sys.executable,
                       disk_free=lambda _p: int(1.5 * GB))
    with pytest.raises(SetupError) as err:
        run_setup(req, Recorder())
    assert err.value.code == "disk_full"
    assert "needs about 6 GB free" in err.value.message and "1.5 GB are free" in err.value.message
    assert "Retry" in err.value.message
    assert not target.exists()


def test_a_folder_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    req = SetupRequest("create", blocker / "rt", tiny_plan(tmp_path, "six"), python=sys.executable)
    with pytest.raises(SetupError) as err:
        run_setup(req, Recorder())
    assert err.value.code == "permission"
    assert f"Cannot write to {blocker / 'rt'}" in err.value.message


def test_no_python_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    req = SetupRequest("create", tmp_path / "rt", tiny_plan(tmp_path, "six"),
                       python=str(tmp_path / "python3.11"))
    with pytest.raises(SetupError) as err:
        run_setup(req, Recorder())
    assert err.value.code == "no_python" and "cannot be run" in err.value.message

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(pythons, "bundled_pythons", lambda: [])
    req = SetupRequest("create", tmp_path / "rt2", tiny_plan(tmp_path, "six"))
    with pytest.raises(SetupError) as err:
        run_setup(req, Recorder())
    assert err.value.code == "no_python"
    assert "No Python 3.10 or newer" in err.value.message and "Retry" in err.value.message


def test_a_foreign_folder_is_never_cleared(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.tex").write_text("precious")
    req = SetupRequest("create", target, tiny_plan(tmp_path, "six"), python=sys.executable)
    with pytest.raises(SetupError) as err:
        run_setup(req, Recorder())
    assert err.value.code == "not_a_runtime"
    assert (target / "thesis.tex").read_text() == "precious"
    with pytest.raises(SetupError):
        remove_runtime(target)
    assert (target / "thesis.tex").exists()


def test_no_network_fails_clearly_then_retry_finishes_in_the_same_folder(
        tmp_path: Path, figures: Any) -> None:
    target = tmp_path / "rt"
    plan = tiny_plan(tmp_path, "six")
    rec = Recorder()
    req = SetupRequest("create", target, plan, python=sys.executable, env=offline_env())
    with pytest.raises(SetupError) as err:
        run_setup(req, rec)
    assert err.value.code == "no_network", err.value.message
    assert "cannot be reached" in err.value.message and "Retry" in err.value.message
    manifest = read_manifest(target)
    assert manifest is not None and manifest["state"] == "failed"
    assert manifest["error"]["code"] == "no_network"
    venv_py = pythons.venv_python(target)
    assert venv_py.exists()  # the environment is kept for the retry

    rec = Recorder()
    data = run_setup(SetupRequest("repair", target, plan, python=sys.executable), rec)
    assert data["ok"] and data["python"] == str(venv_py)
    assert any("keeping the environment" in ln for ln in rec.lines)
    fractions = [f for f, _m, _s in rec.events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [s for _f, _m, s in rec.events][-1] == "verify"
    manifest = read_manifest(target)
    assert manifest is not None and manifest["state"] == "ready" and manifest["error"] is None
    figures("runtime: tiny setup retry (s)", data["setup_s"])

    # the check of this environment fails for real: it has no torch
    with pytest.raises(SetupError) as err:
        run_verify(str(venv_py), VERIFY, Recorder())
    assert err.value.code == "verify_failed"
    assert "missing torch, transformers, peft, trl" in err.value.message

    remove_runtime(target)
    assert not target.exists() and not list(tmp_path.glob("rt.removing-*"))


def test_cancel_stops_pip_and_marks_the_runtime(tmp_path: Path) -> None:
    target = tmp_path / "rt"
    rec = Recorder(cancel_after=1)  # while `python -m venv` runs
    req = SetupRequest("create", target, tiny_plan(tmp_path, "six"), python=sys.executable,
                       env=offline_env())
    with pytest.raises(SetupError) as err:
        run_setup(req, rec)
    assert err.value.code == "cancelled"
    assert (target / MANIFEST).exists()
