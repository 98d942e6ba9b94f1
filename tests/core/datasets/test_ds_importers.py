from __future__ import annotations

import codecs
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from dsfixtures import FIXTURES

from phi4studio.core.datasets.errors import ImportFormatError
from phi4studio.core.datasets.importers import (
    ImportOptions,
    detect_format,
    import_file,
    preview_import,
    scan_import,
)
from phi4studio.core.datasets.importers.xlam import python_type_schema
from phi4studio.core.datasets.query import ExampleFilter
from phi4studio.core.datasets.store import DatasetStore
from phi4studio.core.datasets.validation import validate_example


def examples(path: Path, fmt: str | None = None, **opts: Any) -> list[dict[str, Any]]:
    p = preview_import(path, fmt, limit=100, options=ImportOptions(**opts))
    return [e.to_dict() for e in p.examples]


def errors_of(d: dict[str, Any]) -> list[str]:
    return [f"{i.path}: {i.message}" for i in validate_example(d) if i.severity == "error"]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("openai_chat.jsonl", "openai"),
        ("nested_conversations.jsonl", "conversations"),
        ("hermes_sharegpt.jsonl", "sharegpt"),
        ("glaive_v2.jsonl", "glaive"),
        ("xlam.jsonl", "xlam"),
        ("bfcl/BFCL_v3_simple.json", "bfcl"),
        ("claude_session.jsonl", "claude"),
    ],
)
def test_format_detection(name: str, fmt: str) -> None:
    assert detect_format(FIXTURES / name) == fmt


def test_every_fixture_imports_into_valid_examples() -> None:
    for name in ("openai_chat.jsonl", "nested_conversations.jsonl", "hermes_sharegpt.jsonl",
                 "glaive_v2.jsonl", "xlam.jsonl", "claude_session.jsonl"):
        exs = examples(FIXTURES / name)
        assert exs, name
        for d in exs:
            assert errors_of(d) == [], (name, d["id"])


def test_openai_chat() -> None:
    exs = examples(FIXTURES / "openai_chat.jsonl")
    assert [e["id"] for e in exs] == [f"openai_chat-{i}" for i in (1, 2, 3, 4)]
    first = exs[0]
    call = first["messages"][2]["tool_calls"][0]
    assert call == {"id": "call_a1", "name": "get_weather",
                    "arguments": {"city": "Lyon", "unit": "celsius"}}
    assert first["messages"][3]["name"] == "get_weather"  # recovered from the call
    assert first["tools"][0]["inputSchema"]["required"] == ["city"]
    assert first["source"] == "openai:openai_chat.jsonl"
    assert [e["scenario"] for e in exs] == ["single", "parallel", "irrelevance", "single"]
    assert exs[1]["messages"][-1]["content"] == "Tokyo: 22°C and clear; it's 21:04 there."
    legacy = exs[3]  # function_call / functions / role function
    assert legacy["messages"][1]["tool_calls"][0]["arguments"] == {"city": "Oslo"}
    assert legacy["messages"][2]["tool_call_id"] == legacy["messages"][1]["tool_calls"][0]["id"]
    assert legacy["tools"][0]["name"] == "get_weather"


def test_sharegpt_hermes_and_llama_factory_variants() -> None:
    a, b, c = examples(FIXTURES / "hermes_sharegpt.jsonl")
    assert a["id"] == "hermes-stock-1"
    assert [t["name"] for t in a["tools"]] == ["get_stock_price", "get_company_news"]
    assert not any(m["role"] == "system" for m in a["messages"])  # Hermes boilerplate dropped
    calls = a["messages"][1]["tool_calls"]
    assert [(c_["id"], c_["name"], c_["arguments"]) for c_ in calls] == [
        ("call_1", "get_stock_price", {"symbol": "AAPL"}),
        ("call_2", "get_company_news", {"symbol": "MSFT", "limit": 3}),
    ]
    results = [m for m in a["messages"] if m["role"] == "tool"]
    assert [(r["tool_call_id"], r["name"]) for r in results] == [
        ("call_1", "get_stock_price"), ("call_2", "get_company_news")]
    assert json.loads(results[0]["content"]) == {"symbol": "AAPL", "price": 189.84}
    assert a["scenario"] == "parallel" and b["scenario"] == "irrelevance"
    assert c["messages"][0] == {"role": "system", "content": "You are a market assistant."}
    assert c["messages"][2]["tool_calls"][0]["arguments"] == {"symbol": "NVDA"}
    assert c["messages"][3]["content"] == '{"price": 121.4}'


