"""The quick start report's lines that are not the A/B table."""

from __future__ import annotations

from pathlib import Path

from phi4studio.core.quickstart.report import machine_line, truncation_line
from phi4studio.core.quickstart.steps import training_runtime
from phi4studio.core.training.runs import RunRecord


def machine(data: dict[str, object] | None) -> dict[str, object]:
    training: dict[str, object] = {"device": "cpu", "precision": "fp32", "total_steps": 150}
    if data is not None:
        training["data"] = data
    return {"cpu": "AMD EPYC", "cores": 2, "training": training}


def test_the_report_says_what_the_maximum_length_cut() -> None:
    # q6's training split: 3 of 596 examples over 1024 tokens, none left without an answer
    cut = machine({"examples": 596, "truncated": 3, "dropped": 0, "max_length": 1024})
    assert truncation_line(cut) == (
        "Training: 3 of 596 examples were longer than the maximum length (1024 tokens) and "
        "were cut there (`--set training.max_length=N` keeps more, at more memory).")
    # q4's: 10 cut, 3 of them with no answer token left
    lost = truncation_line(machine({"examples": 597, "truncated": 10, "dropped": 3,
                                    "max_length": 1024}))
    assert "10 of 597 examples" in lost and "; 3 had no answer token left to train on" in lost
    # nothing cut: no line; a run from before the counts were kept: no line either
    assert truncation_line(machine({"examples": 40, "truncated": 0, "dropped": 0,
                                    "max_length": 512})) == ""
    assert truncation_line(machine(None)) == "" and truncation_line({"cpu": "x"}) == ""
    assert machine_line(cut) == "on AMD EPYC (2 cores); training on cpu in fp32, 150 steps"


def test_a_finished_run_gives_the_report_its_runtime_and_cut_examples(tmp_path: Path) -> None:
    # the same record whether the train step watched the run end or found it finished on resume
    metrics = {"device": "cpu", "precision": "fp32", "total_steps": 150, "duration_s": 3302.6,
               "tokens": {"train": {"examples": 596, "used": 596, "truncated": 3,
                                    "dropped_no_trained_tokens": 0}}}
    rec = RunRecord(id="r", name="r", status="completed", base_model="m", dataset_id="d",
                    path=tmp_path, created_at=0.0, updated_at=0.0,
                    config={"max_length": 1024}, metrics=metrics)
    got = training_runtime(rec)
    assert got == {"device": "cpu", "precision": "fp32", "total_steps": 150,
                   "duration_s": 3302.6, "data": {"examples": 596, "truncated": 3,
                                                  "dropped": 0, "max_length": 1024}}
    assert truncation_line({"training": got}).startswith("Training: 3 of 596 examples")
    # a run from before the counts were kept: the runtime only, no line
    del metrics["tokens"]
    assert "data" not in training_runtime(rec) and truncation_line(
        {"training": training_runtime(rec)}) == ""
