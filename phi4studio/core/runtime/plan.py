"""What the managed training runtime installs, and from where.

- The package list is `requirements/runtime.txt` (names only); the versions are the pins of
  `requirements/constraints.txt`, the one file the dev environment is installed with too. Both
  are bundled in the frozen app (`requirements_dir()`).
- torch comes first, on its own, from the PyTorch index that fits the machine: the CUDA build
  when `nvidia-smi` reports a driver recent enough for one of the CUDA builds below, else the CPU
  build. On Linux PyPI's torch is a CUDA build of several GB, so the CPU build needs PyTorch's
  CPU index; on Windows and macOS PyPI's torch is the CPU build.
- When the PyTorch index cannot be reached (a network that only reaches PyPI or a mirror), pip's
  own configuration (pip.conf, PIP_INDEX_URL, find-links) is used alone, and the log says so.
  `PHI4STUDIO_TORCH_INDEX` (a URL, or `none`) overrides the choice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from phi4studio.core.paths import requirements_dir

TORCH_INDEX = "https://download.pytorch.org/whl/{channel}"
# CUDA builds of the pinned torch, newest first, with the driver's CUDA version each needs
# (`nvidia-smi` prints it as "CUDA Version: 12.8"). Follow the torch pin when it moves.
CUDA_CHANNELS: tuple[tuple[str, tuple[int, int]], ...] = (
    ("cu130", (13, 0)),
    ("cu128", (12, 8)),
    ("cu126", (12, 6)),
)
CHANNELS = ("cpu", *(c for c, _ in CUDA_CHANNELS))
GB = 1024**3
# Room the runtime needs while it installs (pip's cache and unpacked wheels included).
REQUIRED_BYTES = {"cpu": 6 * GB, "cuda": 16 * GB}
ENV_TORCH_INDEX = "PHI4STUDIO_TORCH_INDEX"


@dataclass(frozen=True)
class GpuInfo:
    name: str
    driver: str | None
    cuda: tuple[int, int] | None  # the CUDA version the driver supports


@dataclass
class RuntimePlan:
    """Everything one setup needs to know; written into the runtime's manifest."""

    channel: str  # cpu | cu126 | cu128 | cu130
    torch_index: str | None  # extra index for the torch step; None: pip's configuration only
    requirements: Path
    constraints: Path
    packages: list[str]
    pins: dict[str, str]
    gpu: GpuInfo | None = None
    notes: list[str] = field(default_factory=list)
    torch_step: bool = True  # install torch on its own first

    @property
    def required_bytes(self) -> int:
        return REQUIRED_BYTES["cpu" if self.channel == "cpu" else "cuda"]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["requirements"], d["constraints"] = str(self.requirements), str(self.constraints)
        return d


def default_requirements() -> Path:
    return requirements_dir() / "runtime.txt"


def default_constraints() -> Path:
    return requirements_dir() / "constraints.txt"


def _name(line: str) -> str | None:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return m.group(0) if m else None


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: Path) -> list[str]:
    """Distribution names of a requirements file (comments and options skipped)."""
    return [n for n in map(_name, path.read_text(encoding="utf-8").splitlines()) if n]


def read_pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a constraints file, by normalized name."""
    pins: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
        if m:
            pins[normalize(m.group(1))] = m.group(2)
    return pins


def parse_nvidia_smi(text: str) -> GpuInfo | None:
    """The first GPU of `nvidia-smi`'s table: name, driver and the CUDA version it supports."""
    cuda = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", text)
    driver = re.search(r"Driver Version:\s*([\d.]+)", text)
    name = re.search(r"^\|\s+\d+\s+(.+?)\s{2,}(?:On|Off)\s+\|", text, re.MULTILINE)
    if cuda is None and name is None:
        return None
    return GpuInfo(
        name=name.group(1).strip() if name else "NVIDIA GPU",
        driver=driver.group(1) if driver else None,
        cuda=(int(cuda.group(1)), int(cuda.group(2))) if cuda else None,
    )


