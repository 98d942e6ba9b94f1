from __future__ import annotations

import json

import jsonschema
import pytest
from dsfixtures import weather_example

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.schema import (
    Example,
    conversation_hashes,
    example_json_schema,
    example_schema_text,
    json_path,
    normalize_text,
    search_text,
)
from phi4studio.core.paths import resource


def test_shipped_schema_is_the_generated_one() -> None:
    shipped = resource("schemas", "example.schema.json").read_text(encoding="utf-8")
    assert shipped == example_schema_text(), (
        "resources/schemas/example.schema.json is stale: regenerate it with "
        "phi4studio.core.datasets.schema.write_example_schema"
    )


def test_schema_is_valid_draft_2020_12_and_accepts_a_canonical_example() -> None:
    schema = example_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(weather_example())


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "x", "messages": [{"role": "robot", "content": "hi"}]},
        {"id": "x", "scenario": "chitchat"},
        {"id": "x", "split": "dev"},
        {"id": "x", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "name": "f",
                                                                      "arguments": "{}"}]}]},
        {"id": "x", "unknown_key": 1},
    ],
)
def test_schema_and_model_reject_the_same_bad_shapes(bad: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, example_json_schema())
    with pytest.raises(DatasetError):
        Example.from_dict(bad)


def test_round_trip_leaves_out_absent_optional_fields() -> None:
    d = weather_example()
    ex = Example.from_dict(d)
    out = ex.to_dict()
    assert out == d
    assert "tool_calls" not in out["messages"][1]
    assert "tool_call_id" not in out["messages"][2]
    assert list(out) == ["id", "messages", "tools", "scenario", "source", "split", "tags", "notes"]


def test_tool_defs_keep_extra_mcp_fields() -> None:
    d = weather_example()
    d["tools"][0] = {**d["tools"][0], "icons": [{"src": "x.png"}], "_meta": {"k": 1}}
    assert Example.from_dict(d).to_dict()["tools"][0]["_meta"] == {"k": 1}


def test_shape_error_names_the_field_path() -> None:
    with pytest.raises(DatasetError) as exc:
        Example.from_dict({"id": "x", "messages": [{"role": "user", "content": 3}]})
    assert "$.messages[0].content" in exc.value.message


def test_json_path() -> None:
    assert json_path(["messages", 2, "tool_calls", 0, "arguments", "a b"]) == (
        '$.messages[2].tool_calls[0].arguments["a b"]'
    )


def test_normalized_hash_ignores_case_space_punctuation_and_system_prompt() -> None:
    a = weather_example(1)
    b = json.loads(json.dumps(a))
    b["messages"][1]["content"] = "  what's   the WEATHER in paris today "
    b["messages"][0]["content"] = "Another system prompt"
    b["id"] = "other"
    ea, na = conversation_hashes(a)
    eb, nb = conversation_hashes(b)
    assert na == nb and ea != eb
    c = weather_example(1, city="Rome")
    assert conversation_hashes(c)[1] != na
    assert normalize_text("Crème  Brûlée!") == "creme brulee"


def test_search_text_holds_content_call_names_and_argument_values() -> None:
    text = search_text(weather_example(city="Reykjavik"))
    assert "get_weather" in text and "Reykjavik" in text and "cloudy" in text
