"""Whole numbers at a schema's `number` places read as floats (core/inference/floats.py), as
a Python tool and BFCL's checker (strict inside arrays) expect."""

from __future__ import annotations

from phi4studio.core.evaluation.checker import check_turn
from phi4studio.core.inference.floats import as_schema_floats

AREA = {"name": "area", "description": "Area under a curve.", "inputSchema": {
    "type": "object", "required": ["function", "interval"], "properties": {
        "function": {"type": "string"},
        "interval": {"type": "array", "items": {"type": "number"}},
        "steps": {"type": "integer"},
        "scale": {"type": ["number", "null"]},
        "weights": {"type": "object", "additionalProperties": {"type": "number"}},
        "points": {"type": "array", "items": {"type": "object", "properties": {
            "x": {"type": "number"}, "label": {"type": "string"}}}},
        "loose": {}}}}


def test_whole_numbers_at_number_places_become_floats_and_nothing_else_changes() -> None:
    call = {"name": "area", "arguments": {
        "function": "x**2", "interval": [1, 3.5], "steps": 10, "scale": 2,
        "weights": {"a": 1, "b": 0.5}, "points": [{"x": 4, "label": "4"}], "loose": 7}}
    [out] = as_schema_floats([call], [AREA])
    args = out["arguments"]
    assert args == {"function": "x**2", "interval": [1.0, 3.5], "steps": 10, "scale": 2.0,
                    "weights": {"a": 1.0, "b": 0.5}, "points": [{"x": 4.0, "label": "4"}],
                    "loose": 7}
    assert [type(v) for v in args["interval"]] == [float, float]
    assert type(args["steps"]) is int and type(args["loose"]) is int  # integer, untyped
    assert type(args["points"][0]["x"]) is float and args["points"][0]["label"] == "4"
    assert call["arguments"]["interval"] == [1, 3.5] and type(call["arguments"]["scale"]) is int
    # booleans are not numbers; unknown tools, arguments that are not objects, and numbers a
    # float cannot hold exactly are left as they are
    big = 2 ** 60
    [kept] = as_schema_floats([{"name": "area", "arguments": {"interval": [True, big]}}], [AREA])
    interval = kept["arguments"]["interval"]
    assert interval == [True, big] and type(interval[1]) is int
    other = {"name": "nope", "arguments": {"interval": [1]}}
    assert as_schema_floats([other, {"name": "area", "arguments": "[1]"}], [AREA]) == [
        other, {"name": "area", "arguments": "[1]"}]


def test_an_int_list_fails_bfcl_s_float_list_until_read_as_floats() -> None:
    """BFCL's rule: an int passes for a float at the top level, not inside an array."""
    bfcl_tool = {"name": "area", "parameters": {"type": "object", "required": ["interval"],
                                                "properties": {"interval": {
                                                    "type": "array",
                                                    "items": {"type": "number"}}}}}
    expected = [{"area": {"interval": [[1.0, 3.0]]}}]
    wrote = [{"name": "area", "arguments": {"interval": [1, 3]}}]
    before = check_turn([bfcl_tool], wrote, expected)
    assert not before.valid and before.error_type == "type_error:nested"
    assert check_turn([bfcl_tool], as_schema_floats(wrote, [bfcl_tool]), expected).valid
