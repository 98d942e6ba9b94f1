"""The runtime's plan: package list and pins, GPU detection, the torch index and its fallback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tomllib

from phi4studio.core.runtime import plan
from phi4studio.core.runtime.plan import GpuInfo

ROOT = Path(__file__).resolve().parents[3]

SMI = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 570.124.06             Driver Version: 570.124.06     CUDA Version: 12.8     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
|=========================================+========================+======================|
|   0  NVIDIA GeForce RTX 4090        Off |   00000000:01:00.0 Off |                  Off |
"""


def test_runtime_packages_match_the_train_and_export_extras() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    wanted = {plan.normalize(plan._name(r) or "") for r in extras["train"] + extras["export"]}
    wanted.add("onnxruntime-genai")  # the model builder, for Export
    listed = {plan.normalize(p) for p in plan.read_requirements(plan.default_requirements())}
    assert listed == wanted


def test_every_runtime_package_is_pinned_in_the_one_constraints_file() -> None:
    pins = plan.read_pins(plan.default_constraints())
    for name in plan.read_requirements(plan.default_requirements()):
        assert plan.normalize(name) in pins, name
    assert pins["torch"] == "2.13.0"


def test_nvidia_smi_table_is_read() -> None:
    gpu = plan.parse_nvidia_smi(SMI)
    assert gpu == GpuInfo("NVIDIA GeForce RTX 4090", "570.124.06", (12, 8))
    assert plan.parse_nvidia_smi("NVIDIA-SMI has failed because it couldn't communicate") is None


@pytest.mark.parametrize(("cuda", "channel"), [
    ((13, 1), "cu130"), ((12, 8), "cu128"), ((12, 7), "cu126"), ((12, 4), "cpu"), (None, "cpu"),
])
def test_channel_follows_the_driver(cuda: tuple[int, int] | None, channel: str) -> None:
    got, notes = plan.choose_channel(GpuInfo("GPU", "1", cuda), platform="linux")
    assert got == channel
    if cuda == (12, 4):
        assert "Update the NVIDIA driver" in notes[0]


def test_no_gpu_means_cpu() -> None:
    assert plan.choose_channel(None)[0] == "cpu"


def test_torch_index_per_platform() -> None:
    assert plan.torch_index_for("cpu", "linux") == "https://download.pytorch.org/whl/cpu"
    assert plan.torch_index_for("cpu", "win32") is None  # PyPI's torch is the CPU build there
    assert plan.torch_index_for("cu128", "win32") == "https://download.pytorch.org/whl/cu128"


def test_unreachable_torch_index_falls_back_to_pips_own_sources(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(plan.ENV_TORCH_INDEX, raising=False)
    p = plan.make_plan(gpu=GpuInfo("RTX", "570", (12, 8)), reachable=lambda _u: False)
    assert p.channel == "cu128"
    assert p.torch_index is None
    assert any("cannot be reached" in n for n in p.notes)
    p = plan.make_plan(gpu=GpuInfo("RTX", "570", (12, 8)), reachable=lambda _u: True)
    assert p.torch_index == "https://download.pytorch.org/whl/cu128"


def test_index_override_and_explicit_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plan.ENV_TORCH_INDEX, "none")
    p = plan.make_plan("cpu", reachable=lambda _u: True)
    assert p.torch_index is None
    monkeypatch.setenv(plan.ENV_TORCH_INDEX, "https://mirror.example/torch")
    assert plan.make_plan("cpu").torch_index == "https://mirror.example/torch"
    with pytest.raises(ValueError, match="unknown torch build"):
        plan.make_plan("rocm")


def test_a_plan_without_torch_has_no_torch_step(tmp_path: Path) -> None:
    req = tmp_path / "req.txt"
    req.write_text("# tiny\nsix\n")
    p = plan.make_plan("cpu", "auto", req, reachable=lambda _u: True)
    assert p.packages == ["six"] and not p.torch_step and p.torch_index is None
    assert p.required_bytes == plan.REQUIRED_BYTES["cpu"]


def test_index_probe_is_quick_when_nothing_answers() -> None:
    assert plan.index_reachable("http://127.0.0.1:9/simple", timeout=2) is False


@pytest.mark.skipif(sys.platform == "win32", reason="PATH stub is a shell script")
def test_detect_nvidia_without_the_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert plan.detect_nvidia() is None
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\nwhile IFS= read -r l; do echo \"$l\"; done <<'X'\n" + SMI + "X\n")
    smi.chmod(0o755)
    gpu = plan.detect_nvidia()
    assert gpu is not None and gpu.cuda == (12, 8)
