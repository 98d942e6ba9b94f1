"""Grounded arguments (core/inference/grounding.py): a required value the conversation does not
state is found; values the request words differently still pass."""

from __future__ import annotations

from typing import Any

from phi4studio.core.inference.grounding import (
    Said,
    ask_text,
    conversation_text,
    numbers_as_stated,
    ungrounded,
    ungrounded_calls,
)

WRITE = {"name": "write_file", "description": "Write text to a file in the user's workspace.",
         "inputSchema": {"type": "object", "properties": {
             "path": {"type": "string", "description": "Absolute path of the file"},
             "content": {"type": "string"},
             "mode": {"type": "string", "enum": ["overwrite", "append"]}},
             "required": ["path", "content", "mode"]}}
WEATHER = {"name": "get_weather", "description": "Current weather for a city.",
           "inputSchema": {"type": "object", "properties": {
               "city": {"type": "string"}, "days": {"type": "integer"},
               "units": {"type": "string"}}, "required": ["city"]}}
PHYSICS = {"name": "potential", "description": "Electrostatic potential.",
           "inputSchema": {"type": "object", "properties": {
               "charge": {"type": "number"}, "distance": {"type": "number"},
               "rate": {"type": "number"}, "years": {"type": "integer"},
               "tags": {"type": "array", "items": {"type": "string"}}},
               "required": ["charge", "distance", "rate", "years", "tags"]}}


def call(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "arguments": args}


def test_made_up_values_are_found() -> None:
    said = "Write text to a file in my workspace: 'TODO: rotate the keys'."
    made_up = call("write_file", path="/home/user/workspace/file.txt",
                   content="TODO: rotate the keys", mode="overwrite")
    # the path's words are the tool's own ("file", "workspace", "user") or not said ("home")
    assert ungrounded(made_up, WRITE, said) == ["path"]
    assert ungrounded(call("get_weather", city="Lisbon"), WEATHER,
                      "Get the current weather for a city.") == ["city"]
    assert ungrounded(call("get_weather", city="Lisbon", days=3), WEATHER,
                      "Weather for a city, 3 days.") == ["city"]  # optional days not checked


def test_placeholders_are_never_stated() -> None:
    cell = {"name": "get_cell_function", "inputSchema": {"type": "object", "properties": {
        "cell_part": {"type": "string"}, "level": {"type": "string", "enum": ["level", "basic"]},
        "note": {"type": "string"}}, "required": ["cell_part", "level"]}}
    said = "Identify the number of the mitochondria in a cell part."
    # the argument's name as its value, though both its words are in the request
    assert ungrounded(call("get_cell_function", cell_part="cell_part", level="basic"),
                      cell, said) == ["cell_part"]
    assert ungrounded(call("get_cell_function", cell_part="Cell part", level="basic"),
                      cell, said) == ["cell_part"]
    assert ungrounded(call("get_cell_function", cell_part=" ", level="basic"),
                      cell, said) == ["cell_part"]
    # an enum may hold its own name; optional arguments are not checked
    assert ungrounded(call("get_cell_function", cell_part="mitochondria", level="level",
                           note=""), cell, said) == []


def test_values_worded_differently_pass() -> None:
    assert ungrounded(call("get_weather", city="New York, NY"), WEATHER,
                      "What's the weather in New York?") == []
    assert ungrounded(call("write_file", path="/home/ana/notes.md", content="hi",
                           mode="append"), WRITE, "Add 'hi' to notes.md please") == []
    numbers = call("potential", charge=1e-9, distance=200000, rate=0.1, years=5,
                   tags=["x-ray", "unrelated"])
    said = "A charge of 1e-9 at 200,000 m, a 10% rate, for five years; tag it x-ray."
    assert ungrounded(numbers, PHYSICS, said) == []
    assert ungrounded(numbers, PHYSICS, "A charge of 2e-9 at 100 m, 7% for six years.") == [
        "charge", "distance", "rate", "years", "tags"]


def test_tool_results_count_and_unknown_tools_are_left_alone() -> None:
    messages = [{"role": "system", "content": "Lisbon is nice."},
                {"role": "user", "content": "Where am I? Then get the weather there."},
                {"role": "tool", "content": '{"city": "Porto"}'}]
    text = conversation_text(messages)
    assert "Lisbon" not in text  # the system turn is not the user's
    assert ungrounded_calls([call("get_weather", city="Porto"),
                             call("get_weather", city="Lisbon"),
                             call("nope", city="Lisbon")], [WEATHER], text) == [
        ("get_weather", ["city"])]
    assert ungrounded(call("get_weather", city="-"), WEATHER, text) == []  # nothing to look for
    assert ungrounded(call("get_weather", city=""), WEATHER, text) == ["city"]  # a placeholder


def test_the_question_names_what_is_missing() -> None:
    assert ask_text([("write_file", ["path"])]) == "Which path should I use for write_file?"
    assert ask_text([("send_email", ["to", "subject_line"])]) == (
        "Which to and subject line should I use for send_email?")


