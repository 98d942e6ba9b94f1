"""The quick start report's lines that are not the A/B table."""

from __future__ import annotations

from phi4studio.core.quickstart.report import machine_line, truncation_line


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
