"""Optional values the request states (core/inference/stated.py): which parameters are offered
again after a call, the continuation's grammar and reading, and the strict rule that keeps a
value only where the conversation states it."""

from __future__ import annotations

import json
from typing import Any

from phi4studio.core.inference.grounding import Said
from phi4studio.core.inference.stated import (
    arguments_end,
    continuation_grammar,
    flag_stated,
    plan,
    read_continuation,
    stated,
)

ROUTE = {"name": "fastest_route", "description": "The fastest route between two places.",
         "inputSchema": {"type": "object", "properties": {
             "start": {"type": "string"}, "end": {"type": "string"},
             "avoid_tolls": {"type": "boolean"},
             "mode": {"type": "string", "enum": ["car", "bike", "train"]},
             "stops": {"type": "integer"}, "note": {"type": "string"},
             "extras": {"type": "object"}},
             "required": ["start", "end"]}}


def test_plan_offers_what_the_request_may_state() -> None:
    call = {"name": "fastest_route", "arguments": {"start": "Rome", "end": "Oslo"}}
    p = plan(call, ROUTE, Said("The fastest route from Rome to Oslo with toll roads avoided."))
    assert p.flags == {"avoid_tolls": True}
    # no mode named, no number at all: only the free string; never an object
    assert [k for k, _ in p.ask] == ["note"]
    p = plan(call, ROUTE, Said("From Rome to Oslo by train, 2 stops, please"))
    assert p.flags == {} and [k for k, _ in p.ask] == ["mode", "stops", "note"]
    # a number the call already uses is no candidate for another parameter
    area = {"name": "area", "inputSchema": {"type": "object", "required": ["side"],
                                            "properties": {"side": {"type": "number"},
                                                           "scale": {"type": "number"}}}}
    square = {"name": "area", "arguments": {"side": 4}}
    assert plan(square, area, Said("The area of a square of side 4")).ask == []
    assert [k for k, _ in plan(square, area, Said("The area of a square of side 4 at 1:100")).ask] \
        == ["scale"]
    assert plan(call, None, Said("anything")).ask == []


def test_a_flag_is_stated_by_every_word_of_its_name_and_no_negation() -> None:
    assert flag_stated("include_human_impact", "Forecast for 5 years including human impact.")
    assert flag_stated("avoid_tolls", "Fastest route with toll roads avoided")
    assert flag_stated("detailed", "Find me detailed information about the cell")
    assert not flag_stated("include_human_impact", "Forecast for 5 years without human impact")
    assert not flag_stated("avoid_tolls", "I don't want to avoid tolls")
    assert not flag_stated("avoid_tolls", "Fastest route from A to B")
    assert not flag_stated("include", "include it")  # no word of its own: never decided


def test_stated_is_strict() -> None:
    said = Said("Average temperature in Austin for the next 3 days in Celsius, using the "
                 "Darwin model; World of Warcraft players on 12 servers.")
    args: dict[str, Any] = {"location": "Austin", "days": 3, "game": "World of Warcraft"}
    assert stated("unit", "Celsius", args, said)
    assert stated("model", "darwin", args, said)
    assert not stated("unit", "Fahrenheit", args, said)  # not in the conversation
    assert not stated("platform", "Warcraft", args, said)  # part of another argument's value
    assert not stated("city", "Austin", args, said)  # another argument's value
    assert stated("servers", 12, args, said)
    assert not stated("count", 3, args, said)  # the number is the days'
    assert not stated("count", 9.81, args, said)  # a default the request does not give
    assert not stated("unit", "unit", args, said)  # a placeholder
    assert not stated("unit", "", args, said)
    assert stated("tags", ["Austin", "Celsius"], {}, said)
    assert not stated("tags", ["Austin", "Paris"], {}, said)
    mail = Said("Invite ana@example.org to the review at https://example.org/r. Room B.")
    assert not stated("location", "example.org", {}, mail)  # part of an address
    assert not stated("location", "ana", {"attendees": ["ana@example.org"]}, mail)
    assert stated("room", "B", {}, mail) and stated("what", "review", {}, mail)
    assert not stated("flag", True, args, said) and not stated("obj", {"a": 1}, args, said)


def test_arguments_end_finds_the_call_as_written() -> None:
    one = {"city": "Rome", "q": {"x": "}"}}
    two = {"city": "Oslo"}
    raw = ("<tool_call>" + json.dumps({"name": "w", "arguments": one}) + "</tool_call>\n"
           "<tool_call>" + json.dumps({"name": "w", "arguments": two}) + "</tool_call>")
    end = arguments_end(raw, one)
    assert end is not None and json.loads(raw[raw.index('"arguments": ') + 13:end + 1]) == one
    end2 = arguments_end(raw, two, end)
    assert end2 is not None and raw[end2] == "}" and raw[:end2 + 1].endswith('{"city": "Oslo"}')
    assert arguments_end(raw, {"city": "Paris"}) is None
    assert arguments_end('{"name": "w", "arguments": {"a": "unterminated', {"a": 1}) is None


def test_continuation_grammar_and_reading() -> None:
    ask = [("mode", {"type": "string", "enum": ["car", "train"]}), ("stops", {"type": "integer"})]
    g = continuation_grammar(ask, first=False)
    assert g.startswith('start: ", \\"mode\\": " v0 ", \\"stops\\": " v1\n')
    assert '"enum": ["car", "train"]' in g and "whitespace_flexible" in g
    assert continuation_grammar(ask, first=True).startswith('start: "\\"mode\\": " v0')
    assert read_continuation(', "mode": "train", "stops": 2', ask, False) == {
        "mode": "train", "stops": 2}
    # the budget cut the second value: the first is kept
    assert read_continuation(', "mode": "train", "stops": ', ask, False) == {"mode": "train"}
    assert read_continuation('"mode": "car"', ask, True) == {"mode": "car"}
    assert read_continuation("garbage", ask, False) == {}
