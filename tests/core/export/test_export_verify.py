"""Verification arithmetic (teacher-forced agreement from few requests), verdicts, prompts, and
the cross-tab handoff."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from phi4studio.core.export.verify import (
    EOS,
    Verification,
    agreement_walk,
    builtin_examples,
    prompt_examples,
    render_prompts,
    sequence,
    verdict,
)
from phi4studio.core.handoff import Handoff, OpenModelRequest


def walk(target: list[int], export: dict[tuple[int, ...], list[int]] | None = None,
         model: list[int] | None = None) -> tuple[int, int | None, int]:
    """`model`: what the export predicts after each prefix length (teacher-forced), as a list."""
    asked: list[int] = []

    async def ask(pos: int) -> list[int]:
        asked.append(pos)
        assert model is not None
        # free-running from the reference prefix: the export's own predictions follow
        return model[pos:]

    return asyncio.run(agreement_walk(target, ask))


def test_identical_answers_need_one_request() -> None:
    assert walk([5, 6, 7], model=[5, 6, 7]) == (3, None, 1)


def test_one_difference_costs_one_more_request() -> None:
    assert walk([5, 6, 7, 8], model=[5, 9, 7, 8]) == (3, 1, 2)


def test_all_different_counts_every_position() -> None:
    assert walk([1, 2, 3], model=[4, 5, 6]) == (0, 0, 3)


def test_an_early_or_missing_end_of_answer_is_a_difference() -> None:
    assert sequence([1, 2], eos=True) == [1, 2, EOS]
    assert walk(sequence([1, 2], True), model=[1, 2, 3]) == (2, 2, 1)
    assert walk(sequence([1, 2, 3], False), model=[1, EOS]) == (1, 1, 2)


@pytest.mark.parametrize(("precision", "algo", "agreement", "status", "advice"), [
    ("int4", "rtn", 0.6, "flagged", "k_quant_mixed algorithm, or INT8"),
    ("int4", "k_quant_mixed", 0.6, "flagged", "rebuild in INT8"),
    ("int8", "k_quant_mixed", 0.5, "flagged", "FP16"),
    ("fp32", "k_quant_mixed", 0.5, "flagged", "check the export log"),
    ("int4", "rtn", 0.95, "passed", ""),
])
def test_verdicts(precision: str, algo: str, agreement: float, status: str, advice: str) -> None:
    v = Verification(status="passed", token_agreement=agreement, threshold=0.9)
    verdict(v, precision, algo)
    assert v.status == status
    assert advice in v.advice
    if status == "flagged" and precision == "int4":
        assert f"{agreement:.0%}" in v.advice


def test_dataset_prompts_stop_before_the_first_answer() -> None:
    examples = [
        {"id": "a", "messages": [{"role": "system", "content": "s"},
                                 {"role": "user", "content": "u"},
                                 {"role": "assistant", "content": "x"},
                                 {"role": "user", "content": "u2"}], "tools": [{"name": "t"}]},
        {"id": "b", "messages": [{"role": "assistant", "content": "hello"}]},
        {"id": "c", "messages": [{"role": "user", "content": "only"}]},
    ]
    got = prompt_examples(examples, 5)
    assert [g["id"] for g in got] == ["a", "c"]
    assert [m["role"] for m in got[0]["messages"]] == ["system", "user"]
    assert got[0]["tools"] == [{"name": "t"}]
    assert len(prompt_examples(examples, 1)) == 1


def test_builtin_prompts_render_with_the_models_template(tmp_path: Path) -> None:
    from exportfixtures import hf_dir

    model = hf_dir(tmp_path)
    texts, _fmt = render_prompts(builtin_examples(10), model)
    assert len(texts) == 10 and len({t["id"] for t in texts}) == 10
    assert texts[0]["text"].endswith("<|im_start|>assistant\n")
    assert "Oslo" in texts[0]["text"] and "get_weather" in texts[0]["text"]
    studio, name = render_prompts(builtin_examples(1), None)
    assert name and "Oslo" in studio[0]["text"]


def test_handoff_keeps_a_request_until_someone_takes_it() -> None:
    h = Handoff()
    req = OpenModelRequest(model_dir=Path("/m"), label="m")
    assert h.publish(req) == 0 and h.pending(OpenModelRequest) is req
    got: list[OpenModelRequest] = []
    h.subscribe(OpenModelRequest, got.append)
    assert got == [req] and h.pending(OpenModelRequest) is None
    assert h.publish(req) == 1 and got == [req, req]
    h.unsubscribe(OpenModelRequest, got.append)
    assert h.publish(req) == 0


def test_prompts_come_from_the_datasets_test_split(tmp_path: Path) -> None:
    from phi4studio.core.datasets.store import DatasetStore
    from phi4studio.core.export.verify import dataset_test_examples

    def ex(i: int, split: str) -> dict[str, object]:
        return {"id": f"e{i}", "split": split, "tools": [],
                "messages": [{"role": "user", "content": f"question {i}"},
                             {"role": "assistant", "content": f"answer {i}"}]}

    path = tmp_path / "ds.sqlite"
    store = DatasetStore.create(path, "d")
    store.add_many([ex(i, "test" if i % 3 == 0 else "train") for i in range(12)],
                   record_undo=False)
    store.close()
    got = dataset_test_examples(lambda: DatasetStore.open(path), 3)
    assert [g["id"] for g in got] == ["e0", "e3", "e6"]
    assert got[0]["messages"] == [{"role": "user", "content": "question 0"}]
