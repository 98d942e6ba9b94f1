"""Training data: the chosen dataset split rendered through the chat-format registry.

A prepared line is `{"text": str, "spans": [[start, end], ...]}`, the spans being the trained
(assistant) character ranges of `ChatFormat.render(example)`. training/sft.py tokenizes the text
as it is and masks everything outside the spans, so the model is trained on exactly the text the
playground later feeds it.

A dataset is a workspace dataset (catalog id or name -> its DatasetStore file), a dataset
`.sqlite` file, or a JSONL file of canonical examples (each with an optional `split`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi4studio.core.errors import StudioError
from phi4studio.core.training.config import TrainingConfig
from phi4studio.core.training.models import ModelInfo
from phi4studio.core.workspace import Workspace

ALL = "all"


class TrainingDataError(StudioError):
    """The dataset or split cannot be used for training."""


@dataclass(frozen=True)
class DatasetRef:
    name: str
    path: Path
    kind: str  # "store" or "jsonl"
    id: str | None = None


def resolve_dataset(workspace: Workspace | None, key: str) -> DatasetRef:
    """A workspace dataset by id or name, else a .sqlite/.jsonl file path."""
    key = key.strip()
    if not key:
        raise TrainingDataError("No dataset chosen.", hint="Pick a dataset in the Train tab.")
    if workspace is not None:
        rows = workspace.catalog.records("datasets")
        for match in (lambda r: r["id"] == key, lambda r: r["name"] == key,
                      lambda r: str(r["name"]).casefold() == key.casefold()):
            found = [r for r in rows if match(r)]
            if len(found) == 1:
                r = found[0]
                return DatasetRef(str(r["name"]), workspace.root / str(r["path"]), "store",
                                  str(r["id"]))
            if len(found) > 1:
                raise TrainingDataError(f"{len(found)} datasets are named {key!r}.",
                                        hint="Use the dataset's id.")
    path = Path(key).expanduser()
    if path.is_file():
        kind = "jsonl" if path.suffix.lower() in (".jsonl", ".json") else "store"
        return DatasetRef(path.stem, path.resolve(), kind)
    raise TrainingDataError(f"No dataset {key!r}: neither a workspace dataset nor a file.")


def iter_split(ref: DatasetRef, split: str) -> Iterator[dict[str, Any]]:
    """The examples (canonical dicts) of one split; `all`: every example."""
    if ref.kind == "jsonl":
        with open(ref.path, encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                except ValueError as exc:
                    raise TrainingDataError(f"{ref.path}:{i}: not JSON ({exc})") from exc
                if split == ALL or d.get("split") == split:
                    yield d
        return
    from phi4studio.core.datasets.query import ExampleFilter
    from phi4studio.core.datasets.store import DatasetStore

    store = DatasetStore.open(ref.path)
    try:
        yield from store.iter_dicts(None if split == ALL else ExampleFilter(split=split))
    finally:
        store.close()


def split_counts(ref: DatasetRef) -> dict[str | None, int]:
    if ref.kind == "jsonl":
        counts: dict[str | None, int] = {}
        for d in iter_split(ref, ALL):
            counts[d.get("split")] = counts.get(d.get("split"), 0) + 1
        return counts
    from phi4studio.core.datasets.store import DatasetStore

    store = DatasetStore.open(ref.path)
    try:
        return store.counts_by("split")
    finally:
        store.close()


# --- chat format ----------------------------------------------------------------------------


def chat_format_for(cfg: TrainingConfig, info: ModelInfo) -> Any:
    """The ChatFormat the run renders with: the model's own template unless one is chosen."""
    from phi4studio.core.chatformats import detect_format, get_format

    local = info.local_path
    if cfg.chat_format != "auto":
        return get_format(cfg.chat_format, template=local) if local else get_format(
            cfg.chat_format)
    if local is not None:
        return detect_format(str(local))
    name = info.ref.lower()
    for needle, fmt in (("phi-4-mini", "phi4-mini"), ("phi4-mini", "phi4-mini"),
                        ("phi-4", "phi4"), ("qwen", "hermes"), ("smollm", "chatml-notools")):
        if needle in name:
            return get_format(fmt)
    raise TrainingDataError(
        f"No chat template known for {info.ref} before it is downloaded.",
        hint="Choose a chat format in the advanced settings, or download the model first.")


def render_line(fmt: Any, example: dict[str, Any]) -> dict[str, Any]:
    """One prepared line: the rendered text and its trained (assistant) character spans."""
    r = fmt.render(example)
    return {"text": r.text, "spans": [[s.start, s.end] for s in r.spans if s.trained]}
