"""The core tests run with Qt ABSENT: PySide6, shiboken6 and qasync cannot be imported.

`phi4studio.core` must work without Qt (ARCHITECTURE.md, Boundaries). While a test under
tests/core runs, an import guard refuses those packages: a meta-path finder for modules not loaded
yet, and an `__import__` hook for the ones pytest-qt loaded at start-up (they stay in
`sys.modules`: shiboken looks itself up there, so hiding them would crash it). Only Qt itself and
pytest-qt may import Qt meanwhile. The guard goes as soon as the session moves on to tests outside
tests/core.

At the first core test, every module of `phi4studio.core` is imported under the guard, and every
module of `phi4studio.core` and `phi4studio.workers` once more in a fresh interpreter that never
saw Qt; a failure is reported on every core test.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.util
import pkgutil
import subprocess
import sys
import textwrap
from collections.abc import Generator, Sequence
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest

BLOCKED = ("PySide6", "shiboken6", "qasync")
CORE_TESTS = Path(__file__).resolve().parent


def _blocked(name: str) -> bool:
    return any(name == b or name.startswith(b + ".") for b in BLOCKED)


def _package_dir(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))).resolve())


# Code that may import Qt while the guard is on: Qt itself and pytest-qt's own hooks.
QT_OWN_DIRS = tuple(d for d in map(_package_dir, (*BLOCKED, "pytestqt")) if d)


def _qt_on_stack(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith(QT_OWN_DIRS):
            return True
        frame = frame.f_back
    return False


class QtBlocker(importlib.abc.MetaPathFinder):
    """Refuses Qt imports (except from Qt and pytest-qt) and records each refusal."""

    def __init__(self) -> None:
        self.refused: list[str] = []
        self.active = False
        self._real_import = builtins.__import__

    def _refuse(self, name: str) -> None:
        self.refused.append(name)
        raise ImportError(f"{name} is blocked: the core tests run without Qt", name=name)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if _blocked(fullname) and not _qt_on_stack(sys._getframe(1)):
            self._refuse(fullname)
        return None

    def _import(self, name: str, globals: Any = None, locals: Any = None,
                fromlist: Any = (), level: int = 0) -> ModuleType:
        if level == 0 and _blocked(name) and not _qt_on_stack(sys._getframe(1)):
            self._refuse(name)
        return self._real_import(name, globals, locals, fromlist, level)

    def install(self) -> None:
        if self.active:
            return
        self._real_import = builtins.__import__
        builtins.__import__ = self._import
        sys.meta_path.insert(0, self)
        self.active = True

    def uninstall(self) -> None:
        if not self.active:
            return
        sys.meta_path.remove(self)
        builtins.__import__ = self._real_import
        self.active = False


BLOCKER = QtBlocker()

_CHILD_CHECK = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, sys
    BLOCKED = ("PySide6", "shiboken6", "qasync")
    class B(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(name + " is blocked")
    sys.meta_path.insert(0, B())
    bad = []
    for pkg in ("phi4studio.core", "phi4studio.workers"):
        mod = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
            try:
                importlib.import_module(info.name)
            except Exception as exc:
                bad.append(f"{info.name}: {type(exc).__name__}: {exc}")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    bad += [f"Qt module loaded anyway: {m}" for m in loaded]
    print("\\n".join(bad))
    sys.exit(1 if bad else 0)
    """
)


def _import_check() -> str | None:
    """None when every core module imports without Qt; else what failed, module by module."""
    problems: list[str] = []
    # Here, under the guard: modules no test imported yet are imported now.
    core = importlib.import_module("phi4studio.core")
    for info in pkgutil.walk_packages(core.__path__, "phi4studio.core."):
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # noqa: BLE001 - reported with the module's name
            problems.append(f"{info.name}: {type(exc).__name__}: {exc}")
    # In a fresh interpreter: what this process imported earlier (with Qt about) proves nothing.
    r = subprocess.run(
        [sys.executable, "-c", _CHILD_CHECK], capture_output=True, text=True, timeout=120
    )
    if r.returncode != 0:
        problems.append("in a fresh interpreter:\n" + (r.stdout + r.stderr).strip())
    return "\n".join(problems) or None


_check: dict[str, str | None] = {}


def _is_core(item: pytest.Item | None) -> bool:
    return item is not None and Path(str(item.path)).resolve().is_relative_to(CORE_TESTS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    if _is_core(item):
        BLOCKER.install()
    yield
    if not _is_core(nextitem):
        BLOCKER.uninstall()


@pytest.fixture(autouse=True)
def _qt_absent() -> None:
    assert BLOCKER.active, "the Qt import guard is not on for this core test"
    if "result" not in _check:
        _check["result"] = _import_check()
        with pytest.raises(ImportError):
            import PySide6.QtCore  # noqa: F401
        with pytest.raises(ImportError):
            import qasync  # noqa: F401
    if _check["result"] is not None:
        pytest.fail("phi4studio.core does not import without Qt:\n" + _check["result"])
