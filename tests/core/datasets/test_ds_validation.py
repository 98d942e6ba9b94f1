from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from dsfixtures import EMAIL_TOOL, FIXTURES, chat_example, weather_example

from phi4studio.core.datasets.importers import scan_import
from phi4studio.core.datasets.query import ExampleFilter
from phi4studio.core.datasets.store import DatasetStore
from phi4studio.core.datasets.validation import (
    check_tool_schema,
    validate_arguments,
    validate_example,
    validate_store,
)


def codes(d: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(i.severity, i.code, i.path) for i in validate_example(d)]


def test_a_good_example_has_no_issues() -> None:
    assert validate_example(weather_example()) == []
    assert validate_example(chat_example(1, "hi there")) == []


def test_arguments_are_checked_against_the_schema_with_paths() -> None:
    d = weather_example()
    d["messages"][2]["tool_calls"][0]["arguments"] = {"city": 5, "unit": "kelvin", "x": 1}
    got = codes(d)
    base = "$.messages[2].tool_calls[0].arguments"
    assert ("error", "bad_arguments", base + ".x") in got  # additionalProperties: at the key
    assert ("error", "bad_arguments", base + ".city") in got
    assert ("error", "bad_arguments", base + ".unit") in got
    assert ("error", "bad_arguments", base) not in got
    d["messages"][2]["tool_calls"][0]["arguments"] = {}
    issue = validate_example(d)[0]
    assert issue.path == base + ".city"  # a missing required key: at that key
    assert issue.message == "get_weather: the required argument 'city' is missing"


def test_one_argument_check_for_validation_editor_and_playground() -> None:
    """validate_arguments (validation panel) and check_value (call editor, playground) are the
    same check: the same faults at the same paths."""
    from phi4studio.core.datasets.workflows import check_arguments, check_value

    tool = weather_example()["tools"][0]
    schema = tool["inputSchema"]
    for args in ({}, {"city": 5, "x": 1, "y": [2]}, {"city": "Oslo", "unit": "kelvin"},
                 {"city": "Oslo"}):
        mine = [(i.path, i.message.split(": ", 1)[1]) for i in validate_arguments(tool, args)]
        editor = [(i.path, i.message) for i in check_value(args, schema)]
        assert [p for p, _ in mine] == [p for p, _ in editor], args
    assert [i.path for i in check_arguments('{"x": 1}', schema)] == ["$.x", "$.city"]
    assert check_arguments("{", schema)[0].line == 1
    bad = check_value({}, {"type": "object", "properties": {"a": {"type": "nope"}}})
    assert bad[0].path == "$" and "itself invalid" in bad[0].message


def test_format_checker_is_on() -> None:
    issues = validate_arguments(EMAIL_TOOL, {"to": "not-an-email", "subject": "s", "body": "b"})
    assert [i.path for i in issues] == ["$.to"] and "email" in issues[0].message
    assert validate_arguments(EMAIL_TOOL, {"to": "a@b.org", "subject": "s", "body": "b"}) == []


def test_unknown_tool_and_bad_tool_schema() -> None:
    d = weather_example()
    d["messages"][2]["tool_calls"][0]["name"] = "get_wether"
    d["messages"][3]["name"] = "get_wether"
    assert ("error", "unknown_tool", "$.messages[2].tool_calls[0].name") in codes(d)
    d = weather_example()
    d["tools"][0]["inputSchema"] = {"type": "object", "properties": {"city": {"type": "town"}}}
    got = codes(d)
    assert ("error", "bad_tool_schema", "$.tools[0].inputSchema") in got
    assert not any(c[1] == "bad_arguments" for c in got)  # reported once, at the definition
    assert check_tool_schema({"type": "object", "required": "city"}) is not None
    assert check_tool_schema([1]) == "the inputSchema is not an object"


