"""Finding a Python to build the training runtime from: PATH, the py launcher, the bundle."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from phi4studio.core.runtime import pythons

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="fake interpreters are sh scripts")


def fake_python(folder: Path, name: str, version: tuple[int, int, int] | None, *,
                venv: bool = True, bits: int = 64) -> Path:
    """A script that answers the probe like an interpreter would (or fails, version None)."""
    path = folder / name
    if version is None:
        body = "echo 'error while loading shared libraries: libpython3.9.so' >&2; exit 127"
    else:
        info = {"version": list(version), "executable": str(path), "bits": bits,
                "implementation": "CPython", "venv": venv}
        if not venv:
            info["venv_error"] = "No module named 'ensurepip'"
        body = f"echo '{json.dumps(info)}'"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@posix_only
def test_discovery_ranks_usable_interpreters_and_says_why_others_are_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pythons, "bundled_pythons", lambda: [])
    fake_python(tmp_path, "python3.13", (3, 13, 1))
    fake_python(tmp_path, "python3.12", (3, 12, 4))
    fake_python(tmp_path, "python3.10", (3, 10, 14), venv=False)
    fake_python(tmp_path, "python3", (3, 9, 2))
    fake_python(tmp_path, "python", None)
    cands = pythons.find_pythons(path_env=str(tmp_path))
    usable = [c for c in cands if c.usable]
    assert [c.version for c in usable] == [(3, 12, 4), (3, 13, 1)]  # 3.12 preferred to 3.13
    best = pythons.best_python(cands)
    assert best is not None and best.path.endswith("python3.12")
    reasons = {Path(c.path).name: c.reason for c in cands if not c.usable}
    assert "apt install python3.10-venv" in reasons["python3.10"]
    assert "too old" in reasons["python3"]
    assert "not a working Python" in reasons["python"]


@posix_only
def test_no_python_gives_a_message_with_the_fix(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pythons, "bundled_pythons", lambda: [])
    fake_python(tmp_path, "python3", (3, 8, 10))
    fake_python(tmp_path, "python3.11", (3, 11, 9), bits=32)
    cands = pythons.find_pythons(path_env=str(tmp_path))
    assert pythons.best_python(cands) is None
    msg = pythons.no_python_message(cands)
    assert "No Python 3.10 or newer" in msg
    assert "3.8 is too old" in msg and "32-bit" in msg
    assert "Retry" in msg and "Browse" in msg


def test_the_interpreter_running_the_tests_is_usable() -> None:
    cand = pythons.probe_python(sys.executable)
    assert cand.usable, cand.reason
    assert cand.version == tuple(sys.version_info[:3])


def test_missing_and_store_alias_interpreters_are_refused(tmp_path: Path) -> None:
    assert "cannot be run" in pythons.probe_python(str(tmp_path / "nope")).reason
    alias = r"C:\Users\a\AppData\Local\Microsoft\WindowsApps\python.exe"
    assert "Microsoft Store" in pythons.probe_python(alias).reason


def test_py_launcher_listing_is_parsed() -> None:
    out = (" -V:3.12 *        C:\\Python312\\python.exe\n"
           " -V:3.11          C:\\Users\\a\\AppData\\Local\\Python311\\python.exe\n"
           " -3.10-64         C:\\Python310\\python.exe\n")
    assert pythons.parse_py_launcher(out) == [
        "C:\\Python312\\python.exe",
        "C:\\Users\\a\\AppData\\Local\\Python311\\python.exe",
        "C:\\Python310\\python.exe",
    ]


def test_a_python_beside_the_frozen_app_comes_first(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "phi4studio"
    exe.write_text("")
    (tmp_path / "python" / "bin").mkdir(parents=True)
    (tmp_path / "python" / "bin" / "python3").write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    assert pythons.bundled_pythons() == [str(tmp_path / "python" / "bin" / "python3")]
    pairs = pythons.candidate_paths(path_env=str(tmp_path / "empty"))
    assert pairs[0] == (str(tmp_path / "python" / "bin" / "python3"), "bundled")


def test_a_chosen_folder_resolves_to_its_interpreter(tmp_path: Path) -> None:
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("")
    assert pythons.resolve_interpreter(env) == env / "bin" / "python"
    assert pythons.resolve_interpreter(env / "bin" / "python") == env / "bin" / "python"
    assert pythons.resolve_interpreter(tmp_path / "empty-dir-missing") is None
