"""Repeated array items where the schema wants them unique (core.inference.unique)."""

from __future__ import annotations

import jsonschema

from phi4studio.core.inference.unique import drop_repeated_items

EMAIL = {"name": "send_email", "inputSchema": {
    "type": "object", "required": ["to"],
    "properties": {
        "to": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "tags": {"type": "array", "items": {"type": "string"}},  # repeats allowed
        "meeting": {"type": "object", "properties": {
            "attendees": {"type": "array", "uniqueItems": True,
                          "items": {"type": "object"}}}},
    }}}


def test_repeats_are_dropped_only_where_the_schema_wants_unique_items() -> None:
    call = {"name": "send_email", "arguments": {
        "to": ["ana@x.org", "bo@x.org", "ana@x.org", "ana@x.org"],
        "tags": ["a", "a"],
        "meeting": {"attendees": [{"n": 1, "m": 2}, {"m": 2, "n": 1}, {"n": 3}]}}}
    before = jsonschema.Draft202012Validator(EMAIL["inputSchema"])
    assert not before.is_valid(call["arguments"])
    calls, dropped = drop_repeated_items([call], [EMAIL])
    args = calls[0]["arguments"]
    assert args["to"] == ["ana@x.org", "bo@x.org"]  # the first of each, in order
    assert args["tags"] == ["a", "a"]
    assert args["meeting"]["attendees"] == [{"n": 1, "m": 2}, {"n": 3}]  # key order aside
    assert dropped == ["send_email.to[2]", "send_email.to[3]",
                       "send_email.meeting.attendees[1]"]
    assert before.is_valid(args)
    assert call["arguments"]["to"][2] == "ana@x.org"  # the input is untouched


def test_calls_without_repeats_or_of_unknown_tools_are_left_alone() -> None:
    calls = [{"name": "send_email", "arguments": {"to": ["a@x.org", "b@x.org"]}},
             {"name": "other", "arguments": {"to": [1, 1]}},
             {"name": "send_email", "arguments": "not an object"}]
    out, dropped = drop_repeated_items(calls, [EMAIL])
    assert out == calls and dropped == []
