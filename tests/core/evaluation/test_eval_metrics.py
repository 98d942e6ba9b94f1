"""Metrics against hand-computed cases: a parallel turn, a multi-turn conversation, irrelevance
and error recovery, then the sums over cases, per category and per tool."""

from __future__ import annotations

from typing import Any

import pytest

from phi4studio.core.evaluation import metrics
from phi4studio.core.evaluation.scoring import is_error_result, schema_valid, score_turn

WEATHER = {"name": "weather", "inputSchema": {"type": "object", "properties": {
    "city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}
EMAIL = {"name": "email", "inputSchema": {"type": "object", "properties": {
    "to": {"type": "string"}, "body": {"type": "string"}}, "required": ["to", "body"],
    "additionalProperties": False}}
TOOLS = [WEATHER, EMAIL]


def c(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "arguments": args}


def test_parallel_turn_hand_computed() -> None:
    # expected: weather(Oslo, 3), weather(Rome), email(bob, hi)
    expected = [{"weather": {"city": ["Oslo"], "days": [3]}},
                {"weather": {"city": ["Rome"], "days": [""]}},
                {"email": {"to": ["bob"], "body": ["hi"]}}]
    # predicted: email right, weather Rome right, weather Oslo with days wrong
    calls = [c("email", to="bob", body="hi"), c("weather", city="rome"),
             c("weather", city="Oslo", days=4)]
    s = score_turn(TOOLS, calls, [], expected)
    k = s["counts"]
    assert not s["correct"]
    assert (k["calls_checked"], k["calls_correct"]) == (3, 2)  # tool correctness 2/3
    # required parameters: Oslo call city+days (2), Rome call city (1), email to+body (2) = 5;
    # right: all but Oslo's days = 4
    assert (k["params_expected"], k["params_correct"]) == (5, 4)
    assert (k["selections"], k["selections_right"]) == (3, 3)  # every tool was chosen
    assert (k["calls"], k["calls_schema_valid"]) == (3, 3)
    assert (k["outputs"], k["outputs_json_valid"]) == (1, 1)
    assert s["tools"] == {"weather": [2, 1], "email": [1, 1]}


def test_wrong_tool_and_invalid_arguments() -> None:
    expected = [{"weather": {"city": ["Oslo"]}}]
    calls = [c("email", to="Oslo", extra=1)]
    s = score_turn(TOOLS, calls, ["trailing text after the JSON"], expected)
    k = s["counts"]
    assert (k["selections"], k["selections_right"]) == (1, 0)
    assert (k["params_expected"], k["params_correct"]) == (1, 0)
    assert (k["calls"], k["calls_schema_valid"]) == (1, 0)  # no body, extra property
    assert k["outputs_json_valid"] == 0


def test_irrelevance_and_recovery_turns() -> None:
    s = score_turn(TOOLS, [], [], [], recovery=True)
    k = s["counts"]
    assert s["correct"]
    assert (k["irrelevant_turns"], k["irrelevant_silent"]) == (1, 1)
    assert (k["recovery_turns"], k["recovery_correct"]) == (1, 1)
    s = score_turn(TOOLS, [c("weather", city="x")], [], [])
    assert (s["counts"]["irrelevant_turns"], s["counts"]["irrelevant_silent"]) == (1, 0)
    assert is_error_result('{"error": "city not found"}')
    assert is_error_result("Error: timeout")
    assert not is_error_result('{"temp": 3}')


def test_schema_validity_unknown_tool() -> None:
    assert not schema_valid(TOOLS, c("nope"))
    assert schema_valid(TOOLS, c("weather", city="Oslo", days=2))
    assert not schema_valid(TOOLS, c("weather", city="Oslo", days="2"))


def test_an_unreadable_call_is_no_call_for_bfcl_and_wrong_on_the_studio_splits() -> None:
    errors = ["tool call is not valid JSON: Expecting value: line 1 column 1"]
    bfcl = score_turn(TOOLS, [], errors, [])  # BFCL's rule: it does not decode, so no call
    assert bfcl["correct"] and bfcl["counts"]["irrelevant_silent"] == 1
    studio = score_turn(TOOLS, [], errors, [], recovery=True, unreadable=True)
    assert not studio["correct"]
    assert studio["error_type"] == "unreadable_call" and "Expecting value" in studio["error"]
    k = studio["counts"]
    assert (k["irrelevant_turns"], k["irrelevant_silent"]) == (1, 0)
    assert (k["recovery_turns"], k["recovery_correct"]) == (1, 0)
    assert (k["outputs"], k["outputs_json_valid"]) == (1, 0)
    # where a call was expected the turn was wrong already; the checker's reason is kept
    missed = score_turn(TOOLS, [], errors, [{"weather": {"city": ["Oslo"]}}], unreadable=True)
    assert not missed["correct"] and missed["error_type"] == "wrong_count"


def result(rid: str, category: str, ok: bool, counts: dict[str, int], *, multi: bool = False,
           tools: dict[str, list[int]] | None = None) -> dict[str, Any]:
    return {"id": rid, "category": category, "scenario": category, "suite": "s", "ok": ok,
            "counts": counts, "multi_turn": multi, "tools": tools or {}, "called": []}


def test_aggregate_hand_computed() -> None:
    # a two-turn conversation: turn 1 right (1 call, 2 params), turn 2 wrong (1 of 2 calls)
    mt = result("a", "multi_turn", False, {
        "turns": 2, "turns_correct": 1, "outputs": 2, "outputs_json_valid": 2, "calls": 3,
        "calls_schema_valid": 3, "calls_checked": 3, "calls_correct": 2, "params_expected": 4,
        "params_correct": 3, "selections": 3, "selections_right": 3}, multi=True,
        tools={"weather": [2, 2], "email": [1, 0]})
    single = result("b", "single", True, {
        "turns": 1, "turns_correct": 1, "outputs": 1, "outputs_json_valid": 1, "calls": 1,
        "calls_schema_valid": 1, "calls_checked": 1, "calls_correct": 1, "params_expected": 1,
        "params_correct": 1, "selections": 1, "selections_right": 1},
        tools={"weather": [1, 1]})
    irr = result("c", "irrelevance", False, {
        "turns": 1, "outputs": 1, "outputs_json_valid": 0, "calls": 1, "calls_checked": 1,
        "irrelevant_turns": 1})
    s = metrics.summarize([mt, single, irr])
    o = s["overall"]
    assert o["accuracy"] == {"value": pytest.approx(1 / 3), "num": 1, "den": 3}
    assert o["multi_turn_success"]["value"] == 0.0 and o["multi_turn_success"]["den"] == 1
    assert o["tool_correctness"]["value"] == pytest.approx(3 / 5)
    assert o["parameter_accuracy"]["value"] == pytest.approx(4 / 5)
    assert o["tool_selection"]["value"] == pytest.approx(4 / 4)
    assert o["json_validity"]["value"] == pytest.approx(3 / 4)
    assert o["schema_validity"]["value"] == pytest.approx(4 / 5)
    assert o["irrelevance_detection"] == {"value": 0.0, "num": 0, "den": 1}
    assert o["error_recovery"]["value"] is None
    assert o["turn_accuracy"]["value"] == pytest.approx(2 / 4)
    assert set(s["by_category"]) == {"irrelevance", "multi_turn", "single"}
    assert s["by_category"]["single"]["accuracy"]["value"] == 1.0
    assert s["by_tool"]["weather"] == {"expected": 3, "correct": 3, "called": 0,
                                       "accuracy": {"value": 1.0, "num": 3, "den": 3}}
    assert s["by_tool"]["email"]["accuracy"]["value"] == 0.0
    assert metrics.headline(s)["accuracy"] == pytest.approx(1 / 3)
    assert metrics.fmt_ratio(o["tool_correctness"]) == "60.0%"


def test_tooltalk_totals() -> None:
    t = metrics.tooltalk_totals([
        {"predictions": 2, "ground_truths": 2, "matches": 2, "actions": 1, "valid_actions": 1,
         "bad_actions": 0, "success": True, "soft_success": 1.0},
        {"predictions": 3, "ground_truths": 2, "matches": 1, "actions": 2, "valid_actions": 0,
         "bad_actions": 1, "success": False, "soft_success": 0.25}])
    assert t["success_rate"] == 0.5
    assert t["precision"] == pytest.approx(3 / 5)
    assert t["recall"] == pytest.approx(3 / 4)
    assert t["action_precision"] == pytest.approx(1 / 3)
    assert t["bad_action_rate"] == pytest.approx(1 / 3)
