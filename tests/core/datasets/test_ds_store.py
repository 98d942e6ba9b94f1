from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from dsfixtures import chat_example, weather_example

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.query import NONE, ExampleFilter, fts_query
from phi4studio.core.datasets.store import DatasetStore, StoreEvent
from phi4studio.core.jobs.model import JobCancelled

CITIES = ["Paris", "Oslo", "Rome", "Lisbon", "Berlin", "Madrid", "Vienna", "Prague"]


def fill(store: DatasetStore) -> None:
    store.add_many(
        [weather_example(i, city=c, split="train" if i % 2 else None) for i, c in enumerate(CITIES)]
        + [chat_example(i, f"Tell me a joke number {i}") for i in range(3)],
        label="Import",
    )


def test_create_open_and_file_layout(tmp_path: Path) -> None:
    path = tmp_path / "datasets" / "a.sqlite"
    s = DatasetStore.create(path, "Weather")
    s.add(weather_example())
    s.close()
    with pytest.raises(DatasetError, match="already exists"):
        DatasetStore.create(path)
    with DatasetStore.open(path) as s2:
        assert s2.name == "Weather"
        assert s2.count() == 1
        assert s2.get("ex-0") is not None
        mode = s2._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_open_refuses_missing_foreign_and_newer_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="No dataset file"):
        DatasetStore.open(tmp_path / "nope.sqlite")
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.commit()
    with pytest.raises(DatasetError, match="not a Phi-4 Studio dataset"):
        DatasetStore.open(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(DatasetError, match="damaged"):
        DatasetStore.open(junk)
    newer = tmp_path / "newer.sqlite"
    DatasetStore.create(newer).close()
    c = sqlite3.connect(newer)
    c.execute("PRAGMA user_version=99")
    c.close()
    with pytest.raises(DatasetError, match="newer"):
        DatasetStore.open(newer)


def test_filters_counts_and_paging(store: DatasetStore) -> None:
    fill(store)
    assert store.count() == 11
    assert store.count(ExampleFilter(scenario="single")) == 8
    assert store.count(ExampleFilter(split="train")) == 4
    assert store.count(ExampleFilter(split=NONE)) == 7
    assert store.count(ExampleFilter(tool="send_email")) == 3  # offered, never called
    assert store.count(ExampleFilter(called_tool="send_email")) == 0
    assert store.count(ExampleFilter(called_tool="get_weather")) == 8
    assert store.count(ExampleFilter(validity="unchecked")) == 11
    assert store.count(ExampleFilter(source="test", scenario="irrelevance")) == 3
    first = store.page(limit=4)
    assert [r.id for r in first] == ["ex-0", "ex-1", "ex-2", "ex-3"]
    assert first[0].called_tools == ["get_weather"] and first[0].n_calls == 1
    assert first[0].preview == "What's the weather in Paris today?"
    nxt = store.page_after(after_pos=first[-1].pos, limit=4)
    assert [r.id for r in nxt] == ["ex-4", "ex-5", "ex-6", "ex-7"]
    assert [r.id for r in store.page(offset=4, limit=4)] == [r.id for r in nxt]
    flt = ExampleFilter(scenario="single", split="train")
    assert [r.id for r in store.page(flt)] == ["ex-1", "ex-3", "ex-5", "ex-7"]
    assert store.row_index("ex-5", flt) == 2
    assert store.counts_by("split") == {None: 7, "train": 4}
    assert store.tool_counts() == {"get_weather": (11, 8), "send_email": (3, 0)}


def test_full_text_search(store: DatasetStore) -> None:
    fill(store)
    assert [r.id for r in store.page(ExampleFilter(text="oslo"))] == ["ex-1"]
    assert [r.id for r in store.page(ExampleFilter(text="lisb"))] == ["ex-3"]  # prefix
    assert store.count(ExampleFilter(text="joke number")) == 3
    assert store.count(ExampleFilter(text="weather Rome")) == 1
    assert store.count(ExampleFilter(text="cloudy", scenario="irrelevance")) == 0
    assert store.count(ExampleFilter(text='"; DROP TABLE examples; --')) == 0
    assert fts_query("a-b c") == '"a" "b" "c"*'
    # edits and deletes keep the index in step
    store.update(weather_example(1, city="Zürich"))
    assert store.count(ExampleFilter(text="oslo")) == 0
    assert store.count(ExampleFilter(text="zurich")) == 1  # diacritics folded
    store.delete(["ex-1"])
    assert store.count(ExampleFilter(text="zürich")) == 0


def test_tag_and_id_filters(store: DatasetStore) -> None:
    fill(store)
    store.set_fields(["ex-2", "ex-4"], add_tags=["reviewed"])
    assert store.ids(ExampleFilter(tag="reviewed")) == ["ex-2", "ex-4"]
    assert store.count(ExampleFilter(ids=("ex-4", "chat-0", "nope"))) == 2


def test_add_conflicts(store: DatasetStore) -> None:
    store.add(weather_example(1))
    with pytest.raises(DatasetError, match="already exists"):
        store.add(weather_example(1))
    assert store.add(weather_example(1), on_conflict="rename") == "ex-1-2"
    res = store.add_many([weather_example(1, city="Rome")], on_conflict="replace")
    assert res.replaced == 1 and res.added == 0
    assert store.get("ex-1").messages[1].content.endswith("Rome today?")  # type: ignore[union-attr]
    res = store.add_many([weather_example(1), weather_example(9)], on_conflict="skip")
    assert (res.added, res.skipped) == (1, 1)
    with pytest.raises(DatasetError, match=r"\$\.messages\[0\]\.role"):
        store.add({"id": "bad", "messages": [{"role": "robot"}]})


def test_every_edit_is_one_transaction(store: DatasetStore) -> None:
    store.add(weather_example(0))

    def examples():
        yield weather_example(1)
        yield weather_example(2)
        yield {"id": "broken", "messages": "nope"}

    with pytest.raises(DatasetError):
        store.add_many(examples())
    assert store.ids() == ["ex-0"]  # nothing of the failed batch was kept
    assert store.undo_label == "Add ex-0"


def test_cancel_rolls_back_a_bulk_add(store: DatasetStore) -> None:
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 1

    with pytest.raises(JobCancelled):
        store.add_many((weather_example(i) for i in range(1000)), cancelled=cancelled)
    assert store.count() == 0


def test_undo_redo_over_add_update_delete_and_bulk(store: DatasetStore) -> None:
    fill(store)
    before = [store.get_dict(i) for i in store.ids()]
    store.update(weather_example(2, city="Naples"))
    store.delete(["ex-0", "ex-5"])
    n = store.set_fields(ExampleFilter(scenario="single"), split="test", add_tags=["x"])
    assert n == 6
    assert store.undo_label == "Edit 6 example(s)"
    assert store.undo() == "Edit 6 example(s)"
    assert store.count(ExampleFilter(split="test")) == 0
    assert store.undo() == "Delete 2 example(s)"
    assert store.ids()[:2] == ["ex-0", "ex-1"]  # back in their old places
    assert store.undo() == "Edit ex-2"
    assert [store.get_dict(i) for i in store.ids()] == before
    assert store.undo() == "Import"
    assert store.count() == 0 and not store.can_undo
    assert store.undo() is None
    assert store.redo() == "Import"
    assert store.redo() == "Edit ex-2"
    assert "Naples" in store.get_dict("ex-2")["messages"][1]["content"]  # type: ignore[index]
    # a new edit drops the redo stack
    store.delete(["ex-3"])
    assert not store.can_redo and store.redo() is None
    assert store.count(ExampleFilter(text="lisbon")) == 0
    store.undo()
    assert store.count(ExampleFilter(text="lisbon")) == 1  # search index restored too


def test_undo_log_is_per_session(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    s = DatasetStore.create(path)
    s.add(weather_example())
    assert s.can_undo
    s.close()
    with DatasetStore.open(path) as s2:
        assert not s2.can_undo and s2.count() == 1


def test_record_undo_false_skips_the_log(store: DatasetStore) -> None:
    store.add_many([weather_example(i) for i in range(3)], record_undo=False)
    assert store.count() == 3 and not store.can_undo


def test_listeners_hear_committed_changes(store: DatasetStore) -> None:
    events: list[StoreEvent] = []
    store.add_listener(events.append)
    store.add(weather_example())
    store.undo()
    assert [(e.kind, e.count) for e in events] == [("changed", 1), ("undo", 1)]


def test_validation_results_follow_content(store: DatasetStore) -> None:
    store.add(weather_example(1))
    d = store.get_dict("ex-1")
    assert d is not None
    h = store._conn.execute("SELECT data_hash FROM examples").fetchone()[0]
    store.record_checks([(h, "error", 1, 0, [{"path": "$.x", "message": "bad"}])])
    assert store.count(ExampleFilter(validity="error")) == 1
    assert store.issues("ex-1") == [{"path": "$.x", "message": "bad"}]
    store.update(weather_example(1, city="Rome"))
    assert store.count(ExampleFilter(validity="unchecked")) == 1  # changed: not checked yet
    assert store.issues("ex-1") is None
    store.undo()
    assert store.page()[0].validity == "error"  # old content, old result


def test_iteration_is_batched_and_complete(store: DatasetStore) -> None:
    store.add_many([weather_example(i) for i in range(25)])
    batches = list(store.iter_batches(batch_size=10))
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [e.id for e in store.iter_examples(ExampleFilter(text="paris"), batch_size=7)] == [
        f"ex-{i}" for i in range(25)
    ]


def test_store_is_usable_from_two_threads(store: DatasetStore) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(50):
                store.add(weather_example(100 + i))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    for _ in range(50):
        store.page(limit=5)
        store.count(ExampleFilter(text="paris"))
    t.join()
    assert not errors and store.count() == 50


def test_data_column_is_canonical_json(store: DatasetStore) -> None:
    store.add(weather_example(3))
    raw = store._conn.execute("SELECT data FROM examples").fetchone()[0]
    assert json.loads(raw) == weather_example(3)
