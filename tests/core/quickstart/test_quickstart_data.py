"""The quick start's training data (core/quickstart/data.py) and recipe (recipe.py): every
example valid and reproducible, the shaping levers doing what they say, the recipe's overrides."""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

import pytest

from phi4studio.core.datasets.samples import sample_tools
from phi4studio.core.datasets.synthesis import phrasing as ph
from phi4studio.core.datasets.validation import validate_example
from phi4studio.core.errors import StudioError
from phi4studio.core.quickstart.data import (
    BROAD_SOURCE,
    DEFAULT_SHAPE,
    QUICKSTART_MIX,
    RECIPE_SHAPE,
    SOURCE,
    general_tools,
    quickstart_examples,
    similar_tools,
)
from phi4studio.core.quickstart.recipe import (
    QuickStartOptions,
    ToolSource,
    apply_override,
    parse_override,
)
from phi4studio.core.quickstart.wording import natural_arg


def calls(example: dict[str, Any]) -> list[dict[str, Any]]:
    return [tc for m in example["messages"] for tc in m.get("tool_calls") or []]


def user_text(example: dict[str, Any]) -> str:
    return next(str(m["content"]) for m in example["messages"] if m["role"] == "user")


SHAPE = {**DEFAULT_SHAPE, "near_miss": 0.7, "rephrase": 0.5, "list_parallel": 0.4,
         "varied_parallel": 0.4, "general": 0.6, "hard_negatives": 0.7}


@pytest.fixture(scope="module")
def examples() -> list[dict[str, Any]]:
    return list(quickstart_examples(sample_tools(), 300, seed=5, mix=QUICKSTART_MIX, shape=SHAPE))


def test_the_general_catalog_is_broad_and_every_string_has_examples() -> None:
    tools = general_tools()
    names = [t["name"] for t in tools]
    assert len(names) >= 60 and len(set(names)) == len(names)
    assert {n for n in names if "." in n} and {n for n in names if n[:1].isupper()}
    for t in tools:
        for key, prop in t["inputSchema"].get("properties", {}).items():
            assert prop.get("description"), (t["name"], key)
            if prop.get("type") == "string" and "enum" not in prop and "format" not in prop:
                assert len(prop.get("examples") or []) >= 5, (t["name"], key)


def test_examples_are_valid_reproducible_and_follow_the_mix(
        examples: list[dict[str, Any]]) -> None:
    assert len(examples) == 300 and len({e["id"] for e in examples}) == 300
    for e in examples:
        assert not [i for i in validate_example(e) if i.severity == "error"], e["id"]
        # first turns: the conversation ends at the first assistant turn
        assert e["messages"][-1]["role"] == "assistant"
    again = list(quickstart_examples(sample_tools(), 300, seed=5, mix=QUICKSTART_MIX,
                                     shape=SHAPE))
    assert again == examples
    other = list(quickstart_examples(sample_tools(), 300, seed=6, mix=QUICKSTART_MIX,
                                     shape=SHAPE))
    assert other != examples
    counts = Counter(e["scenario"] for e in examples)
    for scenario, share in QUICKSTART_MIX.items():
        assert abs(counts[scenario] / 300 - share) < 0.06, (scenario, counts)


def test_the_general_share_brings_the_broad_catalog_in(examples: list[dict[str, Any]]) -> None:
    mine = {t["name"] for t in sample_tools()}
    broad = {t["name"] for t in general_tools()}
    from_general = [e for e in examples if {t["name"] for t in e["tools"]} <= broad]
    from_mine = [e for e in examples if {t["name"] for t in e["tools"]} <= mine]
    assert len(from_general) + len(from_mine) == len(examples)
    assert 0.5 < len(from_general) / len(examples) < 0.7
    assert len({c["name"] for e in from_general for c in calls(e)}) >= 40
    # the catalog's value examples are for the synthesizer, never shown to the model
    assert not [e for e in from_general if "'examples'" in repr([t["inputSchema"]
                                                                  for t in e["tools"]])]
    # their source marks them training-only (the quick start's split keeps them in train)
    assert {e["source"] for e in from_general} == {BROAD_SOURCE}
    assert {e["source"] for e in from_mine} == {SOURCE}
    plain = list(quickstart_examples(sample_tools(), 60, seed=5, mix=QUICKSTART_MIX,
                                     shape={**SHAPE, "general": 0.0}))
    assert all({t["name"] for t in e["tools"]} <= mine for e in plain)


