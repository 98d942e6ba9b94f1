"""The shipped samples: resources/samples/tools.json (an everyday MCP-style tool catalog) and
resources/samples/sample_dataset.jsonl, synthesized from it and split 80/10/10. The app's first
run imports the dataset (workflows.seed_sample). After changing the synthesizer or the catalog,
regenerate the dataset with `build_sample_dataset()`; a test keeps the shipped file in step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from phi4studio.core.datasets.catalog import load_tool_catalog
from phi4studio.core.datasets.schema import conversation_hashes
from phi4studio.core.paths import resource

SAMPLE_SEED = 2026
SAMPLE_SIZE = 60


def sample_tools() -> list[dict[str, Any]]:
    return load_tool_catalog(resource("samples", "tools.json"))


def build_sample_examples() -> Iterator[dict[str, Any]]:
    """The sample dataset's examples, in order."""
    from phi4studio.core.datasets.split import SplitRow, plan_split
    from phi4studio.core.datasets.synthesis import synthesize

    examples = list(synthesize(sample_tools(), SAMPLE_SIZE, seed=SAMPLE_SEED))
    rows = [SplitRow(e["id"], e["scenario"], conversation_hashes(e)[1]) for e in examples]
    plan = plan_split(rows, seed=SAMPLE_SEED)
    for e in examples:
        yield {**e, "split": plan.assignments[e["id"]], "tags": [*e["tags"], "sample"]}


def sample_dataset_text() -> str:
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in build_sample_examples())


def build_sample_dataset(path: Path | None = None) -> Path:
    """Regenerate resources/samples/sample_dataset.jsonl."""
    from phi4studio.core.fileio import atomic_write_text

    target = path or resource("samples", "sample_dataset.jsonl")
    atomic_write_text(target, sample_dataset_text())
    return target
