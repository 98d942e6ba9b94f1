from __future__ import annotations

from pathlib import Path

import pytest
from dsfixtures import weather_example

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.query import ExampleFilter
from phi4studio.core.datasets.store import DatasetStore
from phi4studio.core.datasets.versions import CURRENT, Diff


def test_versions_count_added_changed_removed(store: DatasetStore) -> None:
    store.add_many([weather_example(i, city=f"City{i}") for i in range(5)])
    assert store.versions.changes_since_latest() == Diff(5, 0, 0)
    v1 = store.versions.create("first", note="imported")
    assert (v1.n_examples, v1.added, v1.changed, v1.removed) == (5, 5, 0, 0)
    assert store.versions.changes_since_latest().empty
    store.update(weather_example(1, city="Rome"))
    store.update(weather_example(2, city="Oslo"))
    store.delete(["ex-4"])
    store.add(weather_example(9))
    assert store.versions.changes_since_latest() == Diff(added=1, changed=2, removed=1)
    v2 = store.versions.create("second")
    assert (v2.n_examples, v2.added, v2.changed, v2.removed) == (5, 1, 2, 1)
    assert store.versions.diff(v1.id, v2.id) == Diff(1, 2, 1)
    assert store.versions.diff(v2.id, v1.id) == Diff(1, 2, 1)  # the other way round
    assert [v.name for v in store.versions.list()] == ["first", "second"]
    assert store.versions.get(v1.id).note == "imported"
    with pytest.raises(DatasetError, match="needs a name"):
        store.versions.create("  ")


def test_restore_is_one_undoable_edit_that_puts_rows_back_in_place(store: DatasetStore) -> None:
    store.add_many([weather_example(i, city=f"City{i}") for i in range(4)])
    v1 = store.versions.create("v1")
    before = [store.get_dict(i) for i in store.ids()]
    store.delete(["ex-1"])
    store.update(weather_example(2, city="Lima"))
    store.add(weather_example(7))
    d = store.versions.restore(v1.id)
    assert d == Diff(added=1, changed=1, removed=1)  # what the restore did to the dataset
    assert [store.get_dict(i) for i in store.ids()] == before  # same content, same order
    assert store.count(ExampleFilter(text="lima")) == 0
    assert store.versions.diff(v1.id, CURRENT).empty
    assert store.undo_label == "Restore version 'v1'"
    store.undo()
    assert "ex-7" in store and "ex-1" not in store
    store.redo()
    assert store.ids() == ["ex-0", "ex-1", "ex-2", "ex-3"]


def test_versions_survive_reopening_and_share_content(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite"
    with DatasetStore.create(path) as s:
        s.add_many([weather_example(i) for i in range(3)])
        s.versions.create("a")
        s.update(weather_example(0, city="Rome"))
        s.versions.create("b")
        blobs = s._conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]
        assert blobs == 4  # three originals + one changed example, stored once each
    with DatasetStore.open(path) as s:
        va, vb = s.versions.list()
        assert (vb.changed, vb.n_examples) == (1, 3)
        s.versions.delete(va.id)
        assert [v.name for v in s.versions.list()] == ["b"]
        assert s._conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 3
        s.versions.rename(vb.id, "release", note="for training")
        assert s.versions.get(vb.id).name == "release"
        with pytest.raises(DatasetError, match="No version"):
            s.versions.restore(va.id)


def test_restore_in_place_is_undoable_and_a_job_restore_keeps_the_state_before(
        store: DatasetStore) -> None:
    from phi4studio.core.datasets.workflows_versions import restore_in_place, restore_with_backup

    store.add_many([weather_example(i, city=f"C{i}") for i in range(4)])
    v = store.versions.create("v1")
    store.delete(["ex-0"])
    mark = store.undo_mark
    report = restore_in_place(store, v.id)
    assert report.changes == Diff(1, 0, 0) and report.kept is None and "ex-0" in store
    assert store.undo_mark != mark and store.undo() == "Restore version 'v1'"
    assert "ex-0" not in store
    report = restore_with_backup(store, v.id)
    assert report.kept is not None and report.kept.name == "Before restoring 'v1'"
    assert "ex-0" in store and store.versions.diff(report.kept.id) == Diff(1, 0, 0)
    assert restore_with_backup(store, v.id).kept is None  # nothing to keep: already equal
    store.clear_history()
    assert not store.can_undo and store.undo_mark == 0
