"""Application settings: a pydantic model with a schema version and migrations.

Stored as JSON in the platform config folder and written atomically. A file that cannot be read
(bad JSON, invalid values) is moved aside as `settings.corrupt-<time>.json`, never deleted, and the
defaults load with a message for the user. A file from a newer version is left untouched and the
app runs on defaults without saving over it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from phi4studio.core.errors import StudioError
from phi4studio.core.fileio import atomic_write_json

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2


class InferenceDevice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    dml = "dml"


class Settings(BaseModel):
    """Everything the user can set. Fields with `ui` metadata appear in Preferences."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    schema_version: int = SCHEMA_VERSION
    workspace: str | None = Field(
        default=None,
        title="Workspace folder",
        description="Folder holding datasets, runs, exports and evaluations. "
        "Empty: the default workspace in your data folder.",
        json_schema_extra={"ui": "path_dir"},
    )
    recent_workspaces: list[str] = Field(default_factory=list)
    training_python: str | None = Field(
        default=None,
        title="Training runtime (Python)",
        description="Python interpreter with torch, transformers, peft and trl. "
        "Empty: the app's own interpreter when running from source.",
        json_schema_extra={"ui": "path_file"},
    )
    inference_device: InferenceDevice = Field(
        default=InferenceDevice.auto,
        title="Inference device",
        description="Execution provider for the Playground and evaluations. "
        "Auto picks CUDA, then DirectML, then CPU.",
        json_schema_extra={"ui": "choice"},
    )
    cpu_job_slots: int = Field(
        default=2,
        ge=1,
        le=64,
        title="Parallel CPU jobs",
        description="How many CPU-bound jobs (imports, validation) may run at once.",
        json_schema_extra={"ui": "int"},
    )
    cancel_grace_s: float = Field(
        default=20.0,
        ge=1.0,
        le=600.0,
        title="Cancel grace period (s)",
        description="How long a cancelled job may take to save a checkpoint and exit before it "
        "is terminated.",
        json_schema_extra={"ui": "float"},
    )
    theme: Literal["system", "light", "dark"] = Field(
        default="system",
        title="Theme",
        description="Colour scheme of the window.",
        json_schema_extra={"ui": "choice"},
    )
    max_recent: int = Field(default=8, ge=1, le=30, title="Recent workspaces to remember",
                            json_schema_extra={"ui": "int"})

    def remember_workspace(self, path: str) -> None:
        items = [p for p in self.recent_workspaces if p != path]
        self.recent_workspaces = [path, *items][: self.max_recent]


# --- migrations -----------------------------------------------------------------------------
# Each entry upgrades a raw dict from version N to N + 1. Files without `schema_version` are v0.

def _v0_to_v1(d: dict[str, Any]) -> dict[str, Any]:
    # v0 (pre-release) stored the workspace as `workspace_dir` and recents as `recent`.
    if "workspace_dir" in d:
        d.setdefault("workspace", d.pop("workspace_dir"))
    if "recent" in d:
        d.setdefault("recent_workspaces", d.pop("recent"))
    return d


def _v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
    # v1 had a boolean `use_gpu`; v2 names the device.
    use_gpu = d.pop("use_gpu", None)
    if use_gpu is not None and "inference_device" not in d:
        d["inference_device"] = "auto" if use_gpu else "cpu"
    return d


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _v0_to_v1, 1: _v1_to_v2}


def schema_version_of(raw: dict[str, Any]) -> int:
    """The file's `schema_version` (0 when absent); ValueError when it is not a version."""
    version = raw.get("schema_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"schema_version must be a whole number >= 0, not {version!r}")
    return version


def migrate(raw: dict[str, Any], target: int = SCHEMA_VERSION) -> dict[str, Any]:
    version = schema_version_of(raw)
    data = dict(raw)
    while version < target:
        data = MIGRATIONS[version](data)
        version += 1
        data["schema_version"] = version
    return data


@dataclass
class LoadResult:
    settings: Settings
    message: str | None = None  # shown to the user when something had to be done
    read_only: bool = False  # True when the file is from a newer version: never save over it


class SettingsStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.read_only = False

    def load(self) -> LoadResult:
        self.read_only = False
        if not self.path.exists():
            return LoadResult(Settings())
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("the file does not hold a JSON object")
            version = schema_version_of(raw)
            if version > SCHEMA_VERSION:
                self.read_only = True
                return LoadResult(
                    Settings(),
                    message=f"Settings file {self.path} is from a newer Phi-4 Studio (version "
                    f"{version}, this one reads up to {SCHEMA_VERSION}). Defaults are in use and "
                    "the file is left untouched.",
                    read_only=True,
                )
            settings = Settings.model_validate(migrate(raw))
        except (ValueError, ValidationError, OSError) as exc:
            reason = str(exc).splitlines()[0]
            try:
                aside = self._move_aside()
            except OSError as move_exc:
                # Can't move it aside: keep it where it is and never save over it this session.
                self.read_only = True
                return LoadResult(
                    Settings(),
                    message=f"Settings file {self.path} could not be read ({reason}) nor moved "
                    f"aside ({move_exc.strerror or move_exc}). The defaults are in use and the "
                    "file is left untouched.",
                    read_only=True,
                )
            return LoadResult(
                Settings(),
                message=f"Settings file {self.path} could not be read ({reason}). It was kept as "
                f"{aside.name} and the defaults are in use.",
            )
        if version < SCHEMA_VERSION:
            try:
                self.save(settings)
            except StudioError as exc:  # the migrated settings still apply for this session
                return LoadResult(settings, message=f"Settings were upgraded but not saved: {exc}")
        return LoadResult(settings)

    def save(self, settings: Settings) -> None:
        if self.read_only:
            log.warning("settings not saved: the file on disk is from a newer version")
            return
        atomic_write_json(self.path, settings.model_dump(mode="json"))

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.stem}.corrupt-{stamp}{self.path.suffix}")
        n = 1
        while aside.exists():
            aside = self.path.with_name(f"{self.path.stem}.corrupt-{stamp}-{n}{self.path.suffix}")
            n += 1
        self.path.replace(aside)
        return aside


# --- a Qt-free description of the Preferences form ------------------------------------------

@dataclass(frozen=True)
class FieldSpec:
    name: str
    title: str
    description: str
    kind: str  # bool | int | float | choice | text | path_dir | path_file
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    optional: bool = False


def form_spec(model: type[BaseModel] = Settings) -> list[FieldSpec]:
    """The fields to show in Preferences, derived from the model (so the dialog never drifts)."""
    specs: list[FieldSpec] = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        kind = extra.get("ui")
        if not isinstance(kind, str):
            continue
        ann = info.annotation
        optional = type(None) in get_args(ann)
        choices: tuple[str, ...] = ()
        if kind == "choice":
            if isinstance(ann, type) and issubclass(ann, Enum):
                choices = tuple(str(m.value) for m in ann)
            elif get_origin(ann) is Literal:
                choices = tuple(str(a) for a in get_args(ann))
        lo = hi = None
        for m in info.metadata:
            lo = getattr(m, "ge", lo) if getattr(m, "ge", None) is not None else lo
            hi = getattr(m, "le", hi) if getattr(m, "le", None) is not None else hi
        specs.append(
            FieldSpec(
                name=name,
                title=info.title or name.replace("_", " ").capitalize(),
                description=info.description or "",
                kind=kind,
                choices=choices,
                minimum=lo,
                maximum=hi,
                optional=optional,
            )
        )
    return specs