def test_a_value_stated_under_another_name_is_grounded() -> None:
    from phi4studio.core.inference.aliases import stated_as_alias

    country = {"name": "projection", "inputSchema": {"type": "object", "properties": {
        "country": {"type": "string"}, "currency": {"type": "string"},
        "city": {"type": "string"}}, "required": ["country", "currency", "city"]}}
    said = "Project the growth in the United States, in euros, for Austin Texas."
    assert ungrounded(call("projection", country="USA", currency="EUR", city="Austin, TX"),
                      country, said) == []
    # the other way round, and whole names for codes
    assert stated_as_alias("United States", "Figures for the USA please")
    assert stated_as_alias("New York", "hotels in NYC")
    # a two-letter code counts in capitals only: the word "in" does not state India
    assert not stated_as_alias("India", "flights in the morning")
    assert stated_as_alias("India", "flights to IN")
    # a value with no alias said, and one whose aliases are not in the text, stay ungrounded
    assert ungrounded(call("projection", country="France", currency="USD", city="Lyon"),
                      country, said) == ["country", "currency", "city"]


def test_a_value_copied_from_the_tool_definition_is_not_stated() -> None:
    weather = {"name": "get_weather", "description": "Weather for a city.",
               "inputSchema": {"type": "object", "properties": {
                   "city": {"type": "string", "description": "City name, e.g. Lisbon"},
                   "expression": {"type": "string", "examples": ["(2 + 3) * 4"]}},
                   "required": ["city", "expression"]}}
    # a length conversion answered with the definition's own example city and expression
    said = "Convert a length between units: 419.1 ft to km."
    assert ungrounded(call("get_weather", city="Lisbon", expression="(2 + 3) * 4"), weather,
                      said) == ["city", "expression"]
    # said in the request, the same values are stated
    assert ungrounded(call("get_weather", city="Lisbon", expression="(2 + 3) * 4"), weather,
                      "Weather in Lisbon, and (2 + 3) * 4 please") == []


def test_a_scale_written_after_a_number_states_the_product() -> None:
    said = Said("A budget of 5 million, 2.5 billion in reserve and 10k users, 3 thousand times.")
    for x in (5e6, 2.5e9, 1e4, 3000.0, 5.0, 10.0):
        assert said.number(x), x
    assert not said.number(5e9)
    assert ungrounded(call("get_weather", city="x", days=5000000), WEATHER,
                      "x for 5 million days") == []


def test_required_numbers_are_held_to_the_stated_ones_for_guidance() -> None:
    """Each required number or integer parameter gets an enum of the conversation's numbers
    that fit its type and bounds; strings, optional parameters, enums and the tool itself are
    left alone, and a parameter no stated number fits keeps its schema."""
    bounded = {"name": "loan", "parameters": {"type": "object", "required": [
        "amount", "rate", "term", "kind", "fee"], "properties": {
        "amount": {"type": "integer"}, "rate": {"type": "number", "minimum": 0, "maximum": 1},
        "term": {"type": "integer", "exclusiveMinimum": 10}, "kind": {"type": "string"},
        "fee": {"type": "integer", "enum": [0, 5]}, "months": {"type": "integer"}}}}
    said = Said("A loan of $400,000 at 4% for 15, 20 or 30 years, 2.5 points.")
    out = numbers_as_stated(bounded, said)
    props = out["parameters"]["properties"]
    assert props["amount"]["enum"] == [400000, 4, 15, 20, 30]  # integers only, as ints
    assert props["rate"]["enum"] == [0.04]  # within [0, 1]: 4% as 0.04
    assert props["term"]["enum"] == [400000, 15, 20, 30]  # above 10
    assert props["kind"] == {"type": "string"} and props["fee"] == {"type": "integer",
                                                                     "enum": [0, 5]}
    assert "enum" not in props["months"]  # optional
    assert "enum" not in bounded["parameters"]["properties"]["amount"]  # not changed
    fractions = numbers_as_stated(bounded, Said("a rate of 0.5 and 2.5 points"))
    assert "enum" not in fractions["parameters"]["properties"]["amount"]
    assert numbers_as_stated(WRITE, said) is WRITE  # no number parameter


def test_a_second_call_of_a_tool_with_a_value_the_request_never_gave_is_an_invented_variant(
) -> None:
    """`invented_variants`: a call repeating an earlier call of its tool whose changed values
    the conversation does not state; the values a parallel request states keep their calls.
    Stricter than `ungrounded`: enum values and every item of a changed list must be stated."""
    from phi4studio.core.inference.grounding import invented_variants

    games = [{"name": "recommend", "arguments": {"players": 2, "difficulty": "beginner"}},
             {"name": "recommend", "arguments": {"players": 2, "difficulty": "advanced"}},
             {"name": "other", "arguments": {"x": "made up"}}]
    said = Said("Board games for 2 players, strategy based?")
    assert invented_variants(games, said) == [(1, ["difficulty"])]  # the first call stands
    assert invented_variants(games, Said("Games for 2 players, advanced or not")) == []
    hotel = [{"name": "book", "arguments": {"city": "New York", "nights": 2}},
             {"name": "book", "arguments": {"city": "New York", "nights": 2,
                                            "extras": ["breakfast", "spa"]}}]
    assert invented_variants(hotel, Said("2 nights in New York with breakfast")) == [
        (1, ["extras"])]
    assert invented_variants(hotel, Said("2 nights in New York, breakfast and spa")) == []
    years = [{"name": "loan", "arguments": {"years": y, "fee": f}}
             for y, f in ((10, True), (20, False), (35, True))]
    assert invented_variants(years, Said("Payments over 10 and 20 years")) == [(2, ["years"])]
    # a third call compares with the calls kept, not with the dropped one
    again = [*games[:2], {"name": "recommend", "arguments": {"players": 2,
                                                             "difficulty": "advanced"}}]
    assert invented_variants(again, said) == [(1, ["difficulty"]), (2, ["difficulty"])]
