"""Models the Playground can load: the workspace's exports (catalog `exports` table) and any
folder with a genai_config.json, with the ONNX LoRA adapters found beside them.

An export folder holds `genai_config.json` (onnxruntime-genai) and, for swappable LoRA,
`adapters/<name>.onnx_adapter`; an export record's `meta.adapters` ({name: path}) is read too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.errors import StudioError

if TYPE_CHECKING:
    from phi4studio.core.chatformats import ChatFormat
    from phi4studio.core.workspace import Workspace

ADAPTER_SUFFIX = ".onnx_adapter"


class ModelFolderError(StudioError):
    """The folder is not a model onnxruntime-genai can load."""


@dataclass(frozen=True)
class ModelChoice:
    name: str
    path: Path
    source: str = "folder"  # "export" or "folder"
    adapters: Mapping[str, Path] = field(default_factory=dict)
    export_id: str | None = None
    note: str = ""  # e.g. the export's precision and target
    provider: str | None = None  # the provider it was built for (None: the app's setting)

    @property
    def label(self) -> str:
        extra = f" — {self.note}" if self.note else ""
        return f"{self.name}{extra}"


def find_adapters(model_dir: Path, extra: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """`adapters/*.onnx_adapter` and `*.onnx_adapter` in the folder, plus `extra` {name: path}."""
    found: dict[str, Path] = {}
    for folder in (model_dir / "adapters", model_dir):
        if folder.is_dir():
            for f in sorted(folder.glob("*" + ADAPTER_SUFFIX)):
                found.setdefault(f.name[: -len(ADAPTER_SUFFIX)], f)
    for name, p in (extra or {}).items():
        path = Path(str(p))
        if not path.is_absolute():
            path = model_dir / path
        if path.is_file():
            found.setdefault(str(name), path)
    return found


def model_from_folder(path: Path | str) -> ModelChoice:
    folder = Path(path).expanduser()
    if not (folder / "genai_config.json").is_file():
        raise ModelFolderError(
            f"{folder} is not an onnxruntime-genai model folder (it has no genai_config.json).",
            hint="Choose the folder an export wrote (Export tab), or one made by the ONNX Runtime "
                 "GenAI model builder.")
    return ModelChoice(folder.name, folder.resolve(), "folder", find_adapters(folder))


def exported_models(workspace: Workspace) -> list[ModelChoice]:
    """The workspace's exports that are loadable folders, newest first."""
    out: list[ModelChoice] = []
    for rec in reversed(workspace.catalog.records("exports")):
        raw = Path(str(rec.get("path") or ""))
        folder = raw if raw.is_absolute() else workspace.root / raw
        if not (folder / "genai_config.json").is_file() or rec.get("status") in (
                "failed", "cancelled", "queued", "running"):
            continue
        meta = rec.get("meta") if isinstance(rec.get("meta"), Mapping) else {}
        adapters = meta.get("adapters") if isinstance(meta, Mapping) else None
        note = " ".join(str(rec.get(k) or "") for k in ("precision", "target")).strip()
        out.append(ModelChoice(str(rec.get("name") or folder.name), folder.resolve(), "export",
                               find_adapters(folder, adapters if isinstance(adapters, Mapping)
                                             else None),
                               export_id=str(rec.get("id")), note=note))
    return out


def format_for_model(model_dir: Path, override: str | None = None) -> ChatFormat:
    """The chat format of a model folder (its own template), or the one the user chose."""
    from phi4studio.core.chatformats import FormatDetectionError, detect_format, get_format
    from phi4studio.core.chatformats.templates import template_source

    if override:
        template = model_dir if template_source(model_dir) is not None else None
        return get_format(override, template=template)
    try:
        return detect_format(model_dir)
    except FormatDetectionError as exc:
        raise ModelFolderError(
            f"{model_dir} has no chat template, so its chat format is unknown.",
            hint="Choose the format in the Playground's settings (or --format on the command "
                 "line).") from exc
