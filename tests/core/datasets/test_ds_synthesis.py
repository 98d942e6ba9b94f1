from __future__ import annotations

import json
import random
import re
from collections import Counter
from typing import Any

import pytest
from dsfixtures import EMAIL_TOOL, WEATHER_TOOL

from phi4studio.core.datasets.catalog import load_tool_catalog
from phi4studio.core.datasets.coverage import infer_scenario
from phi4studio.core.datasets.errors import SynthesisError
from phi4studio.core.datasets.schema import SCENARIOS
from phi4studio.core.datasets.synthesis import (
    Synthesizer,
    ValueSampler,
    allocate,
    from_pattern,
    make_arguments,
    make_result,
    synthesize,
)
from phi4studio.core.datasets.synthesis.phrasing import (
    action,
    describe_args,
    say_value,
    written_number,
)
from phi4studio.core.datasets.validation import validate_arguments, validate_example
from phi4studio.core.paths import resource

CATALOG = load_tool_catalog(resource("samples", "tools.json"))


def test_sample_catalog_is_realistic() -> None:
    names = [t["name"] for t in CATALOG]
    assert 8 <= len(names) <= 12
    for needed in ("weather", "calendar", "file", "email", "search", "calculat", "convert",
                   "database"):
        assert any(needed in n for n in names), needed
    for t in CATALOG:
        ann = t["annotations"]
        assert isinstance(ann["readOnlyHint"], bool) and isinstance(ann["destructiveHint"], bool)
        assert t["description"] and t["inputSchema"]["type"] == "object"
    assert any(t["annotations"]["destructiveHint"] for t in CATALOG)


def test_every_generated_call_validates_over_many_seeds() -> None:
    calls = Counter()
    for seed in range(40):
        for ex in synthesize(CATALOG, 12, seed=seed):
            tools = {t["name"]: t for t in ex["tools"]}
            for m in ex["messages"]:
                for c in m.get("tool_calls") or []:
                    assert validate_arguments(tools[c["name"]], c["arguments"]) == [], c
                    calls[c["name"]] += 1
            assert [i for i in validate_example(ex) if i.severity == "error"] == []
    assert set(calls) == {t["name"] for t in CATALOG}  # every tool gets exercised


def test_arguments_cover_types_enums_formats_ranges_and_nesting() -> None:
    tool = {"name": "t", "inputSchema": {
        "type": "object",
        "$defs": {"tag": {"type": "string", "enum": ["a", "b"]}},
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "mail": {"type": "string", "format": "email"},
            "site": {"type": "string", "format": "uri"},
            "id": {"type": "string", "format": "uuid"},
            "code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"},
            "short": {"type": "string", "minLength": 30, "maxLength": 40},
            "n": {"type": "integer", "minimum": 10, "exclusiveMaximum": 13},
            "step": {"type": "integer", "minimum": 15, "maximum": 60, "multipleOf": 15},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "flag": {"type": "boolean"},
            "kind": {"$ref": "#/$defs/tag"},
            "fixed": {"const": 7},
            "either": {"oneOf": [{"type": "integer"}, {"type": "string", "maxLength": 3}]},
            "maybe": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "uniqueItems": True,
                     "minItems": 2},
            "nested": {"type": "object", "properties": {
                "inner": {"type": "object", "properties": {"x": {"type": "integer"}},
                          "required": ["x"], "additionalProperties": False}},
                "required": ["inner"]},
            "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "free": {"type": "object", "additionalProperties": {"type": "integer"}},
            "both": {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}},
                                "required": ["a"]},
                               {"properties": {"b": {"type": "string"}}, "required": ["b"]}]},
        },
        "required": ["when", "code", "n", "nested", "tags", "both"],
        "additionalProperties": False,
    }}
    seen: Counter[str] = Counter()
    for seed in range(60):
        args = make_arguments(tool, random.Random(seed))
        assert validate_arguments(tool, args) == []
        seen.update(list(args))
        assert re.fullmatch(r"[A-Z]{3}-\d{4}", args["code"])
        assert 10 <= args["n"] < 13
        assert isinstance(args["nested"]["inner"]["x"], int)
        assert set(args["both"]) >= {"a", "b"}
    for req in ("when", "code", "n", "nested", "tags", "both"):
        assert seen[req] == 60
    assert 5 < seen["flag"] < 55  # optional: sometimes in, sometimes out


