from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dsfixtures import EMAIL_TOOL, FIXTURES, chat_example, weather_example

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.exporters import export_jsonl, to_openai, to_sharegpt, to_trl
from phi4studio.core.datasets.importers import ImportOptions, import_file, preview_import
from phi4studio.core.datasets.query import ExampleFilter
from phi4studio.core.datasets.store import DatasetStore


def parallel_example() -> dict[str, Any]:
    d = weather_example(7, city="Lima", scenario="parallel", split="train", tags=["gold"])
    d["tools"] = [d["tools"][0], EMAIL_TOOL]
    d["messages"][2]["content"] = "Checking the weather and emailing Ana."
    d["messages"][2]["tool_calls"].append({"id": "call_2", "name": "send_email", "arguments": {
        "to": "ana@example.org", "subject": "Lima", "body": "Weather check: \"ok\" 🌤"}})
    d["messages"].insert(4, {"role": "tool", "tool_call_id": "call_2", "name": "send_email",
                             "content": "sent"})
    return d


EXAMPLES = [weather_example(1), parallel_example(), chat_example(2, "Tell me a joke")]


def reimport(tmp_path: Path, fmt: str, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = tmp_path / f"out.{fmt}.jsonl"
    rep = export_jsonl(examples, out, fmt)
    assert rep.written == len(examples)
    got = preview_import(out, limit=100, options=ImportOptions(infer_scenario=False)).examples
    return [g.to_dict() for g in got]


def test_canonical_round_trip_is_exact(tmp_path: Path) -> None:
    got = reimport(tmp_path, "canonical", EXAMPLES)
    assert got == EXAMPLES


def test_openai_round_trip_keeps_messages_and_tools(tmp_path: Path) -> None:
    got = reimport(tmp_path, "openai", EXAMPLES)
    for want, have in zip(EXAMPLES, got, strict=True):
        assert have["messages"] == want["messages"]
        assert [(t["name"], t["description"], t["inputSchema"]) for t in have["tools"]] == [
            (t["name"], t["description"], t["inputSchema"]) for t in want["tools"]]


def test_openai_records_have_string_arguments() -> None:
    rec = to_openai(parallel_example())
    calls = rec["messages"][2]["tool_calls"]
    assert calls[0] == {"id": "call_1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "Lima"}'}}
    assert json.loads(calls[1]["function"]["arguments"])["body"].endswith("🌤")
    assert rec["tools"][0]["function"]["parameters"] == EXAMPLES[0]["tools"][0]["inputSchema"]
    assert set(rec) == {"messages", "tools"}
    assert rec["messages"][3] == {"role": "tool", "tool_call_id": "call_1",
                                  "content": '{"temp_c": 18, "sky": "cloudy"}'}
    trl = to_trl(parallel_example())
    assert trl["messages"][2]["tool_calls"][0]["function"]["arguments"] == {"city": "Lima"}


def test_sharegpt_round_trip_keeps_all_but_tool_annotations(tmp_path: Path) -> None:
    got = reimport(tmp_path, "sharegpt", EXAMPLES)
    for want, have in zip(EXAMPLES, got, strict=True):
        assert have["messages"] == want["messages"]
        assert have["tools"] == [
            {k: v for k, v in t.items() if k != "annotations"} for t in want["tools"]]
        assert (have["id"], have["scenario"], have["split"], have["tags"]) == (
            want["id"], want["scenario"], want["split"], want["tags"])


def test_sharegpt_record_shape() -> None:
    rec = to_sharegpt(parallel_example())
    turns = [t["from"] for t in rec["conversations"]]
    assert turns == ["system", "human", "gpt", "tool", "gpt"]  # both results in one tool turn
    assert rec["conversations"][0]["value"].startswith("You are a helpful assistant.\n\n")
    assert "<tools>" in rec["conversations"][0]["value"]
    assert rec["conversations"][2]["value"].count("<tool_call>") == 2
    assert rec["conversations"][3]["value"].count("<tool_response>") == 2


def test_imported_fixtures_survive_every_export(tmp_path: Path) -> None:
    store = DatasetStore.create(tmp_path / "d.sqlite")
    for name in ("openai_chat.jsonl", "hermes_sharegpt.jsonl", "glaive_v2.jsonl", "xlam.jsonl"):
        import_file(store, FIXTURES / name)
    originals = list(store.iter_dicts())
    for fmt in ("canonical", "sharegpt", "openai"):
        got = reimport(tmp_path, fmt, originals)
        for want, have in zip(originals, got, strict=True):
            if fmt == "openai":  # no ids; tool-call ids survive, names are recovered
                assert have["messages"] == want["messages"]
            elif fmt == "sharegpt":  # call ids are renumbered call_1, call_2, ...
                strip = lambda ms: [  # noqa: E731
                    {k: v for k, v in m.items() if k != "tool_call_id"} | (
                        {"tool_calls": [{**c, "id": ""} for c in m["tool_calls"]]}
                        if m.get("tool_calls") else {}) for m in ms]
                assert strip(have["messages"]) == strip(want["messages"])
            else:
                assert have == want
    store.close()


def test_export_from_store_with_filter_and_cancel(tmp_path: Path) -> None:
    store = DatasetStore.create(tmp_path / "d.sqlite")
    store.add_many([weather_example(i, split="train" if i < 3 else "test") for i in range(5)])
    out = tmp_path / "train.jsonl"
    seen: list[float] = []
    rep = export_jsonl(store, out, "openai", flt=ExampleFilter(split="train"),
                       progress=lambda f, m: seen.append(f))
    assert rep.written == 3 and len(out.read_text().splitlines()) == 3 and seen[-1] == 1.0
    from phi4studio.core.jobs.model import JobCancelled

    with pytest.raises(JobCancelled):
        export_jsonl(store, out, "canonical", cancelled=lambda: True)
    assert len(out.read_text().splitlines()) == 3  # the old file is untouched
    assert not list(tmp_path.glob(".train.jsonl.*"))  # no temp file left behind
    with pytest.raises(DatasetError, match="Unknown export format"):
        export_jsonl(store, out, "csv")
    store.close()


MARKERS = {"phi4-mini": "<|tool_call|>", "phi4": "<tool_call>", "hermes": "<tool_call>",
           "chatml-notools": "<tool_call>", "studio": "<tool_call>"}


def test_rendered_text_for_every_standalone_family(tmp_path: Path) -> None:
    """Export as rendered prompt text through the chat-format registry: every family that
    renders without a model template, the calls parse back, trained spans are the replies."""
    from phi4studio.core.chatformats import available_formats, get_format
    from phi4studio.core.datasets.workflows import rendered_families, run_export

    assert list(rendered_families()) == available_formats(standalone=True) == list(MARKERS)
    store = DatasetStore.create(tmp_path / "r.sqlite")
    store.add_many(EXAMPLES)
    for family, marker in MARKERS.items():
        out = tmp_path / f"{family}.jsonl"
        rep = run_export(store, out, "rendered", family=family)
        assert rep.written == 3 and rep.format == f"rendered:{family}"
        rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert [r["id"] for r in rows] == ["ex-1", "ex-7", "chat-2"]
        assert rows[0]["format"] == family and marker in rows[0]["text"]
        trained = "".join(rows[1]["text"][a:b] for a, b, t, _r in rows[1]["spans"] if t)
        assert get_format(family).parse(trained).tool_calls[1]["name"] == "send_email"
    n = run_export(store, tmp_path / "s.jsonl", "rendered", family="smollm2",
                   flt=ExampleFilter(split="train"))
    assert n.written == 1 and n.format == "rendered:chatml-notools"
    for bad in ("generic", "llama9"):
        with pytest.raises(DatasetError) as exc:
            run_export(store, tmp_path / "x.jsonl", "rendered", family=bad)
        assert "phi4-mini, phi4, hermes, chatml-notools, studio" in (exc.value.hint or "")
    store.close()
