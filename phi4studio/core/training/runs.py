"""Run folders and the run history (the catalog's `runs` table).

    runs/<id>/config.json        the resolved config training/sft.py reads (paths relative)
              studio_run.json    the TrainingConfig as set, dataset id + name + content hash,
                                 chat format, pre-flight report, app version
              command.txt        the exact command line
              data/train.jsonl   data/validation.jsonl   (rendered by the chat format)
              metrics.jsonl      progress/eval/checkpoint records (written by the script)
              logs/train.log     checkpoints/checkpoint-N/   adapter/   (adapter-best/)

`python training/sft.py --config runs/<id>/config.json` re-runs it from the folder alone.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phi4studio import __version__
from phi4studio.core.fileio import atomic_write_json, atomic_write_text
from phi4studio.core.training.config import TrainingConfig, script_config
from phi4studio.core.training.data import DatasetRef
from phi4studio.core.training.models import ModelInfo
from phi4studio.core.training.prepare import PreflightReport
from phi4studio.core.workspace import Catalog

ACTIVE = ("preparing", "running")
FINISHED_OK = ("completed", "early-stopped")
SERIES = ("loss", "eval_loss", "lr", "tokens_per_s", "memory_gb", "grad_norm")


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def studio(self) -> Path:
        return self.root / "studio_run.json"

    @property
    def command(self) -> Path:
        return self.root / "command.txt"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def log(self) -> Path:
        return self.root / "logs" / "train.log"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    def last_checkpoint(self) -> Path | None:
        found = [(int(p.name.rsplit("-", 1)[-1]), p) for p in self.checkpoints.glob("checkpoint-*")
                 if p.name.rsplit("-", 1)[-1].isdigit() and (p / "trainer_state.json").exists()]
        return max(found)[1] if found else None


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]


def default_run_name(cfg: TrainingConfig, info: ModelInfo, ref: DatasetRef) -> str:
    if cfg.name:
        return cfg.name
    model = Path(info.display_name).stem if info.kind == "gguf" else info.display_name
    return f"{model.rsplit('/', 1)[-1]} · {ref.name} · {cfg.method_label()}"


def command_line(argv: list[str]) -> str:
    if sys.platform == "win32":
        return subprocess.list2cmdline(argv)
    return shlex.join(argv)


def write_run_files(paths: RunPaths, cfg: TrainingConfig, info: ModelInfo, ref: DatasetRef,
                    report: PreflightReport, *, run_id: str, name: str) -> dict[str, Any]:
    """config.json + studio_run.json; returns the script config."""
    val = "data/validation.jsonl" if report.validation_file is not None else None
    resolved = script_config(cfg, base_model=info.base_model, gguf_file=info.gguf_file,
                             train_file="data/train.jsonl", validation_file=val, run_name=name)
    atomic_write_json(paths.config, resolved)
    atomic_write_json(paths.studio, {
        "run_id": run_id, "name": name, "created_at": time.time(), "app_version": __version__,
        "training_config": cfg.model_dump(mode="json"),
        "base_model": {"ref": info.ref, "kind": info.kind, "gguf_file": info.gguf_file},
        "dataset": {"id": ref.id, "name": ref.name, "path": str(ref.path),
                    "train_split": cfg.train_split, "validation_split": cfg.validation_split,
                    "content_hash": report.content_hash},
        "chat_format": report.format, "preflight": report.to_json(),
    })
    return resolved


def write_command(paths: RunPaths, argv: list[str]) -> None:
    atomic_write_text(paths.command, command_line(argv) + "\n")


# --- history --------------------------------------------------------------------------------


@dataclass
class RunRecord:
    id: str
    name: str
    status: str
    base_model: str
    dataset_id: str | None
    path: Path
    created_at: float
    updated_at: float
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.path)

    @property
    def final_loss(self) -> float | None:
        v = self.metrics.get("final_loss")
        return float(v) if isinstance(v, (int, float)) else None

    @property
    def final_eval_loss(self) -> float | None:
        v = self.metrics.get("final_eval_loss")
        return float(v) if isinstance(v, (int, float)) else None

    @property
    def duration_s(self) -> float | None:
        v = self.metrics.get("duration_s")
        return float(v) if isinstance(v, (int, float)) else None

    @property
    def resumable(self) -> bool:
        return self.status not in ACTIVE and self.status not in FINISHED_OK and \
            self.paths.last_checkpoint() is not None


def record_from_row(root: Path, row: dict[str, Any]) -> RunRecord:
    path = Path(row["path"])
    return RunRecord(
        id=str(row["id"]), name=str(row["name"]), status=str(row["status"]),
        base_model=str(row.get("base_model") or ""), dataset_id=row.get("dataset_id"),
        path=path if path.is_absolute() else root / path,
        created_at=float(row.get("created_at") or 0.0),
        updated_at=float(row.get("updated_at") or 0.0),
        config=dict(row.get("config") or {}), metrics=dict(row.get("metrics") or {}))


def list_runs(catalog: Catalog, root: Path) -> list[RunRecord]:
    """Every run, newest first."""
    return [record_from_row(root, r) for r in reversed(catalog.records("runs"))]


def mark_interrupted(catalog: Catalog, live: set[str] | frozenset[str] = frozenset()) -> int:
    """Runs left preparing/running by a session that ended are interrupted (resumable if they
    have a checkpoint)."""
    n = 0
    for row in catalog.records("runs"):
        if row["status"] in ACTIVE and row["id"] not in live:
            catalog.update("runs", row["id"], status="interrupted")
            n += 1
    return n


def load_metrics(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Series from a run's metrics.jsonl (after a resume, the last value per step wins)."""
    series: dict[str, dict[int, float]] = {k: {} for k in SERIES}
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError:
        return {k: [] for k in SERIES}
    with fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            step = rec.get("step")
            if not isinstance(step, int):
                continue
            if rec.get("type") == "eval" and isinstance(rec.get("value"), (int, float)):
                series["eval_loss"][step] = float(rec["value"])
            elif rec.get("type") == "progress":
                for k in SERIES:
                    if k != "eval_loss" and isinstance(rec.get(k), (int, float)):
                        series[k][step] = float(rec[k])
    return {k: sorted(v.items()) for k, v in series.items()}