def test_realistic_strings_and_numbers_by_parameter_meaning() -> None:
    s = ValueSampler(random.Random(3))
    assert "@" in s.sample({"type": "string"}, "recipient")
    assert s.sample({"type": "string"}, "sql").startswith("SELECT")
    assert s.sample({"type": "string", "description": "Destination city"}, "where") in (
        __import__("phi4studio.core.datasets.synthesis.vocab", fromlist=["CITIES"]).CITIES)
    assert 1 <= s.sample({"type": "integer"}, "max_results") <= 20
    assert 1 <= s.sample({"type": "integer", "minimum": 1, "maximum": 1000}, "max_rows") <= 100


def test_from_pattern() -> None:
    rng = random.Random(1)
    for pattern in (r"^evt_[0-9]{4}$", r"^(?:cat|dog)s?$", r"^\d{3}-[a-f0-9]{2,4}$", "^SELECT "):
        for _ in range(20):
            out = from_pattern(pattern, rng)
            assert out is not None and re.search(pattern, out), (pattern, out)
    assert from_pattern(r"^[^a]+$", rng) is None  # unsupported: the caller retries or reports


def test_results_echo_arguments_and_compute_what_they_can() -> None:
    calc = next(t for t in CATALOG if t["name"] == "calculate")
    res = make_result(calc, {"expression": "(12.5 * 4) + 3", "precision": 2}, random.Random(0))
    assert res == {"expression": "(12.5 * 4) + 3", "result": 53.0}
    conv = next(t for t in CATALOG if t["name"] == "convert_units")
    res = make_result(conv, {"value": 10, "from_unit": "mi", "to_unit": "km"}, random.Random(0))
    assert res["converted"] == pytest.approx(16.0934)
    weather = next(t for t in CATALOG if t["name"] == "get_weather")
    assert make_result(weather, {"city": "Oslo"}, random.Random(1))["city"] == "Oslo"


def test_scenario_mix_is_exact_and_each_scenario_looks_like_itself() -> None:
    assert allocate(60, {"single": 0.3, "multiple": 0.2, "multi_turn": 0.25, "parallel": 0.15,
                         "missing_info_or_error": 0.1}) == {
        "single": 18, "multiple": 12, "multi_turn": 15, "parallel": 9, "missing_info_or_error": 6}
    assert sum(allocate(7, {"single": 1, "parallel": 1, "irrelevance": 1}).values()) == 7
    exs = list(synthesize(CATALOG, 120, seed=11))
    counts = Counter(e["scenario"] for e in exs)
    assert counts == {"single": 30, "multiple": 24, "multi_turn": 24, "parallel": 18,
                      "missing_info_or_error": 12, "irrelevance": 12}
    for e in exs:
        assert infer_scenario({**e, "scenario": None}) == e["scenario"], e["id"]
        calls_per_turn = [len(m.get("tool_calls") or []) for m in e["messages"]]
        if e["scenario"] == "irrelevance":
            assert not any(calls_per_turn)
        if e["scenario"] == "parallel":
            assert max(calls_per_turn) >= 2
        if e["scenario"] == "multiple":
            assert len(e["tools"]) >= 2
        if e["scenario"] == "single":
            assert len(e["tools"]) == 1
    tags = Counter(t for e in exs for t in e["tags"])
    assert tags["missing_info"] and tags["tool_error"]


def test_deterministic_per_seed_and_per_index() -> None:
    a = list(synthesize(CATALOG, 20, seed=4))
    assert a == list(synthesize(CATALOG, 20, seed=4))
    assert a != list(synthesize(CATALOG, 20, seed=5))
    syn = Synthesizer(CATALOG, seed=4)
    plan = syn.plan(20)
    assert syn.example(13, plan[13], plan[:13].count(plan[13])) == a[13]
    assert len({e["id"] for e in a}) == 20