def test_role_order_problems() -> None:
    d = weather_example()
    d["messages"].insert(2, {"role": "system", "content": "late"})
    assert ("error", "bad_role_order", "$.messages[2]") in codes(d)
    d = weather_example()
    del d["messages"][2]  # a result without its call
    got = codes(d)
    assert ("error", "bad_role_order", "$.messages[2]") in got
    assert ("error", "unknown_call_id", "$.messages[2].tool_call_id") in got
    d = weather_example()
    d["messages"] = d["messages"][:2]
    assert ("error", "no_final_reply", "$.messages[1]") in codes(d)
    d = weather_example()
    d["messages"][1] = {"role": "assistant", "content": "Hello!"}
    assert ("error", "bad_role_order", "$.messages[1]") in codes(d)


def test_calls_need_results_unless_final() -> None:
    d = weather_example()
    del d["messages"][3]  # the result is gone, the conversation goes on
    assert ("error", "call_without_result", "$.messages[2].tool_calls[0]") in codes(d)
    d = weather_example()
    d["messages"] = d["messages"][:3]  # the calls end the conversation (xLAM/BFCL style)
    assert codes(d) == []


def test_tool_results_answer_known_calls_once() -> None:
    d = weather_example()
    d["messages"].insert(4, dict(d["messages"][3]))
    assert ("warning", "call_answered_twice", "$.messages[4].tool_call_id") in codes(d)
    d = weather_example()
    d["messages"][3]["name"] = "send_email"
    assert ("warning", "result_name_mismatch", "$.messages[3].name") in codes(d)
    d = weather_example()
    del d["messages"][3]["tool_call_id"]
    assert ("error", "result_without_call_id", "$.messages[3].tool_call_id") in codes(d)
    d = weather_example()
    d["messages"][2]["tool_calls"].append(dict(d["messages"][2]["tool_calls"][0]))
    assert ("error", "duplicate_call_id", "$.messages[2].tool_calls[1].id") in codes(d)


def test_empty_messages_and_misplaced_fields() -> None:
    d = weather_example()
    d["messages"][1]["content"] = "  "
    d["messages"][4]["content"] = ""
    got = codes(d)
    assert ("error", "empty_message", "$.messages[1].content") in got
    assert ("error", "empty_message", "$.messages[4]") in got
    d = weather_example()
    d["messages"][1]["tool_calls"] = [{"id": "x", "name": "get_weather", "arguments": {}}]
    assert ("error", "calls_outside_assistant", "$.messages[1].tool_calls") in codes(d)


def test_tool_definition_warnings_and_duplicates() -> None:
    d = weather_example()
    d["tools"].append(dict(d["tools"][0], description=""))
    got = codes(d)
    assert ("error", "duplicate_tool", "$.tools[1].name") in got
    assert ("warning", "tool_without_description", "$.tools[1].description") in got


def test_scenario_consistency() -> None:
    assert ("warning", "scenario_mismatch", "$.scenario") in codes(
        weather_example(scenario="irrelevance"))
    assert ("warning", "scenario_mismatch", "$.scenario") in codes(
        weather_example(scenario="parallel"))
    assert codes(weather_example(scenario=None)) == []


def test_token_length() -> None:
    d = weather_example()
    n = lambda ex: len(json.dumps(ex["messages"]))  # noqa: E731
    assert validate_example(d, count_tokens=n, max_tokens=10_000) == []
    (issue,) = validate_example(d, count_tokens=n, max_tokens=50)
    assert issue.code == "too_long" and issue.severity == "warning"


