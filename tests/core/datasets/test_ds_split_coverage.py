from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from dsfixtures import EMAIL_TOOL, chat_example, weather_example

from phi4studio.core.datasets.catalog import load_tool_catalog
from phi4studio.core.datasets.coverage import compute_coverage, infer_scenario, result_is_error
from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.query import ExampleFilter
from phi4studio.core.datasets.split import SplitRow, assign_splits, find_leaks, plan_split
from phi4studio.core.datasets.store import DatasetStore
from phi4studio.core.datasets.synthesis import synthesize
from phi4studio.core.paths import resource

CATALOG = load_tool_catalog(resource("samples", "tools.json"))


# --- scenario inference -----------------------------------------------------------------------

def test_infer_scenario_rules() -> None:
    single = weather_example(scenario=None)
    assert infer_scenario(single) == "single"
    multiple = weather_example(scenario=None)
    multiple["tools"].append(EMAIL_TOOL)
    assert infer_scenario(multiple) == "multiple"
    parallel = weather_example(scenario=None)
    parallel["messages"][2]["tool_calls"].append(
        {"id": "call_2", "name": "get_weather", "arguments": {"city": "Rome"}})
    assert infer_scenario(parallel) == "parallel"
    multi = weather_example(scenario=None)
    multi["messages"] += [{"role": "user", "content": "And Rome?"},
                          {"role": "assistant", "content": "Sunny in Rome."}]
    assert infer_scenario(multi) == "multi_turn"
    assert infer_scenario(chat_example(1, "a joke?")) == "irrelevance"
    asks = chat_example(2, "Weather please")
    asks["messages"][1]["content"] = "Which city do you mean?"
    assert infer_scenario(asks) == "missing_info_or_error"
    no_tools = chat_example(3, "hi", tools=[])
    no_tools["messages"][1]["content"] = "How are you?"
    assert infer_scenario(no_tools) == "irrelevance"
    err = weather_example(scenario=None)
    err["messages"][3]["content"] = '{"error": "city not found"}'
    assert infer_scenario(err) == "missing_info_or_error"
    ask_then_call = weather_example(scenario=None)
    ask_then_call["messages"][1:1] = [{"role": "user", "content": "Weather?"},
                                      {"role": "assistant", "content": "Which city?"}]
    assert infer_scenario(ask_then_call) == "missing_info_or_error"
    assert result_is_error("Error: timeout") and result_is_error('{"isError": true}')
    assert not result_is_error('{"errors_fixed": 0}') and not result_is_error("all good")


# --- coverage ---------------------------------------------------------------------------------

def test_coverage_counts_gaps_and_stats(tmp_path: Path) -> None:
    store = DatasetStore.create(tmp_path / "d.sqlite")
    exs = [weather_example(i, city=c, split="train") for i, c in enumerate(["Oslo", "Rome"])]
    exs[0]["messages"][2]["tool_calls"][0]["arguments"]["unit"] = "celsius"
    exs.append(chat_example(5, "A joke please", scenario=None))
    store.add_many(exs)
    seen: list[float] = []
    cov = compute_coverage(store, progress=lambda f, m: seen.append(f))
    assert cov.n_examples == 3 and cov.inferred == 1
    assert cov.scenarios == {"single": 2, "irrelevance": 1}
    assert cov.splits == {"train": 2, "(none)": 1}
    assert cov.tools_offered == {"get_weather": 3, "send_email": 1}
    assert cov.tools_called == {"get_weather": 2} and cov.calls_per_tool["get_weather"] == 2
    assert cov.params_used["get_weather"] == {"city": 2, "unit": 1}
    assert cov.enum_values["get_weather.unit"] == {'"celsius"': 1}
    stats = cov.turn_stats()
    assert (stats["messages"].minimum, stats["messages"].maximum) == (2, 5)
    assert stats["calls"].mean == pytest.approx(0.67)
    assert sum(c for _, _, c in cov.length_histogram()) == 3 and cov.length_is_estimate
    gaps = {(g.kind, g.subject): g.message for g in cov.gaps}
    assert ("tool", "send_email") in gaps
    assert gaps[("enum", "get_weather.unit")] == 'get_weather.unit never uses "fahrenheit".'
    assert ("scenario", "multi_turn") in gaps and ("scenario", "single") not in gaps
    assert ("split", "(none)") in gaps
    mix = {s.scenario: s for s in cov.scenario_mix()}
    assert mix["single"].share == pytest.approx(2 / 3) and mix["single"].target == 0.30
    assert mix["irrelevance"].target is None
    json.dumps(cov.to_dict())  # JSON-ready for the CLI and reports
    assert seen[-1] == 1.0
    only = compute_coverage(store, flt=ExampleFilter(split="train"), count_tokens=lambda d: 9000,
                            max_tokens=8192)
    assert only.n_examples == 2 and only.over_length == 2 and not only.length_is_estimate
    store.close()


def test_coverage_of_a_balanced_synthetic_set_has_no_scenario_gaps() -> None:
    cov = compute_coverage(synthesize(CATALOG, 200, seed=1), target={
        "single": 0.25, "multiple": 0.2, "multi_turn": 0.2, "parallel": 0.15,
        "missing_info_or_error": 0.1})
    assert not [g for g in cov.gaps if g.kind == "scenario"]
    assert not [g for g in cov.gaps if g.kind == "tool"]