def test_small_catalogs_and_bad_input() -> None:
    exs = list(synthesize([WEATHER_TOOL], 20, seed=1))
    assert all(e["tools"][0]["name"] == "get_weather" for e in exs if e["tools"])
    assert Counter(e["scenario"] for e in exs)["multiple"] == 0  # one tool: no choice to make
    list(synthesize([WEATHER_TOOL, EMAIL_TOOL], 30, seed=2))
    with pytest.raises(SynthesisError, match="at least one tool"):
        list(synthesize([], 3))
    bad = {"name": "b", "inputSchema": {"type": "object", "properties": {"x": {"type": "nope"}}}}
    with pytest.raises(SynthesisError, match="invalid"):
        list(synthesize([bad], 3))
    impossible: dict[str, Any] = {"name": "i", "inputSchema": {"type": "object", "properties": {
        "x": {"type": "string", "pattern": "^[^a-z]+[a-z]$"}}, "required": ["x"]}}
    with pytest.raises(SynthesisError, match="Cannot generate valid arguments for the tool 'i'"):
        list(synthesize([impossible], 3))
    with pytest.raises(SynthesisError, match="scenario mix"):
        allocate(3, {"chitchat": 1.0})


def test_phrasing_turns_descriptions_into_requests() -> None:
    assert action({"description": "Retrieves the user's recent orders. Paged."}) == (
        "retrieve my recent orders")
    assert action({"description": "Searches the catalog"}) == "search the catalog"
    assert action({"name": "ping_host"}) == "use ping host"


def test_requests_write_money_rates_and_percentages_as_people_do() -> None:
    loan = {"name": "loan", "inputSchema": {"type": "object", "properties": {
        "principal": {"type": "integer"},
        "annual_rate": {"type": "number", "description": "The rate as a decimal, e.g. 0.05"},
        "discount_percent": {"type": "integer"},
        "population": {"type": "integer"},
        "years": {"type": "integer"},
        "flag": {"type": "boolean"}}}}
    rng = random.Random(3)

    def forms(name: str, value: Any) -> set[str]:
        return {say_value(name, value, loan, rng) for _ in range(200)}

    # both the written form and the plain one are seen
    assert {"$400,000", "400,000", "400000"} <= forms("principal", 400000)
    assert forms("annual_rate", 0.045) == {"4.5%", "0.045"}
    assert forms("discount_percent", 20) == {"20%", "20"}
    assert forms("population", 2500000) == {"2,500,000", "2500000"}
    # no form of its own: a count of years, a boolean, a string
    assert forms("years", 30) == {"30"}
    assert written_number("flag", True, loan, rng) is None
    assert written_number("principal", "400000", loan, rng) is None
    # a rate of 5 (not a decimal) is not turned into 500%
    assert forms("annual_rate", 5) == {"5"}


def test_requests_state_arguments_in_the_call_order() -> None:
    """Measured (docs/quickstart.md, session 10): requests stating the arguments in a random
    order left the tuned model binding more values to the wrong parameter, so they keep the
    call's order."""
    tool = {"name": "velocity", "inputSchema": {"type": "object", "properties": {
        "initial_velocity": {"type": "number"}, "acceleration": {"type": "number"},
        "time": {"type": "number"}}}}
    args = {"initial_velocity": 11, "acceleration": 22, "time": 33}
    for seed in range(50):
        text = describe_args(args, random.Random(seed), tool)
        assert text.index("11") < text.index("22") < text.index("33"), text


def test_written_numbers_stay_grounded() -> None:
    from phi4studio.core.inference.grounding import ungrounded

    tool = {"name": "mortgage", "inputSchema": {"type": "object", "required": [
        "loan_amount", "interest_rate"], "properties": {
        "loan_amount": {"type": "integer"},
        "interest_rate": {"type": "number", "description": "Annual rate as a decimal"}}}}
    rng = random.Random(0)
    for _ in range(50):
        args = {"loan_amount": 350000, "interest_rate": 0.0375}
        text = ", ".join(say_value(k, v, tool, rng) for k, v in args.items())
        assert ungrounded({"name": "mortgage", "arguments": args}, tool, text) == [], text