def test_near_misses_decline_a_request_for_a_tool_not_offered(
        examples: list[dict[str, Any]]) -> None:
    misses = [e for e in examples if "near_miss" in e["tags"]]
    assert len(misses) >= 20
    for e in misses:
        assert e["scenario"] == "irrelevance" and not calls(e)
        reply = e["messages"][-1]["content"]
        assert any(w in reply for w in ("can't", "none of my tools", "isn't something",
                                        "don't have"))


def test_near_miss_one_offers_a_single_wrong_tool() -> None:
    """With `near_miss_one` every near miss offers one tool (the shape of a single-call
    example), and its decline names what that one tool can do."""
    def near_misses(shape: dict[str, float]) -> list[dict[str, Any]]:
        out = [e for e in quickstart_examples(sample_tools(), 200, seed=3, mix=QUICKSTART_MIX,
                                              shape={**DEFAULT_SHAPE, "near_miss": 1.0, **shape})
               if "near_miss" in e["tags"]]
        assert all(not calls(e) and e["scenario"] == "irrelevance" for e in out)
        return out

    before, after = near_misses({}), near_misses({"near_miss_one": 1.0})
    assert {len(e["tools"]) for e in before} == {1, 2, 3}  # 1-3 tools offered by default
    assert len(after) == len(before) >= 40
    for e in after:
        (offered,) = e["tools"]
        assert ph.action(offered) in e["messages"][-1]["content"]


def written_forms(name: str, value: Any, tool: dict[str, Any]) -> list[str]:
    """The ways a request may write a value ("$7,000", "7,000", "7000": ph.say_value draws
    one), longest first."""
    return sorted({ph.say_value(name, value, tool, random.Random(i)) for i in range(40)},
                  key=len, reverse=True)


def test_list_requests_make_one_call_per_value_in_order(examples: list[dict[str, Any]]) -> None:
    lists = [e for e in examples if "list" in e["tags"]]
    assert len(lists) >= 15
    for e in lists:
        cs = calls(e)
        assert len(cs) >= 2 and len({c["name"] for c in cs}) == 1
        varied = [k for k in cs[0]["arguments"]
                  if len({repr(c["arguments"].get(k)) for c in cs}) == len(cs)]
        assert varied, cs
        text = user_text(e)
        tool = next(t for t in e["tools"] if t["name"] == cs[0]["name"])
        at = 0
        for c in cs:  # each value named in the request, in the order of the calls
            value = c["arguments"][varied[0]]
            shown = "|".join(re.escape(f) for f in written_forms(varied[0], value, tool))
            m = re.compile(r"(?<![\w.$])(?:" + shown + r")(?![\w]|\.\d)").search(text, at)
            assert m is not None, (text, cs)
            at = m.end()
        assert len(cs[0]["arguments"]) == 1 or ph.label(varied[0], tool) in text, (text, cs)


def test_varied_requests_name_every_changed_value(examples: list[dict[str, Any]]) -> None:
    varied = [e for e in examples if "varied" in e["tags"]]
    assert len(varied) >= 8
    for e in varied:
        cs = calls(e)
        assert 2 <= len(cs) <= 3 and len({c["name"] for c in cs}) == 1
        text = user_text(e)
        for c in cs[1:]:
            changed = [k for k, v in c["arguments"].items() if cs[0]["arguments"].get(k) != v]
            assert changed, cs
            tool = next(t for t in e["tools"] if t["name"] == c["name"])
            for k in changed:
                assert any(form in text for form in written_forms(k, c["arguments"][k], tool)), (
                    k, text)


