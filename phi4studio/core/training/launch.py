"""How a training script is launched: the command line, behind a small seam.

`LocalLauncher` runs the script with the training runtime's Python; `AccelerateLauncher` runs the
same script under `accelerate launch` (DDP, or FSDP) when more than one GPU is configured. The
script's events are the same either way (only rank 0 speaks). Another backend (a cluster
scheduler) is one more class with an `argv()` and an entry in LAUNCHERS.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from phi4studio.core.paths import training_scripts_dir
from phi4studio.core.training.config import TrainingConfig


class Launcher(Protocol):
    name: str

    def argv(self, python: str, script: Path, args: Sequence[str],
             cfg: TrainingConfig) -> list[str]: ...


class LocalLauncher:
    name = "local"

    def argv(self, python: str, script: Path, args: Sequence[str],
             cfg: TrainingConfig) -> list[str]:
        return [python, str(script), *args]


class AccelerateLauncher:
    name = "accelerate"

    def argv(self, python: str, script: Path, args: Sequence[str],
             cfg: TrainingConfig) -> list[str]:
        out = [python, "-m", "accelerate.commands.launch", "--num_machines", "1",
               "--num_processes", str(cfg.num_gpus)]
        if cfg.distributed == "fsdp":
            out += ["--use_fsdp", "--fsdp_version", "2", "--fsdp_sharding_strategy",
                    "FULL_SHARD"]
        else:
            out.append("--multi_gpu")
        # Precision is the script's choice (bf16 where supported): accelerate adds none of its own.
        out += ["--mixed_precision", "no", str(script), *args]
        return out


LAUNCHERS: dict[str, Launcher] = {"local": LocalLauncher(), "accelerate": AccelerateLauncher()}


def choose_launcher(cfg: TrainingConfig) -> Launcher:
    return LAUNCHERS["accelerate" if cfg.num_gpus > 1 else "local"]


def sft_argv(python: str, config_file: Path, cfg: TrainingConfig, *, resume: bool = False,
             plan: bool = False) -> list[str]:
    """The command that trains (or resumes, or plans) the run whose config is `config_file`."""
    args = ["--config", str(config_file)]
    if resume:
        args.append("--resume")
    if plan:
        args.append("--plan")
        return LAUNCHERS["local"].argv(python, training_scripts_dir() / "sft.py", args, cfg)
    return choose_launcher(cfg).argv(python, training_scripts_dir() / "sft.py", args, cfg)


def merge_argv(python: str, adapter: Path, out: Path, dtype: str = "fp16",
               base: str | None = None) -> list[str]:
    argv = [python, str(training_scripts_dir() / "merge.py"), "--adapter", str(adapter),
            "--out", str(out), "--dtype", dtype]
    return argv + (["--base", base] if base else [])