# --- split ------------------------------------------------------------------------------------

def rows(n: int, scenarios: tuple[str, ...] = ("single", "parallel")) -> list[SplitRow]:
    return [SplitRow(f"e{i}", scenarios[i % len(scenarios)], f"h{i}") for i in range(n)]


def test_split_is_deterministic_stratified_and_proportional() -> None:
    r = rows(1000)
    a = plan_split(r, seed=3)
    assert a.assignments == plan_split(list(reversed(r)), seed=3).assignments  # order-free
    assert a.assignments != plan_split(r, seed=4).assignments
    assert a.counts == {"train": 800, "validation": 100, "test": 100}
    for stratum in ("single", "parallel"):
        assert a.by_stratum[stratum] == {"train": 400, "validation": 50, "test": 50}
    b = plan_split(r, ratios={"train": 0.5, "test": 0.5}, seed=0)
    assert b.counts == {"train": 500, "test": 500}
    with pytest.raises(DatasetError):
        plan_split(r, ratios={"train": 1, "dev": 1})


def test_duplicates_never_straddle_splits() -> None:
    r = [SplitRow(f"e{i}", "single", f"h{i // 4}") for i in range(400)]  # groups of four
    plan = plan_split(r, seed=1)
    by_group: dict[str, set[str]] = {}
    for row in r:
        by_group.setdefault(row.group, set()).add(plan.assignments[row.id])
    assert all(len(s) == 1 for s in by_group.values())
    assert plan.n_groups == 100
    assert 300 <= plan.counts["train"] <= 340


def test_holdout_tools_and_respect_existing() -> None:
    r = [SplitRow(f"e{i}", "single", f"h{i}", ("calc",) if i % 10 == 0 else ("web",))
         for i in range(200)]
    plan = plan_split(r, seed=0, holdout_tools=["calc"])
    assert plan.held_out == 20
    assert all(plan.assignments[f"e{i}"] == "test" for i in range(0, 200, 10))
    by_tool = plan_split(r, seed=0, stratify_by_tool=True)
    assert set(by_tool.by_stratum) == {"single/calc", "single/web"}
    fixed = [SplitRow("a", "single", "g", (), "test"), SplitRow("b", "single", "g", (), None)]
    assert plan_split(fixed, respect_existing=True).assignments == {"a": "test", "b": "test"}


def test_training_only_sources_go_to_train_and_the_ratios_apply_to_the_rest() -> None:
    r = [SplitRow(f"e{i}", "single", f"h{i}", (), None, "aux" if i % 3 == 0 else "mine")
         for i in range(300)]
    plan = plan_split(r, seed=0, train_only_sources=["aux"])
    assert plan.train_only == 100
    assert all(plan.assignments[f"e{i}"] == "train" for i in range(0, 300, 3))
    # the other 200 split 80 / 10 / 10 by themselves
    assert plan.counts == {"train": 100 + 160, "validation": 20, "test": 20}
    # a group is training-only only when every member is: equal content never straddles
    mixed = [SplitRow("a", "single", "g", (), None, "aux"),
             SplitRow("b", "single", "g", (), None, "mine")]
    plan = plan_split(mixed, seed=0, ratios={"test": 1.0}, train_only_sources=["aux"])
    assert plan.assignments == {"a": "test", "b": "test"} and plan.train_only == 0


def test_assign_splits_reads_each_examples_source(tmp_path: Path) -> None:
    store = DatasetStore.create(tmp_path / "d.sqlite")
    exs = list(synthesize(CATALOG, 60, seed=5))
    for i, e in enumerate(exs):
        e["source"] = "aux" if i % 2 else "mine"
    store.add_many(exs, record_undo=False)
    plan = assign_splits(store, seed=1, train_only_sources=["aux"])
    assert plan.train_only == 30
    assert {(store.get_dict(e["id"]) or {}).get("split") for e in exs[1::2]} == {"train"}
    assert store.count(ExampleFilter(split="test")) == plan.counts["test"] >= 2
    store.close()


def test_assign_splits_on_a_store_is_one_undo_step(tmp_path: Path) -> None:
    store = DatasetStore.create(tmp_path / "d.sqlite")
    store.add_many(synthesize(CATALOG, 100, seed=2), record_undo=False)
    dup = store.get_dict("syn-2-00000")
    assert dup is not None
    store.add({**dup, "id": "copy-of-0", "messages": [
        {**m, "content": m["content"].upper()} for m in dup["messages"]]}, on_conflict="error")
    plan = assign_splits(store, seed=7)
    assert sum(plan.counts.values()) == 101
    assert store.count(ExampleFilter(split="train")) == plan.counts["train"]
    assert find_leaks(store) == []
    assert store.get_dict("copy-of-0")["split"] == store.get_dict("syn-2-00000")["split"]  # type: ignore[index]
    assert Counter(store.counts_by("split")) == plan.counts
    assert store.undo_label == "Split 101 example(s) (seed 7)"
    store.undo()
    assert store.counts_by("split") == {None: 101}
    store.set_fields(["syn-2-00000"], split="train")
    store.set_fields(["copy-of-0"], split="test")
    assert find_leaks(store) == [(["syn-2-00000", "copy-of-0"], ["test", "train"])]
    store.close()