def test_glaive() -> None:
    a, b, c = examples(FIXTURES / "glaive_v2.jsonl")
    assert [t["name"] for t in a["tools"]] == ["calculate_bmi", "convert_currency"]
    assert a["messages"][0]["content"].startswith("You are a helpful assistant with access")
    calls = [m["tool_calls"][0] for m in a["messages"] if m.get("tool_calls")]
    assert calls[0]["arguments"] == {"weight": 70, "height": 1.75}
    assert calls[1]["arguments"] == {"amount": 100, "from": "USD", "to": "EUR"}
    assert "<|endoftext|>" not in json.dumps(a)
    assert a["scenario"] == "multi_turn"
    assert b["tools"] == [] and b["scenario"] == "irrelevance"
    assert c["scenario"] == "irrelevance"


def test_xlam_types_and_required() -> None:
    a, b, c = examples(FIXTURES / "xlam.jsonl")
    assert a["id"] == "4021" and a["scenario"] == "parallel"
    assert a["tools"][0]["inputSchema"]["properties"]["type"]["default"] == "game"
    props = b["tools"][0]["inputSchema"]["properties"]
    assert props["numbers"] == {
        "type": "array",
        "items": {"anyOf": [{"type": "integer"}, {"type": "number"}]},
        "description": "The list of numbers.",
    }
    schema = c["tools"][0]["inputSchema"]
    assert schema["required"] == ["artist_id"]
    assert schema["properties"]["limit"]["type"] == "integer"
    assert schema["properties"]["include_features"] == {
        "type": "boolean", "description": "Include featured tracks.", "default": False}
    assert python_type_schema("Dict[str, List[int]]") == {
        "type": "object", "additionalProperties": {"type": "array", "items": {"type": "integer"}}}
    assert python_type_schema("Tuple[int, str]") == {
        "type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]}
    assert python_type_schema("Optional[float]") == {"type": "number"}


def test_bfcl_with_sibling_answers_and_types() -> None:
    r = scan_import(FIXTURES / "bfcl" / "BFCL_v3_simple.json")
    assert (r.good, [str(i) for i in r.skipped]) == (
        3, ["line 4: no possible answer for id 'simple_2' in the answers file"])
    exs = {e["id"]: e for e in examples(FIXTURES / "bfcl" / "BFCL_v3_simple.json")}
    call = exs["simple_0"]["messages"][1]["tool_calls"][0]
    assert call["arguments"] == {"base": 10, "height": 5, "unit": "units"}
    assert exs["simple_0"]["scenario"] == "single"
    pm = exs["parallel_multiple_0"]
    assert pm["scenario"] == "parallel"
    assert [c["arguments"] for c in pm["messages"][1]["tool_calls"]] == [
        {"lower_limit": 1, "upper_limit": 1000, "multiples": [3, 5]}, {"count": 5}]
    props = pm["tools"][1]["inputSchema"]["properties"]
    assert props["weights"] == {"type": "array", "items": {"type": "number"},
                                "description": "Optional weights."}
    assert props["options"]["type"] == "object"
    assert "type" not in props["extra"]  # BFCL "any"
    assert pm["tools"][1]["inputSchema"]["type"] == "object"
    for d in exs.values():
        assert errors_of(d) == []


def test_bfcl_without_answers_reports_each_record(tmp_path: Path) -> None:
    q = tmp_path / "BFCL_v3_simple.json"
    shutil.copy(FIXTURES / "bfcl" / "BFCL_v3_simple.json", q)
    r = scan_import(q)
    assert r.good == 0 and len(r.skipped) == 4
    assert "possible_answer" in r.skipped[0].reason
    r2 = scan_import(q, options=ImportOptions(
        answers=FIXTURES / "bfcl" / "possible_answer" / "BFCL_v3_simple.json"))
    assert r2.good == 3
    irr = examples(FIXTURES / "bfcl" / "BFCL_v3_irrelevance.json")
    assert irr[0]["scenario"] == "irrelevance"
    assert "tool_calls" not in irr[0]["messages"][-1]


def test_bfcl_answer_file_given_as_questions_is_explained() -> None:
    with pytest.raises(ImportFormatError, match="possible-answer file"):
        detect_format(FIXTURES / "bfcl" / "possible_answer" / "BFCL_v3_simple.json")


def test_claude_transcript() -> None:
    r = scan_import(FIXTURES / "claude_session.jsonl")
    assert (r.good, r.skipped, r.ignored) == (2, [], 4)  # summary, snapshot, meta, system
    main, side = examples(FIXTURES / "claude_session.jsonl")
    assert main["id"] == "5f0c2a1e-7d7b-4a53-9b1e-2f6d0c1e9a10"
    roles = [m["role"] for m in main["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    merged = main["messages"][1]  # three lines with message.id msg_01 (thinking, text, tool_use)
    assert merged["content"] == "I'll read the parser first."
    assert merged["tool_calls"][0]["name"] == "Read"
    assert main["messages"][3]["tool_calls"][0]["name"] == "mcp__github__search_issues"
    assert main["messages"][4]["content"] == "Error: Rate limit exceeded"
    assert main["scenario"] == "missing_info_or_error"
    assert {t["name"] for t in main["tools"]} == {"Read", "mcp__github__search_issues"}
    assert "sidechain" in side["tags"] and "sidechain" not in main["tags"]
    assert side["messages"][0]["content"] == "Search the repo for other callers of parse_date."
    assert r.warnings[0].reason.startswith("2 tool(s) had no definition")


def test_claude_uses_a_given_catalog() -> None:
    read = {"name": "Read", "description": "Read a file", "inputSchema": {
        "type": "object", "properties": {"file_path": {"type": "string"}},
        "required": ["file_path"]}}
    main = examples(FIXTURES / "claude_session.jsonl", tools=[read])[0]
    assert main["tools"][0] == read
    assert main["tools"][1]["description"].startswith("(definition not in the source")


def test_bad_records_are_each_reported_with_line_and_reason(tmp_path: Path) -> None:
    r = scan_import(FIXTURES / "openai_bad.jsonl")
    reasons = {i.line: i.reason for i in r.skipped}
    assert r.good == 2 and r.records == 8
    assert set(reasons) == {2, 3, 4, 6, 8, 9}
    assert "not valid JSON" in reasons[2]
    assert "arguments of messages[1].tool_calls[0]" in reasons[3]
    assert "answers no call" in reasons[4]
    assert "unknown role 'narrator'" in reasons[6]
    assert "not UTF-8" in reasons[8]
    assert "truncated" in reasons[9]


def test_import_writes_nothing_unless_partial_is_accepted(tmp_path: Path) -> None:
    store = DatasetStore.create(tmp_path / "d.sqlite")
    r = import_file(store, FIXTURES / "openai_bad.jsonl")
    assert not r.committed and r.imported == 0 and store.count() == 0
    assert "nothing was written" in r.message
    r = import_file(store, FIXTURES / "openai_bad.jsonl", allow_partial=True)
    assert r.committed and r.imported == 2 and store.count() == 2
    assert store.undo_label == "Import openai_bad.jsonl"
    r = import_file(store, FIXTURES / "openai_bad.jsonl", allow_partial=True)
    assert r.renamed == {"openai_bad-1": "openai_bad-1-2", "openai_bad-7": "openai_bad-7-2"}
    store.close()


def test_import_reports_progress_and_honours_cancel(tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    line = (FIXTURES / "openai_chat.jsonl").read_text().splitlines()[0]
    src.write_text((line + "\n") * 600)
    seen: list[float] = []
    store = DatasetStore.create(tmp_path / "d.sqlite")
    r = import_file(store, src, progress=lambda f, m: seen.append(f), record_undo=False)
    assert r.imported == 600 and seen[-1] == 1.0 and len(seen) >= 3
    assert seen == sorted(seen)
    from phi4studio.core.jobs.model import JobCancelled

    store2 = DatasetStore.create(tmp_path / "e.sqlite")
    with pytest.raises(JobCancelled):
        import_file(store2, src, cancelled=lambda: len(seen) > 0)
    assert store2.count() == 0
    store.close()
    store2.close()


def test_unknown_format_names_the_line_and_what_was_expected(tmp_path: Path) -> None:
    f = tmp_path / "odd.jsonl"
    f.write_text('\n\n{"prompt": "hi", "completion": "hello"}\n')
    with pytest.raises(ImportFormatError) as exc:
        detect_format(f)
    assert "line 3" in exc.value.message and "prompt, completion" in exc.value.message
    assert exc.value.line == 3
    assert "OpenAI chat" in (exc.value.hint or "") and "xLAM" in (exc.value.hint or "")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ImportFormatError, match="empty"):
        detect_format(empty)
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n{also not\n")
    with pytest.raises(ImportFormatError, match="line 1: not valid JSON"):
        detect_format(garbage)


def test_explicit_format_override_reports_mismatches() -> None:
    r = scan_import(FIXTURES / "xlam.jsonl", "glaive")
    assert r.good == 0 and all("expected" in i.reason for i in r.skipped)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le"])
def test_bom_and_utf16_files(tmp_path: Path, encoding: str) -> None:
    text = (FIXTURES / "openai_chat.jsonl").read_text(encoding="utf-8")
    f = tmp_path / "enc.jsonl"
    f.write_bytes(text.encode(encoding))
    if encoding == "utf-16-le":
        assert not f.read_bytes().startswith(codecs.BOM_UTF16_LE)
    exs = examples(f)
    assert len(exs) == 4
    assert exs[1]["messages"][-1]["content"] == "Tokyo: 22°C and clear; it's 21:04 there."


def test_a_50_mb_single_line_is_read(tmp_path: Path) -> None:
    big = "x" * (50 * 1024 * 1024)
    rec = {"messages": [{"role": "user", "content": big},
                        {"role": "assistant", "content": "ok"}]}
    small = {"messages": [{"role": "user", "content": "hi"},
                          {"role": "assistant", "content": "hello"}]}
    f = tmp_path / "huge.jsonl"
    with open(f, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(small) + "\n")
        fh.write(json.dumps(rec) + "\n")
        fh.write(json.dumps(small)[:20])  # and a truncated last line
    del rec, big
    r = scan_import(f)
    assert (r.good, r.records) == (2, 3) and r.skipped[0].line == 3
    assert "truncated" in r.skipped[0].reason


def test_over_limit_line_is_reported_and_skipped(tmp_path: Path, monkeypatch: Any) -> None:
    from phi4studio.core.datasets.importers import reading

    monkeypatch.setattr(reading, "MAX_LINE_BYTES", 1000)
    rec = {"messages": [{"role": "user", "content": "y" * 5000}]}
    f = tmp_path / "long.jsonl"
    f.write_text(json.dumps(rec) + "\n" + json.dumps({"messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}) + "\n")
    r = scan_import(f, "openai")
    assert r.good == 1 and r.skipped[0].line == 1 and "longer than" in r.skipped[0].reason


def test_json_array_parquet_and_saved_dataset(tmp_path: Path) -> None:
    recs = [json.loads(x) for x in (FIXTURES / "xlam.jsonl").read_text().splitlines()]
    arr = tmp_path / "xlam.json"
    arr.write_text(json.dumps(recs, indent=2))
    assert [e["id"] for e in examples(arr)] == ["4021", "4022", "4023"]
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(recs), tmp_path / "xlam.parquet")
    assert len(examples(tmp_path / "xlam.parquet")) == 3
    bad = scan_import(tmp_path / "xlam.parquet", "openai")
    assert bad.skipped[0].unit == "row" and bad.skipped[0].line == 1

    import datasets

    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_list(recs[:2]),
        "test": datasets.Dataset.from_list(recs[2:]),
    })
    dd.save_to_disk(str(tmp_path / "saved"))
    got = examples(tmp_path / "saved")
    assert sorted((e["id"], e["split"]) for e in got) == [
        ("4021", "train"), ("4022", "train"), ("4023", "test")]


def test_import_into_store_is_searchable_and_filterable(tmp_path: Path) -> None:
    store = DatasetStore.create(tmp_path / "d.sqlite")
    for name in ("openai_chat.jsonl", "hermes_sharegpt.jsonl", "glaive_v2.jsonl"):
        assert import_file(store, FIXTURES / name).committed
    assert store.count() == 10
    assert store.count(ExampleFilter(called_tool="get_stock_price")) == 2
    assert store.count(ExampleFilter(text="octopuses")) == 1
    assert store.count(ExampleFilter(source="glaive:glaive_v2.jsonl")) == 3
    store.close()


def test_invalid_tool_schemas_are_reported_at_import(tmp_path: Path) -> None:
    rec = json.loads((FIXTURES / "openai_chat.jsonl").read_text().splitlines()[0])
    rec["tools"][0]["function"]["parameters"]["properties"]["city"]["type"] = "town"
    f = tmp_path / "bad_schema.jsonl"
    f.write_text(json.dumps(rec) + "\n" + json.dumps(rec) + "\n")
    r = scan_import(f)
    assert r.good == 2 and [w.line for w in r.warnings] == [1, 2]
    assert "get_weather" in r.warnings[0].reason and "not valid JSON Schema" in r.warnings[0].reason
