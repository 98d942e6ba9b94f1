"""Finding a Python to build the training runtime from.

A PyInstaller build carries a Python *library*, not an interpreter that can make virtual
environments, so the runtime is created from a real Python 3.10+ found on this machine:

1. one the installer put beside the app (`<app>/python/`; the Windows installer can carry the
   python.org installer and install it per-user there, see packaging/README.md);
2. on Windows, every Python the `py` launcher knows (`py -0p`);
3. `python3.13` ... `python3.10`, `python3`, `python` on PATH;
4. one the user chooses (Browse...).

Each candidate is run once with a short snippet that reports its version and whether `venv` and
`ensurepip` work (Debian and Ubuntu split them into python3.X-venv). The best usable one wins:
3.11, then 3.12, 3.10, 3.13 (the versions torch and the rest are built and tested for).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from phi4studio.core.paths import app_install_dir

MIN_VERSION = (3, 10)
PREFERRED = ((3, 11), (3, 12), (3, 10), (3, 13))
NAMES = ("python3.13", "python3.12", "python3.11", "python3.10", "python3", "python")

PROBE = (
    "import json, sys, platform\n"
    "d = {'version': list(sys.version_info[:3]), 'executable': sys.executable,\n"
    "     'bits': 64 if sys.maxsize > 2**32 else 32,\n"
    "     'implementation': platform.python_implementation()}\n"
    "try:\n"
    "    import venv, ensurepip\n"
    "    d['venv'] = True\n"
    "except Exception as e:\n"
    "    d['venv'] = False; d['venv_error'] = str(e)\n"
    "print(json.dumps(d))\n"
)


@dataclass
class PythonCandidate:
    path: str
    source: str  # bundled | py-launcher | path | chosen
    version: tuple[int, int, int] | None = None
    usable: bool = False
    reason: str = ""
    info: dict[str, object] = field(default_factory=dict)

    @property
    def label(self) -> str:
        v = ".".join(map(str, self.version)) if self.version else "?"
        return f"Python {v} ({self.path})"

    def rank(self) -> tuple[int, int]:
        if not self.usable or self.version is None:
            return (99, 0)
        mm = self.version[:2]
        order = PREFERRED.index(mm) if mm in PREFERRED else len(PREFERRED)
        return (order, -mm[1])


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        env.pop(var, None)
    return env


def probe_python(path: str, source: str = "chosen", timeout: float = 20.0) -> PythonCandidate:
    """Run the interpreter once and say whether a runtime can be built from it."""
    cand = PythonCandidate(path=path, source=source)
    if "WindowsApps" in path:
        cand.reason = "the Microsoft Store alias, not a Python installation"
        return cand
    try:
        out = subprocess.run([path, "-I", "-c", PROBE], capture_output=True, text=True,
                             timeout=timeout, env=_clean_env(), check=False)
    except subprocess.TimeoutExpired:
        cand.reason = f"did not answer within {timeout:.0f} s"
        return cand
    except OSError as exc:
        cand.reason = f"cannot be run: {exc.strerror or exc}"
        return cand
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
    try:
        info = json.loads(line) if line else None
    except json.JSONDecodeError:
        info = None
    if not isinstance(info, dict):
        said = [ln.strip() for ln in out.stderr.splitlines() if ln.strip()] or ["no answer"]
        cand.reason = f"is not a working Python ({said[0][:200]})"
        return cand
    cand.info = info
    try:
        ver = tuple(int(x) for x in info.get("version", []))[:3]
        cand.version = (ver[0], ver[1], ver[2])
    except (TypeError, ValueError, IndexError):
        cand.reason = "reported no version"
        return cand
    if cand.version[:2] < MIN_VERSION:
        cand.reason = f"Python {cand.version[0]}.{cand.version[1]} is too old (3.10+ needed)"
    elif info.get("bits") == 32:
        cand.reason = "a 32-bit Python: torch needs a 64-bit one"
    elif not info.get("venv"):
        mm = f"{cand.version[0]}.{cand.version[1]}"
        cand.reason = (f"its venv/ensurepip modules are missing ({info.get('venv_error', '')}); "
                       f"on Debian/Ubuntu: sudo apt install python{mm}-venv")
    else:
        cand.usable = True
    return cand


def parse_py_launcher(text: str) -> list[str]:
    """Interpreter paths from `py -0p` (lines like ` -V:3.11 *        C:\\...\\python.exe`)."""
    paths = []
    for line in text.splitlines():
        m = re.match(r"\s*-(?:V:)?[\w.\-/]+(?:\s+\*)?\s+(\S.*\.exe)\s*$", line, re.IGNORECASE)
        if m:
            paths.append(m.group(1).strip())
    return paths


def bundled_pythons() -> list[str]:
    """An interpreter shipped beside the frozen app, or installed there by the installer."""
    roots = []
    here = app_install_dir()
    if here is not None:
        roots.append(here / "python")
    local = os.environ.get("LOCALAPPDATA")
    if sys.platform == "win32" and local:
        roots.append(Path(local) / "Programs" / "Phi-4 Studio" / "python")
    found = []
    for root in roots:
        for rel in ("python.exe", "bin/python3", "bin/python"):
            if (root / rel).is_file():
                found.append(str(root / rel))
                break
    return found


def candidate_paths(path_env: str | None = None) -> list[tuple[str, str]]:
    """(path, source) of every interpreter worth probing, without duplicates."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []

    def add(path: str, source: str) -> None:
        key = os.path.normcase(os.path.realpath(path))
        if key not in seen:
            seen.add(key)
            out.append((path, source))

    for p in bundled_pythons():
        add(p, "bundled")
    if sys.platform == "win32" and path_env is None:
        launcher = shutil.which("py")
        if launcher:
            try:
                r = subprocess.run([launcher, "-0p"], capture_output=True, text=True, timeout=15,
                                   check=False)
                for p in parse_py_launcher(r.stdout):
                    add(p, "py-launcher")
            except (OSError, subprocess.TimeoutExpired):
                pass
    for name in NAMES:
        found = shutil.which(name, path=path_env)
        if found:
            add(found, "path")
    return out