def test_cancel_and_progress() -> None:
    seen: list[float] = []
    list(synthesize(CATALOG, 250, seed=0, progress=lambda f, m: seen.append(f)))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) == 4
    from phi4studio.core.jobs.model import JobCancelled

    with pytest.raises(JobCancelled):
        list(synthesize(CATALOG, 250, seed=0, cancelled=lambda: True))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_alone(scenario: str) -> None:
    exs = list(synthesize(CATALOG, 15, seed=9, mix={scenario: 1.0}))
    assert {e["scenario"] for e in exs} == {scenario}


def test_tool_results_answer_the_call_that_was_made() -> None:
    """Results come from the call's arguments and the outputSchema: a search is answered about
    its query, a page is titled after its address, a SQL query returns the columns it selects,
    calendar events fall inside the days asked for; the same seed gives the same results."""
    import random as _random

    from phi4studio.core.datasets.samples import sample_tools
    from phi4studio.core.datasets.synthesis.results import make_result
    from phi4studio.core.datasets.validation import argument_faults

    tools = {t["name"]: t for t in sample_tools()}

    def result(name: str, args: dict[str, Any], seed: int = 0) -> Any:
        out = make_result(tools[name], args, _random.Random(seed))
        assert argument_faults(tools[name]["outputSchema"], out) == [], out
        return out

    found = result("search_web", {"query": "how to repot a monstera"})
    for hit in found["results"]:
        assert "how to repot a monstera" in hit["title"].lower() + hit.get("snippet", "")
        assert hit["url"].endswith("/how-to-repot-a-monstera")
    assert "lasagna" not in json.dumps(found)
    assert result("search_web", {"query": "tide times"}, 3) == result("search_web",
                                                                      {"query": "tide times"}, 3)
    page = result("fetch_url", {"url": "https://example.com/blog/launch-notes"})
    assert "launch notes" in page["title"].lower() and page["url"].endswith("launch-notes")
    rows = result("query_database", {"sql": "SELECT id, status FROM shipments WHERE status = "
                                            "'delayed' LIMIT 20", "database": "sales"})
    assert rows["columns"] == ["id", "status"] and rows["row_count"] == len(rows["rows"])
    assert all(r[1] == "delayed" for r in rows["rows"])
    events = result("list_calendar_events", {"start_date": "2025-03-03",
                                             "end_date": "2025-03-05"})
    assert all("2025-03-03" <= e["start"][:10] <= "2025-03-05" for e in events["events"])
    read = result("read_file", {"path": "/home/user/notes/todo.md"})
    assert "Todo" in read["content"] and read["size_bytes"] == len(read["content"].encode())
    wrote = result("write_file", {"path": "/tmp/a.txt", "content": "héllo"})
    assert wrote["bytes_written"] == 6
    # a tool without an outputSchema: a search is still about its query
    bare = {"name": "find_docs", "description": "Search the documentation",
            "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}}}
    got = make_result(bare, {"q": "rate limits"}, _random.Random(1))
    assert all("rate limits" in r["title"].lower() for r in got["results"])
    assert make_result({"name": "ping", "inputSchema": {}}, {"host": "db1"},
                       _random.Random(1)) == {"status": "ok", "host": "db1"}



def test_a_narrow_number_range_is_not_pinned_to_one_value() -> None:
    """A 0-1 `ratio` used to overlap the typical 1-100 range in a single point: always 1.0."""
    s = ValueSampler(random.Random(4))
    ratios = [s.sample({"type": "number", "minimum": 0, "maximum": 1}, "ratio")
              for _ in range(50)]
    assert all(0 <= r <= 1 for r in ratios) and len(set(ratios)) > 20
