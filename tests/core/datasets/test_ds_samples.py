from __future__ import annotations

import json
from collections import Counter

from phi4studio.core.datasets.importers import scan_import
from phi4studio.core.datasets.samples import sample_dataset_text, sample_tools
from phi4studio.core.datasets.schema import SCENARIOS, Example
from phi4studio.core.datasets.validation import validate_example
from phi4studio.core.paths import resource

SHIPPED = resource("samples", "sample_dataset.jsonl")


def test_shipped_sample_dataset_is_what_the_synthesizer_makes() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == sample_dataset_text(), (
        "resources/samples/sample_dataset.jsonl is stale: regenerate it with "
        "phi4studio.core.datasets.samples.build_sample_dataset()"
    )


def test_sample_dataset_covers_every_scenario_and_is_valid() -> None:
    examples = [json.loads(line) for line in SHIPPED.read_text(encoding="utf-8").splitlines()]
    assert 50 <= len(examples) <= 70
    assert set(Counter(e["scenario"] for e in examples)) == set(SCENARIOS)
    tags = Counter(t for e in examples for t in e["tags"])
    assert tags["missing_info"] and tags["tool_error"]
    assert set(Counter(e["split"] for e in examples)) == {"train", "validation", "test"}
    names = {t["name"] for t in sample_tools()}
    called = {c["name"] for e in examples for m in e["messages"] for c in m.get("tool_calls", [])}
    assert called == names  # every sample tool is called somewhere
    for e in examples:
        Example.from_dict(e)
        assert [i for i in validate_example(e) if i.severity == "error"] == [], e["id"]
    report = scan_import(SHIPPED)
    assert report.format == "canonical" and report.good == len(examples) and not report.skipped