def test_dense_requests_pair_or_cross_two_parameters_values() -> None:
    """`dense_parallel`: two parameters' values paired in order ("... respectively": one call
    per pair) or crossed (every combination: 2 x 2 calls); every value in the request, the
    calls all of one tool, distinct and valid."""
    exs = list(quickstart_examples(sample_tools(), 300, seed=3, mix=QUICKSTART_MIX,
                                   shape={**SHAPE, "list_parallel": 0.0, "varied_parallel": 0.0,
                                          "dense_parallel": 0.6, "general": 0.3}))
    dense = {kind: [e for e in exs if kind in e["tags"]] for kind in ("paired", "crossed")}
    assert len(dense["paired"]) >= 5 and len(dense["crossed"]) >= 5, Counter(
        t for e in exs for t in e["tags"])
    for kind, group in dense.items():
        for e in group:
            cs = [c["arguments"] for c in calls(e)]
            assert len({c["name"] for c in calls(e)}) == 1 and e["scenario"] == "parallel"
            assert len({repr(sorted(c.items())) for c in cs}) == len(cs)
            varied = [k for k in cs[0] if len({repr(c[k]) for c in cs}) > 1]
            assert len(varied) == 2, (kind, cs)
            text, tool = user_text(e), next(t for t in e["tools"]
                                            if t["name"] == calls(e)[0]["name"])
            if kind == "paired":
                assert 2 <= len(cs) <= 3 and "respectively" in text, text
                for k in varied:  # each parameter's values in the order of the calls
                    at = 0
                    for c in cs:
                        forms = written_forms(k, c[k], tool)
                        hit = min((i for i in (text.find(f, at) for f in forms) if i >= 0),
                                  default=-1)
                        assert hit >= 0, (k, c[k], text)
                        at = hit + 1
            else:
                a, b = ({repr(c[k]) for c in cs} for k in varied)
                assert len(cs) == 4 and len(a) == len(b) == 2, cs  # every combination
                for c in cs:
                    for k in varied:
                        assert any(f in text for f in written_forms(k, c[k], tool)), (k, text)
    assert all(not [i for i in validate_example(e) if i.severity == "error"] for e in exs)


def test_hard_negatives_offer_tools_like_the_one_needed() -> None:
    tools = general_tools()
    by_name = {t["name"]: t for t in tools}
    circle = by_name["geometry.circle_area"]
    seen: Counter[str] = Counter()
    for seed in range(20):
        picked = similar_tools(circle, tools, 3, random.Random(seed))
        assert len(picked) == 3 and circle["name"] not in {t["name"] for t in picked}
        seen.update(t["name"] for t in picked)
    # its sibling (same domain, different computation) nearly always; unrelated tools never
    assert seen["geometry.triangle_area"] >= 10, seen
    assert not {n for n in seen if n.startswith(("home.", "sports.", "flights."))}, seen


def test_recipe_overrides_and_tool_sources(tmp_path: Any) -> None:
    recipe: dict[str, Any] = {"training": {"lora_r": 16}, "data": {"shape": {}, "n": 10}}
    apply_override(recipe, *parse_override("training.lora_r=32"))
    apply_override(recipe, *parse_override("data.shape.general=0.5"))
    apply_override(recipe, *parse_override("training.new_key=text"))
    assert recipe["training"] == {"lora_r": 32, "new_key": "text"}
    assert recipe["data"]["shape"] == {"general": 0.5}
    with pytest.raises(StudioError, match="unknown recipe setting"):
        apply_override(recipe, "data.unknown", 1)
    with pytest.raises(StudioError, match="KEY=VALUE"):
        parse_override("training.lora_r")
    assert ToolSource.parse("sample").kind == "sample"
    catalog = tmp_path / "tools.json"
    catalog.write_text("[]")
    assert ToolSource.parse(str(catalog)) == ToolSource("file", path=str(catalog.resolve()))
    with pytest.raises(StudioError, match="No tool catalog"):
        ToolSource.parse(str(tmp_path / "missing.json"))
    mcp = ToolSource.parse("mcp:python -m server --flag")
    assert mcp.kind == "mcp" and mcp.argv == ["python", "-m", "server", "--flag"]
    opts = QuickStartOptions(tools=mcp, base="/models/base", overrides={"training.lora_r": 8})
    assert QuickStartOptions.from_dict(opts.to_dict()).overrides == {"training.lora_r": 8}