def detect_nvidia(timeout: float = 15.0) -> GpuInfo | None:
    """An NVIDIA GPU as `nvidia-smi` reports it; None without the tool or a GPU."""
    exe = shutil.which("nvidia-smi")
    if exe is None and sys.platform == "win32":
        guess = Path(os.environ.get("SYSTEMROOT", r"C:\Windows")) / "System32" / "nvidia-smi.exe"
        exe = str(guess) if guess.exists() else None
    if exe is None:
        return None
    try:
        out = subprocess.run([exe], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return parse_nvidia_smi(out.stdout)


def choose_channel(gpu: GpuInfo | None, platform: str = sys.platform) -> tuple[str, list[str]]:
    """(channel, notes): the newest CUDA build the driver runs, else the CPU build."""
    if gpu is None:
        return "cpu", ["no NVIDIA GPU found (nvidia-smi): the CPU build of torch"]
    if platform == "darwin":
        return "cpu", ["macOS: torch's default build (CPU / Apple GPU)"]
    if gpu.cuda is None:
        return "cpu", [f"{gpu.name}: nvidia-smi did not say which CUDA version the driver "
                       "supports; the CPU build of torch"]
    for channel, needs in CUDA_CHANNELS:
        if gpu.cuda >= needs:
            return channel, [f"{gpu.name} (driver {gpu.driver}, CUDA {gpu.cuda[0]}."
                             f"{gpu.cuda[1]}): the {channel} build of torch"]
    oldest = CUDA_CHANNELS[-1][1]
    return "cpu", [f"{gpu.name}: the driver supports CUDA {gpu.cuda[0]}.{gpu.cuda[1]}, the "
                   f"CUDA builds of torch need {oldest[0]}.{oldest[1]} or newer. Update the "
                   "NVIDIA driver and repair the runtime to train on the GPU; the CPU build of "
                   "torch for now"]


def torch_index_for(channel: str, platform: str = sys.platform) -> str | None:
    """PyTorch's index for a channel; None where PyPI's torch is already that build."""
    if channel == "cpu" and platform in ("win32", "darwin"):
        return None
    return TORCH_INDEX.format(channel=channel)


def index_reachable(url: str, timeout: float = 6.0) -> bool:
    """One quick request to the index (no retries): can pip reach it at all?"""
    try:
        req = urllib.request.Request(url.rstrip("/") + "/torch/", method="HEAD")
        with urllib.request.urlopen(req, timeout=timeout):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def make_plan(
    channel: str = "auto",
    torch_index: str = "auto",
    requirements: Path | None = None,
    constraints: Path | None = None,
    *,
    gpu: GpuInfo | None = None,
    detect: bool = True,
    reachable: Any = index_reachable,
) -> RuntimePlan:
    """Resolve `auto` choices: GPU detection, the torch index and whether it can be reached."""
    requirements = requirements or default_requirements()
    constraints = constraints or default_constraints()
    packages = read_requirements(requirements)
    pins = read_pins(constraints) if constraints.exists() else {}
    notes: list[str] = []
    if channel == "auto":
        if gpu is None and detect:
            gpu = detect_nvidia()
        channel, why = choose_channel(gpu)
        notes += why
    elif channel not in CHANNELS:
        raise ValueError(f"unknown torch build {channel!r}; one of: auto, {', '.join(CHANNELS)}")
    has_torch = "torch" in {normalize(p) for p in packages}
    index: str | None
    override = os.environ.get(ENV_TORCH_INDEX, "").strip()
    if torch_index == "auto" and override:
        torch_index = override
    if torch_index == "none" or not has_torch:
        index = None
    elif torch_index != "auto":
        index = torch_index
    else:
        index = torch_index_for(channel)
        if index is not None and not reachable(index):
            notes.append(f"{index} cannot be reached: torch comes from pip's own sources "
                         "(PyPI or the configured mirror)")
            if channel != "cpu" and sys.platform == "win32":
                notes.append("on Windows PyPI's torch is the CPU build: training runs on the "
                             "CPU until the runtime is repaired with that index reachable")
            index = None
    pin = pins.get("torch")
    if has_torch:
        notes.append(f"torch {pin or '(unpinned)'}" + (f" from {index}" if index else ""))
    return RuntimePlan(channel=channel, torch_index=index, requirements=requirements,
                       constraints=constraints, packages=packages, pins=pins, gpu=gpu,
                       notes=notes, torch_step=has_torch)
