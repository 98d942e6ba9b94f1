"""The AST checker's rules on hand-made cases (parity with BFCL's own checker is in
test_eval_checker_parity.py)."""

from __future__ import annotations

from typing import Any

from phi4studio.core.evaluation.checker import (
    bfcl_type,
    check_call,
    check_turn,
    expected_from_call,
    first_answer,
    required_params,
    standardize_string,
)

AREA = {"name": "area", "inputSchema": {"type": "object", "properties": {
    "base": {"type": "integer"}, "height": {"type": "number"}, "unit": {"type": "string"},
    "dims": {"type": "array", "items": {"type": "integer"}},
    "opts": {"type": "object"}, "tag": {}}, "required": ["base", "height"]}}
EXP = {"area": {"base": [10], "height": [5.0], "unit": ["units", ""], "dims": [[1, 2], ""],
                "opts": [{"a": [1], "b": ["x", ""]}, ""], "tag": ["", "hi"]}}


def call(**args: Any) -> dict[str, Any]:
    return {"name": "area", "arguments": args}


def test_types_from_json_schema() -> None:
    assert [bfcl_type(p) for p in AREA["inputSchema"]["properties"].values()] == [
        "integer", "float", "string", "array", "dict", "any"]
    assert bfcl_type({"type": ["string", "null"]}) == "string"


def test_int_is_accepted_for_a_float_but_not_a_float_for_an_int() -> None:
    assert check_call(AREA, call(base=10, height=5), EXP).valid
    v = check_call(AREA, call(base=10.0, height=5), EXP)
    assert not v.valid and v.error_type == "type_error:simple"


def test_bool_is_not_an_int() -> None:
    exp = {"f": {"n": [1]}}
    tool = {"name": "f",
            "inputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}}}
    assert not check_call(tool, {"name": "f", "arguments": {"n": True}}, exp).valid


def test_optional_parameters_and_acceptable_values() -> None:
    assert check_call(AREA, call(base=10, height=5, unit="units"), EXP).valid
    assert not check_call(AREA, call(base=10, height=5, unit="cm"), EXP).valid
    v = check_call(AREA, call(base=10), EXP)
    assert v.error_type == "simple_function_checker:missing_required"
    v = check_call(AREA, call(base=10, height=5, color="red"), EXP)
    assert v.error_type == "simple_function_checker:unexpected_param"
    exp = {"area": {"base": [10], "height": [5.0], "unit": ["units"]}}  # unit not optional here
    v = check_call(AREA, call(base=10, height=5), exp)
    assert v.error_type == "simple_function_checker:missing_optional"


def test_strings_are_normalised() -> None:
    assert standardize_string("April 1, 2024") == standardize_string("april 1,2024")
    assert check_call(AREA, call(base=10, height=5, unit=" U-N.I_T*S^"), EXP).valid
    assert standardize_string("it's") == 'it"s'


def test_lists_dicts_and_any() -> None:
    assert check_call(AREA, call(base=10, height=5, dims=[1, 2]), EXP).valid
    assert not check_call(AREA, call(base=10, height=5, dims=[2, 1]), EXP).valid
    assert not check_call(AREA, call(base=10, height=5, dims=[1, "2"]), EXP).valid
    assert check_call(AREA, call(base=10, height=5, opts={"a": 1}), EXP).valid
    assert check_call(AREA, call(base=10, height=5, opts={"a": 1, "b": "X"}), EXP).valid
    assert not check_call(AREA, call(base=10, height=5, opts={"a": 2}), EXP).valid
    assert not check_call(AREA, call(base=10, height=5, opts={"c": 1, "a": 1}), EXP).valid
    # BFCL's "any" is checked as a string
    assert check_call(AREA, call(base=10, height=5, tag="HI"), EXP).valid
    assert not check_call(AREA, call(base=10, height=5, tag=3), EXP).valid


def test_a_variable_of_the_answers_type_is_accepted_on_its_value() -> None:
    # the acceptable values are strings although the parameter is an integer: BFCL reads the
    # string as a variable name and compares the value as it is
    exp = {"area": {"base": ["n"], "height": [5.0]}}
    assert check_call(AREA, call(base="n", height=5), exp).valid
    assert not check_call(AREA, call(base="m", height=5), exp).valid


def test_parallel_calls_match_in_any_order_one_to_one() -> None:
    tools = [AREA]
    exp = [{"area": {"base": [1], "height": [1.0]}}, {"area": {"base": [2], "height": [2.0]}}]
    a, b = call(base=1, height=1), call(base=2, height=2)
    assert check_turn(tools, [b, a], exp).valid
    assert check_turn(tools, [b, a], exp).matches == [(1, 0), (0, 1)]
    r = check_turn(tools, [a, a], exp)
    assert not r.valid and r.matches == [(0, 0)]
    r = check_turn(tools, [a], exp)
    assert not r.valid and r.error_type == "wrong_count"
    assert not check_turn(tools, [a, b, b], exp).valid


def test_no_call_expected() -> None:
    assert check_turn([AREA], [], []).valid
    r = check_turn([AREA], [call(base=1, height=1)], [])
    assert not r.valid and r.error_type == "irrelevance:called"


def test_wrong_function_name() -> None:
    r = check_turn([AREA], [{"name": "volume", "arguments": {}}], [EXP])
    assert not r.valid and r.error_type == "cannot_find_match"


def test_first_answer_and_required_params() -> None:
    assert first_answer(EXP) == call(base=10, height=5.0, unit="units", dims=[1, 2],
                                     opts={"a": 1, "b": "x"})
    assert required_params(EXP) == ["base", "height"]
    # "" first but the tool requires the parameter: its next value
    exp = {"area": {"base": ["", 3], "height": [1.0]}}
    assert first_answer(exp, AREA)["arguments"] == {"base": 3, "height": 1.0}
    # a parameter the tool does not declare, "" allowed: left out
    exp = {"area": {"base": [3], "height": [1.0], "ghost": ["x", ""]}}
    assert first_answer(exp, AREA)["arguments"] == {"base": 3, "height": 1.0}


def test_reference_calls_become_possible_answers() -> None:
    tool = {"name": "w", "inputSchema": {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"type": "string", "default": "c"},
        "days": {"type": "integer"}}, "required": ["city"]}}
    exp = expected_from_call({"name": "w", "arguments": {"city": "Oslo"}}, tool)
    assert exp == {"w": {"city": ["Oslo"], "unit": ["", "c"], "days": [""]}}
    ok = {"name": "w", "arguments": {"city": "oslo", "unit": "c"}}
    assert check_call(tool, ok, exp).valid
    assert not check_call(tool, {"name": "w", "arguments": {"city": "Oslo", "days": 2}},
                          exp).valid


