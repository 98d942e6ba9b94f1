"""The Datasets tab's services without Qt: the library over a real workspace catalog and real
SQLite stores, jobs on a real JobQueue, the import wizard's navigation, argument checks."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.datasets import workflows as wf
from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.library import DatasetLibrary, Validity
from phi4studio.core.datasets.query import ExampleFilter
from phi4studio.core.jobs import JobQueue, JobState
from phi4studio.core.workspace import Workspace, open_workspace

sys.path.insert(0, str(Path(__file__).parent / "datasets"))
from dsfixtures import WEATHER_TOOL, chat_example, weather_example


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = open_workspace(tmp_path / "ws")
    yield w
    w.close()


def write_jsonl(path: Path, rows: list[Any], bad: int = 0) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
        for _ in range(bad):
            fh.write("{not json\n")
    return path


def test_create_rename_delete_restore_and_catalog_sync(ws: Workspace) -> None:
    lib = DatasetLibrary(lambda: ws)
    events: list[tuple[str, str | None]] = []
    lib.add_listener(lambda k, i: events.append((k, i)))
    info = lib.create("Weather")
    assert info.path == ws.datasets_dir / f"{info.id}.sqlite" and info.path.is_file()
    assert ws.catalog.get("datasets", info.id)["path"] == f"datasets/{info.id}.sqlite"
    assert lib.unique_name("Weather") == "Weather (2)"
    with pytest.raises(DatasetError):
        lib.create("  ")

    store = lib.store(info.id)
    store.add_many([weather_example(i) for i in range(3)])  # an edit on this thread: synced
    assert lib.get(info.id).n_examples == 3
    assert lib.get(info.id).validity == Validity(unchecked=3)
    assert ("counts", info.id) in events  # an edit: the catalog row follows

    lib.rename(info.id, "Weather v2")
    assert lib.find("weather V2").id == info.id and store.name == "Weather v2"
    with pytest.raises(DatasetError, match="No dataset named"):
        lib.find("nope")

    entry = lib.delete(info.id)
    assert lib.datasets() == [] and not info.path.exists()
    assert [e.name for e in lib.trash()] == ["Weather v2"] and entry.n_examples == 3
    back = lib.restore(entry)
    assert back.id == info.id and back.n_examples == 3 and lib.trash() == []
    assert lib.store(back.id).count() == 3
    lib.delete(back.id)
    assert lib.empty_trash() == 1 and lib.trash() == []
    lib.close()


async def test_import_job_writes_nothing_with_bad_lines_until_a_partial_import(
    ws: Workspace, tmp_path: Path
) -> None:
    queue = JobQueue({"cpu": 1, "gpu": 1})
    lib = DatasetLibrary(lambda: ws, queue)
    src = write_jsonl(tmp_path / "d.jsonl", [weather_example(i) for i in range(5)], bad=1)

    job = wf.import_job(lib, src, new_name="Imported")
    assert await queue.wait(job) is JobState.SUCCEEDED
    assert not job.result.committed and len(job.result.skipped) == 1
    assert lib.datasets() == [] and list(ws.datasets_dir.glob("*.sqlite")) == []  # cleaned up

    job = wf.import_job(lib, src, new_name="Imported", allow_partial=True)
    assert lib.busy(job.dataset_id) is None  # a new dataset is not in the catalog yet
    assert await queue.wait(job) is JobState.SUCCEEDED
    info = lib.get(job.made_dataset)
    assert info.name == "Imported" and info.n_examples == 5

    # into the same dataset: busy while it runs, ids renamed, catalog synced after
    good = write_jsonl(tmp_path / "more.jsonl", [weather_example(i) for i in range(3)])
    job = wf.import_job(lib, good, dataset_id=info.id)
    assert lib.busy(info.id) is job
    with pytest.raises(DatasetError, match="already working"):
        wf.import_job(lib, good, dataset_id=info.id)
    with pytest.raises(DatasetError, match="still working"):
        lib.delete(info.id)
    await queue.wait(job)
    assert lib.busy(info.id) is None and lib.get(info.id).n_examples == 8
    assert "ex-0-2" in lib.store(info.id)

    # validation (not exclusive) records its results; the catalog follows
    vjob = wf.validate_job(lib, info.id)
    assert lib.busy(info.id) is None
    assert await queue.wait(vjob) is JobState.SUCCEEDED
    assert vjob.result.n_error == 0 and lib.get(info.id).validity.state in ("ok", "warnings")
    await queue.shutdown()
    lib.close()


async def test_export_and_coverage_jobs(ws: Workspace, tmp_path: Path) -> None:
    queue = JobQueue({"cpu": 1, "gpu": 1})
    lib = DatasetLibrary(lambda: ws, queue)
    info = lib.create("Mixed")
    lib.store(info.id).add_many(
        [weather_example(i, split="train") for i in range(4)] + [chat_example(1, "hello")])
    assert "rendered" in wf.export_formats() and "openai" in wf.export_formats()
    out = tmp_path / "train.jsonl"
    job = wf.export_job(lib, info.id, out, "openai", flt=ExampleFilter(split="train"))
    assert await queue.wait(job) is JobState.SUCCEEDED
    assert len(out.read_text().splitlines()) == 4
    job = wf.export_job(lib, info.id, tmp_path / "r.jsonl", "rendered", family="phi4-mini")
    assert await queue.wait(job) is JobState.SUCCEEDED, job.error
    first = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])
    assert "<|tool_call|>" in first["text"] and any(s[2] for s in first["spans"])
    job = wf.coverage_job(lib, info.id)
    assert await queue.wait(job) is JobState.SUCCEEDED
    assert job.result.calls_per_tool["get_weather"] == 4
    await queue.shutdown()
    lib.close()


def test_positions_page_any_depth_by_keyset(ws: Workspace) -> None:
    lib = DatasetLibrary(lambda: ws)
    store = lib.store(lib.create("Big").id)
    store.add_many([weather_example(i, city=f"C{i}") for i in range(300)], record_undo=False)
    store.delete(["ex-5", "ex-100"])
    pos = store.positions()
    assert len(pos) == 298 == store.count()
    rows = store.page_after(None, pos[250] - 1, 3)
    assert [r.id for r in rows] == [r.id for r in store.page(None, 250, 3)]
    assert list(store.positions(ExampleFilter(text="C299"))) == [pos[-1]]
    assert list(store.positions(ExampleFilter(scenario="parallel"))) == []
    lib.close()


def test_library_follows_a_workspace_switch(tmp_path: Path) -> None:
    a, b = open_workspace(tmp_path / "a"), open_workspace(tmp_path / "b")
    current = [a]
    lib = DatasetLibrary(lambda: current[0])
    st = lib.store(lib.create("In A").id)
    current[0] = b
    assert lib.workspace_changed()
    assert lib.datasets() == []  # reading the new workspace closes the old stores
    with pytest.raises(Exception, match="closed"):
        st.count()
    lib.close()
    a.close()
    b.close()


def test_seed_sample_only_into_an_empty_workspace(ws: Workspace, monkeypatch: Any,
                                                  tmp_path: Path) -> None:
    (tmp_path / "samples").mkdir()
    write_jsonl(tmp_path / "samples" / "sample_dataset.jsonl",
                [weather_example(i) for i in range(10)])
    monkeypatch.setattr("phi4studio.core.paths.resources_dir", lambda: tmp_path)
    lib = DatasetLibrary(lambda: ws)
    ds = wf.seed_sample(lib)
    assert ds is not None and lib.get(ds).name == wf.SAMPLE_NAME
    assert lib.get(ds).n_examples == 10
    assert wf.seed_sample(lib) is None  # not twice
    lib.close()


def test_import_wizard_navigation() -> None:
    from phi4studio.core.datasets.importers.common import ImportIssue, ImportReport
    from phi4studio.core.datasets.importers.pipeline import ImportPreview
    from phi4studio.core.datasets.schema import Example

    nav = wf.ImportWizardNav()
    assert nav.page == wf.PAGE_SOURCE and not nav.can_next()
    nav.path, nav.new_name = Path("x.jsonl"), "X"
    assert nav.can_next() and nav.next_label() == "Preview"
    nav.previewed(ImportPreview("openai", [Example.from_dict(weather_example())]))
    assert nav.page == wf.PAGE_PREVIEW and nav.can_next() and nav.next_label() == "Import"
    assert not nav.allow_partial
    bad = ImportReport("x.jsonl", "openai", records=3, good=2,
                       skipped=[ImportIssue(3, "not valid JSON")])
    nav.imported(bad)
    assert nav.page == wf.PAGE_REPORT and nav.allow_partial and nav.can_next()
    assert nav.next_label() == "Import the 2 good example(s)"
    assert nav.back() and nav.page == wf.PAGE_PREVIEW and nav.report is None
    assert nav.back() and nav.page == wf.PAGE_SOURCE and nav.preview is None
    nav.previewed(ImportPreview("openai", []))  # nothing readable: cannot go on
    assert nav.page == wf.PAGE_PREVIEW and not nav.can_next()
    nav.imported(ImportReport("x", "openai", records=2, good=2, imported=2, committed=True))
    assert nav.page == wf.PAGE_DONE and not nav.back()


@pytest.mark.parametrize(("text", "paths"), [
    ('{"city": "Oslo"}', []),
    ('{"city": "Oslo", "unit": "kelvin"}', ["$.unit"]),
    ('{"unit": "celsius"}', ["$.city"]),
    ('{"city": 3, "town": "x"}', ["$.city", "$.town"]),
    ('{"city": ', ["$"]),
    ("[1]", ["$"]),
    ("", ["$"]),
])
def test_check_arguments_names_json_paths(text: str, paths: list[str]) -> None:
    issues = wf.check_arguments(text, WEATHER_TOOL["inputSchema"])
    assert sorted(i.path for i in issues) == paths
    if text == '{"city": ':
        assert issues[0].line == 1 and "not valid JSON" in issues[0].message


def test_check_arguments_reports_an_invalid_schema_and_formats() -> None:
    issues = wf.check_arguments('{"a": 1}', {"type": "object", "properties": {"a": {"type": 5}}})
    assert len(issues) == 1 and "itself invalid" in issues[0].message
    email = {"type": "object", "properties": {"to": {"type": "string", "format": "email"}}}
    assert [i.path for i in wf.check_arguments('{"to": "nope"}', email)] == ["$.to"]


async def test_synthesis_and_split_jobs(ws: Workspace) -> None:
    from phi4studio.core.datasets.workflows_synth import parse_mix, split_job, synth_job

    queue = JobQueue({"cpu": 1, "gpu": 1})
    lib = DatasetLibrary(lambda: ws, queue)
    tools = [WEATHER_TOOL, {"name": "add", "description": "Add two numbers.", "inputSchema": {
        "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"]}}]
    assert parse_mix("single=30%, parallel=0.2") == {"single": 30.0, "parallel": 0.2}
    job = synth_job(lib, tools=tools, n=40, seed=3, new_name="Syn")
    assert await queue.wait(job) is JobState.SUCCEEDED, job.error
    info = lib.get(job.made_dataset)
    assert info.name == "Syn" and info.n_examples == 40
    again = synth_job(lib, tools=tools, n=10, seed=3, dataset_id=info.id)
    assert lib.busy(info.id) is again
    await queue.wait(again)
    assert lib.get(info.id).n_examples == 50  # same seed, same ids: renamed, none lost
    bad = synth_job(lib, tools=[{"name": "x", "inputSchema": {"type": 7}}], n=5, new_name="Bad")
    assert await queue.wait(bad) is JobState.FAILED and "invalid" in (bad.error or "")
    assert [d.name for d in lib.datasets()] == ["Syn"]
    assert len(list(ws.datasets_dir.glob("*.sqlite"))) == 1

    sjob = split_job(lib, info.id, seed=1, holdout_tools=["add"])
    assert await queue.wait(sjob) is JobState.SUCCEEDED, sjob.error
    store = lib.store(info.id)
    assert set(store.counts_by("split")) <= {"train", "validation", "test"}
    assert store.count(ExampleFilter(called_tool="add", split="train")) == 0
    assert [v.name for v in store.versions.list()] == ["Before split (seed 1)"]
    await queue.shutdown()
    lib.close()