def test_the_cpu_recipe_trains_a_small_model_at_rank_64_on_its_upper_half() -> None:
    """On the CPU a small base gets LoRA rank 64 (alpha 128) on the upper half of its blocks
    (session 11: rank 16 held the fit back); a larger one keeps the preset's rank and every
    layer; `--set` still changes it."""
    from phi4studio.core.quickstart.recipe import make_recipe
    from phi4studio.core.training.models import LinearLayer, ModelInfo
    from phi4studio.core.training.presets import preset_values

    layers = [LinearLayer(f"model.layers.{i}.{part}", 64, 64) for i in range(4)
              for part in ("self_attn.q_proj", "mlp.up_proj")]
    small = ModelInfo("m", "folder", "m", n_params=135_000_000, linear=layers)
    big = ModelInfo("b", "folder", "b", n_params=3_800_000_000, linear=layers)
    training = make_recipe(QuickStartOptions(), small, gpu=False)["training"]
    assert (training["lora_r"], training["lora_alpha"]) == (64, 128)
    assert training["target_modules"] == [la.name for la in layers[4:]]
    preset = preset_values("recommended")
    larger = make_recipe(QuickStartOptions(), big, gpu=False)["training"]
    assert (larger["lora_r"], larger["lora_alpha"]) == (preset["lora_r"], preset["lora_alpha"])
    assert "target_modules" not in larger or larger["target_modules"] == preset.get(
        "target_modules")
    set16 = QuickStartOptions(overrides={"training.lora_r": 16, "training.lora_alpha": 32})
    assert make_recipe(set16, small, gpu=False)["training"]["lora_r"] == 16


def test_calls_first_drops_the_preamble_before_calls(examples: list[dict[str, Any]]) -> None:
    """With `preamble` 0 every turn that calls starts with its calls (the first token is the
    decision); the synthesizer's own examples keep some "One moment." preambles."""
    def call_turns(exs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for e in exs for m in e["messages"]
                if m["role"] == "assistant" and m.get("tool_calls")]

    assert any(m["content"] for m in call_turns(examples))  # SHAPE keeps the default 1.0
    first = list(quickstart_examples(sample_tools(), 120, seed=5, mix=QUICKSTART_MIX,
                                     shape={**SHAPE, "preamble": 0.0}))
    turns = call_turns(first)
    assert turns and not any(m["content"] for m in turns)
    assert any(m["role"] == "assistant" and not m.get("tool_calls") and m["content"]
               for e in first for m in e["messages"])  # text answers keep their text
    assert all(not [x for x in validate_example(e) if x.severity == "error"] for e in first)


def test_a_base_evaluation_is_reused_only_with_the_same_decoding() -> None:
    """The recipe's call control is part of what makes two evaluations the same; flows made
    before it (no such keys) compare as call control off."""
    from types import SimpleNamespace

    from phi4studio.core.quickstart.recipe import EVAL_DECODING
    from phi4studio.core.quickstart.steps_eval import _same_settings, decoding

    ev = {"guided": "grammar", "max_new_tokens": 192, **EVAL_DECODING}
    info = SimpleNamespace(guided="grammar")
    run = {"limit": 100, "max_new_tokens": 192, **EVAL_DECODING}
    assert _same_settings(info, run, 100, ev)
    assert not _same_settings(info, {**run, "call_threshold": None}, 100, ev)
    assert not _same_settings(info, {**run, "text_tokens": 32}, 100, ev)
    assert not _same_settings(info, {**run, "stop_repeats": False}, 100, ev)
    assert not _same_settings(info, {**run, "ask_missing": False}, 100, ev)
    assert not _same_settings(info, {**run, "more_threshold": None}, 100, ev)
    assert not _same_settings(info, {**run, "stated_optional": False}, 100, ev)
    assert not _same_settings(info, {**run, "tool_words": None}, 100, ev)
    assert not _same_settings(info, run, 50, ev)
    old = {"guided": "grammar", "max_new_tokens": 192}
    assert decoding(old) == {"call_threshold": None, "text_tokens": None, "stop_repeats": False,
                             "ask_missing": False, "more_threshold": None,
                             "stated_optional": False, "tool_words": None}
    assert _same_settings(info, {"limit": 100, "max_new_tokens": 192}, 100, old)