def find_pythons(path_env: str | None = None, extra: list[str] | None = None
                 ) -> list[PythonCandidate]:
    """Every candidate, probed, best first (unusable ones last, with their reason)."""
    pairs = [(p, "chosen") for p in (extra or [])] + candidate_paths(path_env)
    cands = [probe_python(p, src) for p, src in pairs]
    # The same interpreter under several names (python3 -> python3.11) counts once.
    unique: dict[str, PythonCandidate] = {}
    for c in cands:
        key = os.path.realpath(str(c.info.get("executable") or c.path)) if c.usable else c.path
        unique.setdefault(os.path.normcase(key), c)
    return sorted(unique.values(), key=lambda c: c.rank())


def best_python(cands: list[PythonCandidate]) -> PythonCandidate | None:
    usable = [c for c in cands if c.usable]
    return min(usable, key=lambda c: c.rank()) if usable else None


def no_python_message(cands: list[PythonCandidate]) -> str:
    lines = ["No Python 3.10 or newer that can create environments was found, and the training "
             "runtime is built from one."]
    for c in cands:
        lines.append(f"- {c.path}: {c.reason}")
    if sys.platform == "win32":
        lines.append("Install Python 3.11 from python.org (per-user, no admin rights needed) or "
                     "with `winget install Python.Python.3.11`, then press Retry; or choose a "
                     "python.exe with Browse.")
    elif sys.platform == "darwin":
        lines.append("Install Python 3.11 from python.org or Homebrew, then press Retry; or "
                     "choose an interpreter with Browse.")
    else:
        lines.append("Install it with your package manager (e.g. `sudo apt install python3 "
                     "python3-venv`), then press Retry; or choose an interpreter with Browse.")
    return "\n".join(lines)


def venv_python(env_dir: Path) -> Path:
    """The interpreter inside a virtual environment folder."""
    if sys.platform == "win32":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def resolve_interpreter(path: Path) -> Path | None:
    """A chosen file or environment folder -> its interpreter (None if there is none)."""
    if path.is_file():
        return path
    for rel in ("Scripts/python.exe", "python.exe", "bin/python", "bin/python3"):
        if (path / rel).is_file():
            return path / rel
    return None
