"""The same code from source and frozen (PyInstaller): bundled paths, worker command lines, the
training runtime the app looks for, and the library path the frozen app hands its children."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from phi4studio.core import environment, paths
from phi4studio.core.jobs import workers
from phi4studio.core.runtime import RuntimeManager

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake one-folder build: <tmp>/phi4studio/phi4studio + _internal/ (sys._MEIPASS)."""
    app = tmp_path / "phi4studio"
    internal = app / "_internal"
    internal.mkdir(parents=True)
    (app / "phi4studio").write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    monkeypatch.setattr(sys, "executable", str(app / "phi4studio"))
    return app


def test_from_source_paths_are_the_checkout() -> None:
    assert not paths.is_frozen()
    assert paths.resources_dir() == ROOT / "resources"
    assert paths.training_scripts_dir() == ROOT / "training"
    assert paths.requirements_dir() == ROOT / "requirements"
    assert (paths.requirements_dir() / "runtime.txt").is_file()
    assert paths.app_install_dir() is None
    assert workers.worker_argv("probe") == [sys.executable, "-m", "phi4studio", "--worker",
                                            "probe"]


def test_frozen_paths_are_inside_the_bundle(frozen: Path) -> None:
    internal = frozen / "_internal"
    assert paths.is_frozen()
    assert paths.bundle_dir() == internal
    assert paths.resources_dir() == internal / "resources"
    assert paths.resource("samples", "tools.json") == internal / "resources/samples/tools.json"
    assert paths.training_scripts_dir() == internal / "training"
    assert paths.requirements_dir() == internal / "requirements"
    assert paths.app_install_dir() == frozen.resolve()


def test_frozen_workers_are_the_app_itself_never_python_dash_m(frozen: Path) -> None:
    exe = str(frozen / "phi4studio")
    assert workers.worker_argv("inference", "--model", "M") == [
        exe, "--worker", "inference", "--model", "M"]
    assert workers.app_argv("startup-probe") == [exe, "startup-probe"]
    assert environment.inference_probe_argv() == [exe, "--worker", "probe"]


def test_frozen_windows_workers_use_the_console_twin(frozen: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    exe = frozen / "phi4studio.exe"
    monkeypatch.setattr(sys, "executable", str(exe))
    assert workers.worker_argv("probe")[0] == str(exe)  # no twin: the app itself
    (frozen / "phi4studio-cli.exe").write_text("")
    assert workers.worker_argv("probe") == [str(frozen / "phi4studio-cli.exe"), "--worker",
                                            "probe"]


def test_frozen_app_without_a_runtime_offers_the_setup(frozen: Path, tmp_path: Path) -> None:
    assert environment.training_python(None) is None
    assert environment.training_python("/envs/t/bin/python") == "/envs/t/bin/python"
    check = environment.check_training_runtime(None)
    assert not check.ok and not check.required and "Set up training runtime" in (check.fix or "")
    m = RuntimeManager(tmp_path / "rt", lambda: None, lambda _p: None)
    st = m.status()
    assert st.kind == "none" and st.state == "missing" and m.needs_setup()
    assert "No training runtime is set up" in st.describe()
    assert environment.runtime_probe_argv("/py")[1] == str(
        frozen / "_internal" / "training" / "probe_runtime.py")


def test_from_source_the_app_interpreter_is_the_runtime(tmp_path: Path) -> None:
    assert environment.training_python(None) == sys.executable
    m = RuntimeManager(tmp_path / "rt", lambda: None, lambda _p: None)
    assert m.status().kind == "source" and not m.needs_setup()
    assert m.needs_setup({"ok": False, "missing": ["torch"]})


def test_a_configured_runtime_that_vanished_is_offered_again(tmp_path: Path) -> None:
    gone = str(tmp_path / "rt" / "bin" / "python")
    m = RuntimeManager(tmp_path / "rt", lambda: gone, lambda _p: None)
    st = m.status()
    assert st.kind == "managed" and not st.exists and st.state == "broken" and m.needs_setup()
    assert "is gone" in st.describe()


def _launcher():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("launcher", ROOT / "packaging" / "launcher.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_frozen_children_get_their_own_library_path(frozen: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    launcher = _launcher()
    internal = str(frozen / "_internal")
    monkeypatch.setenv("LD_LIBRARY_PATH", internal)
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/opt/cuda/lib64")
    launcher.restore_library_path()
    import os

    assert os.environ["LD_LIBRARY_PATH"] == "/opt/cuda/lib64"
    assert "LD_LIBRARY_PATH_ORIG" not in os.environ
    monkeypatch.setenv("LD_LIBRARY_PATH", internal + os.pathsep + "/usr/local/lib")
    launcher.restore_library_path()
    assert os.environ["LD_LIBRARY_PATH"] == "/usr/local/lib"
    monkeypatch.setenv("LD_LIBRARY_PATH", internal)
    launcher.restore_library_path()
    assert "LD_LIBRARY_PATH" not in os.environ


def test_the_build_says_which_inference_flavour_it_carries(frozen: Path) -> None:
    from phi4studio.workers import probe

    assert probe.build_info() is None  # no build_info.json in this fake bundle yet
    info = {"flavour": "cuda", "package": "onnxruntime-genai-cuda", "app_version": "0.1.0"}
    (frozen / "_internal" / "build_info.json").write_text(json.dumps(info))
    assert probe.build_info() == info
    detected = probe.detect()
    assert detected["flavour"] in ("cpu", "cuda", "directml")
    assert detected["build"] == info
    text = environment.describe_inference({"onnxruntime_genai": "0.18.0", "providers":
                                           ["cuda", "cpu"], "package": "onnxruntime-genai-cuda"})
    assert text == "CUDA / CPU · onnxruntime-genai-cuda 0.18.0"