def test_training_threads_are_the_cores_other_processes_leave_free() -> None:
    """Resolved when the training starts, from what other processes use then: this process's
    own work (a command importing its libraries) does not count as a busy core."""
    import subprocess
    import sys
    import threading
    import time

    from phi4studio.core.cpu import busy_cores, free_cores

    assert free_cores(cores=2, busy=1.4) == 1  # the inference worker's threads
    assert free_cores(cores=2, busy=0.2) == 2
    assert free_cores(cores=2, busy=1.0) == 1
    assert free_cores(cores=4, busy=9.0) == 1  # never fewer than one
    assert free_cores(cores=8, busy=2.6) == 5

    stop = time.monotonic() + 1.5

    def spin() -> None:  # this process busy on one core
        while time.monotonic() < stop:
            pass

    t = threading.Thread(target=spin)
    t.start()
    own = busy_cores(0.8)
    t.join()
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.monotonic()\n"
                                "while time.monotonic() - t < 3: pass"])
    try:
        time.sleep(0.3)
        other = busy_cores(0.8)
    finally:
        spinner.kill()
        spinner.wait()
    assert own is not None and other is not None
    assert other >= 0.7, other  # another process on a core is seen
    assert other - own >= 0.4, (own, other)  # and this process's own spinning is left out


def test_natural_phrasing_states_values_before_their_name() -> None:
    """`natural`: an enum value or a count written before a one-word parameter name ("metric
    units", "3 days"), the way requests name options; the call holds the same value."""
    tools = {t["name"]: t for t in sample_tools()}
    weather, convert = tools["get_weather"], tools["convert_units"]
    assert natural_arg("units", "metric", weather) == "metric units"
    assert natural_arg("days", 3, weather) == "3 days"
    assert natural_arg("city", "Oslo", weather) is None  # not an enum: the value alone is vague
    assert natural_arg("from_unit", "km", convert) is None  # a two-word name does not fit
    shape = {**DEFAULT_SHAPE, "rephrase": 1.0}
    plain = list(quickstart_examples(sample_tools(), 150, seed=2, shape=shape))
    natural = list(quickstart_examples(sample_tools(), 150, seed=2,
                                       shape={**shape, "natural": 1.0}))

    def stated(exs: list[dict[str, Any]]) -> int:
        n = 0
        for e in exs:
            for c in calls(e):
                for k, v in c["arguments"].items():
                    form = natural_arg(k, v, tools[c["name"]])
                    n += bool(form and form in user_text(e))
        return n

    assert stated(plain) <= 2 < 10 <= stated(natural)
    assert all(not [i for i in validate_example(e) if i.severity == "error"] for e in natural)


def test_near_misses_and_calls_are_worded_alike() -> None:
    """`near_miss_rephrase`: near misses written in the plainer styles that rephrased calls
    use; `questions` with `questions_any`: questions for any tool ("Can you ...?"). Without
    them a question is much less often answered with a call than other wording is, and a
    model learns "a question: no call"."""
    def wording(shape: dict[str, float]) -> tuple[float, float, list[dict[str, Any]]]:
        exs = list(quickstart_examples(sample_tools(), 400, seed=0, mix=QUICKSTART_MIX,
                                       shape={**RECIPE_SHAPE, "general": 0.0, **shape}))
        asks = Counter((bool(calls(e)), user_text(e).rstrip().endswith("?")) for e in exs)
        p_call = [asks[(True, q)] / max(1, asks[(True, q)] + asks[(False, q)])
                  for q in (True, False)]  # P(call | question), P(call | other wording)
        return p_call[0], p_call[1], exs

    q_before, other_before, plain = wording({})
    q_after, other_after, balanced = wording({"near_miss_rephrase": 0.5, "questions": 0.7,
                                              "questions_any": 1.0})
    assert other_before - q_before > 0.12
    assert other_after - q_after < (other_before - q_before) / 2
    before = {e["id"]: user_text(e) for e in plain if "near_miss" in e["tags"]}
    after = {e["id"]: user_text(e) for e in balanced if "near_miss" in e["tags"]}
    assert sum(before[k] != after[k] for k in before) > len(before) // 3
    assert all(not [i for i in validate_example(e) if i.severity == "error"] for e in balanced)