def test_reference_calls_with_objects_become_bfcl_dict_answers() -> None:
    """A dataset call holding an object (`reminder`) or a list of objects: BFCL's dict checker
    reads each key's acceptable values as a list. Written as the bare object, every check of
    such a call raised TypeError and the case was lost."""
    tool = {"name": "event", "inputSchema": {"type": "object", "properties": {
        "title": {"type": "string"},
        "reminder": {"type": "object", "properties": {
            "minutes_before": {"type": "integer"},
            "method": {"type": "string", "default": "popup"}}, "required": ["minutes_before"]},
        "stops": {"type": "array", "items": {"type": "object", "properties": {
            "city": {"type": "string"}, "meta": {"type": "object"}}}}},
        "required": ["title"]}}
    ref = {"name": "event", "arguments": {"title": "Gym", "reminder": {"minutes_before": 15},
                                          "stops": [{"city": "Oslo", "meta": {"a": 1}}]}}
    exp = expected_from_call(ref, tool)
    assert exp["event"]["reminder"] == [{"minutes_before": [15], "method": ["", "popup"]}]
    assert exp["event"]["stops"] == [[{"city": ["Oslo"], "meta": [{"a": 1}]}]]
    assert check_call(tool, ref, exp).valid
    with_default = {"name": "event", "arguments": {
        "title": "Gym", "reminder": {"minutes_before": 15, "method": "popup"},
        "stops": [{"city": "oslo", "meta": {"a": 1}}]}}
    assert check_call(tool, with_default, exp).valid
    for wrong in ({"minutes_before": 5}, {"minutes_before": 15, "method": "email"}, {}):
        bad = {"name": "event", "arguments": {**ref["arguments"], "reminder": wrong}}
        verdict = check_call(tool, bad, exp)
        assert not verdict.valid and verdict.error_type.startswith("value_error:dict")
    other_stop = {"name": "event", "arguments": {**ref["arguments"],
                                                  "stops": [{"city": "Rome", "meta": {"a": 1}}]}}
    assert not check_call(tool, other_stop, exp).valid