def test_validate_store_in_batches_with_duplicates(tmp_path: Path) -> None:
    store = DatasetStore.create(tmp_path / "d.sqlite")
    bad = weather_example(2)
    bad["messages"][2]["tool_calls"][0]["arguments"] = {"city": 3}
    near = weather_example(4)
    near["messages"][1]["content"] = "what's the weather in PARIS today"
    exact = weather_example(5)
    store.add_many([weather_example(0, city="Oslo"), weather_example(1), bad,
                    chat_example(3, "Tell me a joke"), near, exact])
    seen: list[float] = []
    summary = validate_store(store, batch_size=2, progress=lambda f, m: seen.append(f))
    assert (summary.n_examples, summary.n_ok, summary.n_warning, summary.n_error) == (6, 3, 2, 1)
    assert summary.exit_code == 1
    assert summary.first_errors[0][0] == "ex-2"
    assert summary.by_code["duplicate"] == 1 and summary.by_code["near_duplicate"] == 1
    assert len(seen) == 3 and seen[-1] == 1.0
    assert store.count(ExampleFilter(validity="error")) == 1
    assert store.count(ExampleFilter(validity="unchecked")) == 0
    issues = store.issues("ex-5")
    assert issues is not None and issues[0]["message"] == "Exact duplicate of 'ex-1'."
    assert store.issues("ex-4")[0]["code"] == "near_duplicate"  # type: ignore[index]
    store.update(weather_example(2, city="Rome"))  # fixing it makes it unchecked again
    assert store.count(ExampleFilter(validity="unchecked")) == 1
    assert validate_store(store, flt=ExampleFilter(validity="unchecked")).n_ok == 1
    assert store.count(ExampleFilter(validity="error")) == 0
    store.close()


def test_fuzzed_records_only_ever_give_reported_errors(tmp_path: Path) -> None:
    """Property-style: random damage to real records never crashes an importer or validation."""
    rng = random.Random(1234)
    sources = {"openai_chat.jsonl": "openai", "hermes_sharegpt.jsonl": "sharegpt",
               "glaive_v2.jsonl": "glaive", "xlam.jsonl": "xlam", "claude_session.jsonl": "claude"}
    junk: list[Any] = [None, 0, -1.5, "", "x", [], {}, [1, {}], {"a": None}, True, "{'a': 1"]

    def damage(v: Any, depth: int = 0) -> Any:
        if isinstance(v, dict) and v and rng.random() < 0.7:
            k = rng.choice(list(v))
            v = dict(v)
            r = rng.random()
            if r < 0.3:
                del v[k]
            elif r < 0.6:
                v[k] = rng.choice(junk)
            else:
                v[k] = damage(v[k], depth + 1)
        elif isinstance(v, list) and v and rng.random() < 0.7:
            v = list(v)
            i = rng.randrange(len(v))
            v[i] = damage(v[i], depth + 1) if rng.random() < 0.6 else rng.choice(junk)
        elif isinstance(v, str) and v and rng.random() < 0.5:
            cut = rng.randrange(len(v))
            v = v[:cut] + rng.choice(["", "<tool_call>", "{", "'", "USER:", "\\u0000"]) + v[cut:]
        return v

    from phi4studio.core.datasets.importers import preview_import

    for name, fmt in sources.items():
        lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
        records = [json.loads(x) for x in lines]
        for round_ in range(40):
            out = tmp_path / f"{round_}-{name}"
            with open(out, "w", encoding="utf-8") as fh:
                for rec in records:
                    fh.write(json.dumps(damage(copy.deepcopy(rec))) + "\n")
                if round_ % 5 == 0:
                    fh.write(json.dumps(records[0])[: rng.randrange(5, 60)])  # truncated tail
            report = scan_import(out, fmt)
            assert report.records >= report.good
            for issue in report.skipped:
                assert issue.reason and issue.line >= 1
            for ex in preview_import(out, fmt, limit=50).examples:
                for issue in validate_example(ex):
                    assert issue.path.startswith("$") and issue.message


@pytest.mark.parametrize("args", [[], "text", {"a": [1, {"b": None}]}])
def test_validate_arguments_never_crashes(args: Any) -> None:
    tool = {"name": "t", "inputSchema": {"type": "object", "properties": {
        "a": {"type": "array", "items": {"type": "integer"}}}}}
    for issue in validate_arguments(tool, args):
        assert issue.severity == "error"