def paired(shape: dict[str, float], seed: int
           ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """200 examples of the recipe with a pair shape on: exactly n, unique ids, all valid."""
    exs = list(quickstart_examples(sample_tools(), 200, seed=seed, mix=QUICKSTART_MIX,
                                   shape={**RECIPE_SHAPE, "general": 0.0, **shape}))
    assert len(exs) == 200 and len({e["id"] for e in exs}) == 200
    assert all(not [i for i in validate_example(e) if i.severity == "error"] for e in exs)
    return exs, {e["id"]: e for e in exs}


def test_missing_pairs_ask_for_the_value_the_twin_request_states() -> None:
    """`missing_pairs`: a request without one required value, answered by asking for it, next
    to the same request with the value, answered by the call; the same tools offered, the
    wording alike, and still exactly n examples. Off by default: the recipe's data of
    earlier flows stays the same."""
    exs, by_id = paired({"missing_pairs": 1.0}, seed=2)
    asks = [e for e in exs if "pair" in e["tags"] and not calls(e)]
    assert len(asks) >= 12
    for ask in asks:
        twin = by_id.get(ask["id"] + "-1")
        if twin is None:  # no later place of its scenario was left: it did not fit
            continue
        assert ask["scenario"] == "missing_info_or_error" and "missing_info" in ask["tags"]
        assert twin["tools"] == ask["tools"]
        (call,) = calls(twin)
        tool = next(t for t in twin["tools"] if t["name"] == call["name"])
        asked_for = [k for k in tool["inputSchema"]["required"]
                     if ph.label(k, tool) in ask["messages"][-1]["content"]]
        assert asked_for, ask["messages"][-1]["content"]
        value = ph.fmt_value(asked_for[0], call["arguments"][asked_for[0]])
        assert value in user_text(twin) and value not in user_text(ask)
        # worded alike: the twin's request is the asking one with the value added
        shared = set(user_text(ask).split()) & set(user_text(twin).split())
        assert len(shared) >= len(set(user_text(ask).split())) * 0.6
    plain = list(quickstart_examples(sample_tools(), 200, seed=2, mix=QUICKSTART_MIX,
                                     shape={**RECIPE_SHAPE, "general": 0.0}))
    assert not [e for e in plain if "pair" in e["tags"]]


def test_near_miss_pairs_call_when_the_needed_tool_is_offered_too() -> None:
    """`near_miss_pairs`: a near miss (declined: the tool its request needs is not offered)
    next to the same request with that tool offered too, answered by the call."""
    exs, by_id = paired({"near_miss_pairs": 1.0}, seed=4)
    declines = [e for e in exs if "near_miss" in e["tags"]]
    pairs = [(e, by_id[e["id"] + "-1"]) for e in declines if e["id"] + "-1" in by_id]
    assert len(pairs) >= len(declines) - 1 >= 20  # the last twin may not fit in n
    for decline, twin in pairs:
        assert not calls(decline) and "pair" in decline["tags"]
        (call,) = calls(twin)
        offered = {t["name"] for t in decline["tools"]}
        assert call["name"] not in offered
        assert {t["name"] for t in twin["tools"]} == offered | {call["name"]}
        assert user_text(twin) == user_text(decline)
        assert twin["messages"][:-1] == decline["messages"][:-1]
    # each twin took a later place of its scenario: the mix is the one without pairs
    plain = Counter(e["scenario"] for e in quickstart_examples(
        sample_tools(), 200, seed=4, mix=QUICKSTART_MIX, shape={**RECIPE_SHAPE, "general": 0.0}))
    mixed = Counter(e["scenario"] for e in exs)
    assert all(abs(mixed[k] - plain[k]) <= 2 for k in QUICKSTART_MIX), (plain, mixed)
