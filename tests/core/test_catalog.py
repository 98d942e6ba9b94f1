"""The workspace catalog (SQLite, WAL, migrations), workspace folder checks, atomic writes."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.errors import CatalogVersionError, WorkspaceError, path_error
from phi4studio.core.fileio import atomic_open, atomic_write_bytes, atomic_write_json
from phi4studio.core.jobs import JobState
from phi4studio.core.jobs.model import Job
from phi4studio.core.workspace import catalog as catalog_mod
from phi4studio.core.workspace import check_writable, open_workspace
from phi4studio.core.workspace.catalog import SCHEMA_VERSION, Catalog, open_catalog
from phi4studio.core.workspace.workspace import SUBDIRS


@pytest.fixture
def cat(tmp_path: Path) -> Any:
    c = Catalog(tmp_path / "catalog.sqlite")
    yield c
    c.close()


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as c:
        rows = c.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def user_version(path: Path) -> int:
    c = sqlite3.connect(path)
    try:
        return int(c.execute("PRAGMA user_version").fetchone()[0])
    finally:
        c.close()


def make_db(path: Path, version: int, wal: bool = False) -> bytes:
    c = sqlite3.connect(path)
    if wal:
        c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE keep (x TEXT)")
    c.execute("INSERT INTO keep VALUES ('precious')")
    c.execute(f"PRAGMA user_version={version}")
    c.commit()
    c.close()
    return path.read_bytes()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(folder.rglob("*"))}


# --- creation and schema --------------------------------------------------------------------

def test_new_catalog_has_the_schema_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    c = Catalog(path)
    assert c.version == SCHEMA_VERSION == user_version(path)
    assert {"datasets", "runs", "exports", "evaluations", "jobs"} <= tables(path)
    assert c.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    c.add("datasets", name="d", path="/d")
    assert Path(f"{path}-wal").exists()  # writes go to the write-ahead log
    # A second connection (another process, the dataset store...) sees committed writes.
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent
    assert other.execute("SELECT name FROM datasets").fetchall() == [("d",)]
    other.close()
    c.close()
    c2 = Catalog(path)  # reopening runs no migration and loses nothing
    assert c2.version == SCHEMA_VERSION and len(c2.records("datasets")) == 1
    c2.close()


@pytest.mark.parametrize("kind", ["zero-bytes", "v0-with-data"])
def test_migration_from_an_empty_v0_database(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "catalog.sqlite"
    if kind == "zero-bytes":
        path.write_bytes(b"")
    else:
        make_db(path, version=0)
    assert user_version(path) == 0
    c = Catalog(path)
    assert c.version == SCHEMA_VERSION
    assert {"datasets", "runs", "exports", "evaluations", "jobs"} <= tables(path)
    if kind == "v0-with-data":
        rows = c.conn.execute("SELECT x FROM keep").fetchall()
        assert [r[0] for r in rows] == ["precious"]
    c.close()


def test_a_failing_migration_changes_nothing(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    before = tables(path)
    bad = "CREATE TABLE added_by_v2 (x TEXT);\nTHIS IS NOT SQL;\n"
    monkeypatch.setattr(catalog_mod, "MIGRATIONS", [*catalog_mod.MIGRATIONS, bad])
    monkeypatch.setattr(catalog_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(WorkspaceError) as info:
        Catalog(path)
    assert str(path) in str(info.value)
    assert user_version(path) == SCHEMA_VERSION  # still the old version...
    assert tables(path) == before  # ...and no half-applied schema


def test_a_later_migration_upgrades_in_place(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "catalog.sqlite"
    c = Catalog(path)
    ds = c.add("datasets", name="kept", path="/k")
    c.close()
    step = "ALTER TABLE datasets ADD COLUMN license TEXT NOT NULL DEFAULT 'unknown';"
    monkeypatch.setattr(catalog_mod, "MIGRATIONS", [*catalog_mod.MIGRATIONS, step])
    monkeypatch.setattr(catalog_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    c = Catalog(path)
    assert c.version == SCHEMA_VERSION + 1
    row = c.get("datasets", ds)
    assert row is not None and row["name"] == "kept" and row["license"] == "unknown"
    c.close()


# --- refusals: newer version, damaged file --------------------------------------------------

@pytest.mark.parametrize("wal", [False, True])
def test_newer_catalog_is_refused_and_left_byte_identical(tmp_path: Path, wal: bool) -> None:
    path = tmp_path / "catalog.sqlite"
    raw = make_db(path, version=SCHEMA_VERSION + 3, wal=wal)
    mtime = path.stat().st_mtime_ns
    with pytest.raises(CatalogVersionError) as info:
        Catalog(path)
    msg = str(info.value)
    assert str(path) in msg and f"version {SCHEMA_VERSION + 3}" in msg
    assert "Nothing was changed" in msg
    assert path.read_bytes() == raw and path.stat().st_mtime_ns == mtime
    assert user_version(path) == SCHEMA_VERSION + 3


def test_open_workspace_refuses_a_newer_catalog_before_writing_anything(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    raw = make_db(root / "catalog.sqlite", version=SCHEMA_VERSION + 1)
    with pytest.raises(CatalogVersionError):
        open_workspace(root)
    assert (root / "catalog.sqlite").read_bytes() == raw
    assert not any((root / sub.split("/")[0]).exists() for sub in SUBDIRS)  # no folders made
    assert not list(root.glob(".write-test-*"))


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"this is a text file, not a catalog\n" * 100, id="text"),
        pytest.param(b"SQLite format 3\x00" + b"\xff" * 200, id="bad-header"),
    ],
)
def test_damaged_catalog_gives_a_workspace_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(content)
    with pytest.raises(WorkspaceError) as info:
        Catalog(path)
    assert not isinstance(info.value, CatalogVersionError)
    assert str(path) in str(info.value) and "damaged" in str(info.value)
    assert info.value.hint
    assert path.read_bytes() == content
    with pytest.raises(WorkspaceError):
        open_workspace(tmp_path)
    assert path.read_bytes() == content


def test_truncated_catalog_gives_a_workspace_error(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws")
    for i in range(100):
        ws.catalog.add("datasets", name=f"d{i}", path=f"/data/{i}", meta={"pad": "x" * 1000})
    path = ws.catalog.path
    ws.close()
    data = path.read_bytes()
    assert not Path(f"{path}-wal").exists()  # checkpointed on close: the data is in the file
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WorkspaceError, match="damaged"):
        open_workspace(tmp_path / "ws")


def test_damaged_jobs_table_gives_a_workspace_error(tmp_path: Path) -> None:
    """The header reads fine; the page that the start-up update touches does not."""
    ws = open_workspace(tmp_path / "ws")
    for i in range(20):
        ws.catalog.record_job(Job(f"job {i}"))
    path = ws.catalog.path
    page = ws.catalog.conn.execute("PRAGMA page_size").fetchone()[0]
    root = ws.catalog.conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'jobs'"
    ).fetchone()[0]
    ws.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page:root * page] = b"\xab" * page
    path.write_bytes(bytes(data))
    with pytest.raises(WorkspaceError, match="damaged") as info:
        open_workspace(tmp_path / "ws")
    assert str(path) in str(info.value)


# --- entities -------------------------------------------------------------------------------

def test_entity_crud_with_json_columns(cat: Catalog) -> None:
    meta = {"source": "bfcl", "tags": ["tools", "émoji ✓"], "nested": {"n": 1.5, "ok": True}}
    ds = cat.add("datasets", name="weather", path=Path("/data/weather"), n_examples=120, meta=meta)
    got = cat.get("datasets", ds)
    assert got is not None
    assert got["meta"] == meta  # JSON in, the same structure out
    assert got["path"] == "/data/weather"  # Paths are stored as text
    assert got["n_examples"] == 120
    assert got["created_at"] == got["updated_at"]
    raw = cat.conn.execute("SELECT meta FROM datasets WHERE id = ?", (ds,)).fetchone()[0]
    assert json.loads(raw) == meta

    run = cat.add("runs", name="lora-1", dataset_id=ds, path="/runs/1",
                  config={"lr": 2e-4, "rank": 16}, metrics={})
    cat.add("exports", name="int4", run_id=run, path="/exports/1", meta={"precision": "int4"})
    cat.add("evaluations", name="bfcl", path="/evals/1", metrics={"ast": 0.91})

    time.sleep(0.002)
    cat.update("datasets", ds, n_examples=121, meta={"source": "bfcl", "tags": []})
    after = cat.get("datasets", ds)
    assert after is not None and after["n_examples"] == 121 and after["meta"]["tags"] == []
    assert after["updated_at"] > got["updated_at"]
    cat.update("runs", run, status="done", metrics={"loss": [2.1, 1.4, 0.9]})
    r = cat.get("runs", run)
    assert r is not None and r["metrics"] == {"loss": [2.1, 1.4, 0.9]}
    assert r["config"] == {"lr": 2e-4, "rank": 16} and r["status"] == "done"

    assert [d["name"] for d in cat.records("datasets")] == ["weather"]
    assert cat.records("evaluations")[0]["metrics"] == {"ast": 0.91}

    with pytest.raises(KeyError):
        cat.update("datasets", "no-such-id", name="x")
    assert cat.get("datasets", "no-such-id") is None

    # Deleting a dataset keeps its runs, unlinked (ON DELETE SET NULL: foreign keys are on).
    cat.delete("datasets", ds)
    assert cat.get("datasets", ds) is None
    r = cat.get("runs", run)
    assert r is not None and r["dataset_id"] is None
    with pytest.raises(sqlite3.IntegrityError):
        cat.add("runs", name="orphan", dataset_id="missing", path="/runs/x")
    assert [x["name"] for x in cat.records("runs")] == ["lora-1"]


def test_only_catalog_tables_are_accepted(cat: Catalog) -> None:
    for table in ("jobs", "sqlite_master", "datasets; DROP TABLE runs"):
        with pytest.raises(ValueError, match="unknown catalog table"):
            cat.add(table, name="x", path="/x")
        with pytest.raises(ValueError):
            cat.records(table)
    assert "runs" in tables(cat.path)


def test_transaction_rolls_back_on_error(cat: Catalog) -> None:
    cat.add("datasets", name="before", path="/b")
    with pytest.raises(RuntimeError), cat.transaction() as tx:
        tx.execute("DELETE FROM datasets")
        raise RuntimeError("midway")
    assert [d["name"] for d in cat.records("datasets")] == ["before"]
    # The connection is usable afterwards (no transaction left open).
    cat.add("datasets", name="after", path="/a")
    assert len(cat.records("datasets")) == 2


# --- job history ----------------------------------------------------------------------------

def make_job(name: str, state: JobState, t: float) -> Job:
    job = Job(name, category="training")
    job.state = state
    job.created_at = t
    return job


def test_job_history_record_mark_interrupted_and_limit(cat: Catalog) -> None:
    base = 1_700_000_000.0
    jobs = [
        make_job("done", JobState.SUCCEEDED, base),
        make_job("broken", JobState.FAILED, base + 1),
        make_job("was running", JobState.RUNNING, base + 2),
        make_job("was waiting", JobState.PENDING, base + 3),
    ]
    jobs[1].error = "exit code 3\nstderr tail"
    jobs[2].started_at = base + 2.5
    jobs[2].progress = 0.4
    for j in jobs:
        cat.record_job(j)
    jobs[0].message = "all good"
    jobs[0].finished_at = base + 0.5
    cat.record_job(jobs[0])  # an update, not a second row

    rows = cat.job_history()
    assert [r["name"] for r in rows] == ["done", "broken", "was running", "was waiting"]
    assert rows[0]["message"] == "all good" and rows[0]["finished_at"] == base + 0.5
    assert rows[1]["error"] == "exit code 3\nstderr tail"

    assert cat.mark_interrupted() == 2
    rows = {r["name"]: r for r in cat.job_history()}
    assert rows["was running"]["state"] == "interrupted"
    assert rows["was running"]["message"].endswith("was running")
    assert rows["was running"]["progress"] == 0.4
    assert rows["was waiting"]["message"].endswith("was pending")
    assert rows["was running"]["finished_at"] is not None
    assert rows["done"]["state"] == "succeeded" and rows["done"]["finished_at"] == base + 0.5
    assert cat.mark_interrupted() == 0  # idempotent

    assert [r["name"] for r in cat.job_history(limit=2)] == ["was running", "was waiting"]
    live = make_job("live", JobState.RUNNING, base + 10)
    cat.record_job(live)
    cat.clear_job_history()
    assert [r["name"] for r in cat.job_history()] == ["live"]


# --- the workspace folder -------------------------------------------------------------------

def test_open_workspace_creates_its_layout(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "new" / "ws")
    assert ws.root == (tmp_path / "new" / "ws").resolve()
    for sub in SUBDIRS:
        assert (ws.root / sub).is_dir()
    assert ws.catalog.version == SCHEMA_VERSION
    assert ws.job_logs_dir == ws.root / "logs" / "jobs"
    assert ws.free_bytes() > 0
    assert not list(ws.root.glob(".write-test-*"))  # the write probe cleans up after itself
    ws.close()


def _assert_names(exc: BaseException, path: Path) -> None:
    assert isinstance(exc, WorkspaceError)
    assert str(path) in str(exc), f"the error does not name {path}: {exc}"


def test_workspace_under_a_regular_file_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    target = blocker / "ws"
    with pytest.raises(WorkspaceError) as info:
        open_workspace(target)
    _assert_names(info.value, target)
    with pytest.raises(WorkspaceError) as info:
        check_writable(target)
    _assert_names(info.value, target)
    with pytest.raises(WorkspaceError) as info:
        open_catalog(target / "catalog.sqlite")
    _assert_names(info.value, target)
    with pytest.raises(WorkspaceError) as info:
        Catalog(target / "catalog.sqlite")
    _assert_names(info.value, target)
    assert blocker.read_text() == "a file, not a folder"


def test_workspace_that_is_a_file_names_the_path(tmp_path: Path) -> None:
    target = tmp_path / "ws"
    target.write_text("x")
    with pytest.raises(WorkspaceError) as info:
        open_workspace(target)
    _assert_names(info.value, target)
    assert target.read_text() == "x"


def test_unwritable_workspace_folder_names_the_path(tmp_path: Path) -> None:
    target = tmp_path / "locked"
    target.mkdir()
    target.chmod(0o500)
    try:
        probe = target / "probe"
        try:
            probe.write_bytes(b"")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("this user ignores file permissions (root); see the tests above")
        with pytest.raises(WorkspaceError) as info:
            open_workspace(target)
        _assert_names(info.value, target)
        assert info.value.hint and "write" in info.value.hint
    finally:
        target.chmod(0o700)


def test_nearly_full_disk_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from phi4studio.core.workspace import workspace as ws_mod

    real = ws_mod.shutil.disk_usage

    def tiny(path: Any) -> Any:
        u = real(path)
        return type(u)(u.total, u.total - 10 * 1024 * 1024, 10 * 1024 * 1024)

    monkeypatch.setattr(ws_mod.shutil, "disk_usage", tiny)
    with pytest.raises(WorkspaceError) as info:
        open_workspace(tmp_path / "ws")
    _assert_names(info.value, (tmp_path / "ws").resolve())
    assert "10 MiB free" in str(info.value)


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.EACCES, "permissions"), (errno.EROFS, "write to"), (errno.ENOSPC, "disk is full")],
)
def test_path_errors_say_what_to_do(code: int, words: str) -> None:
    exc = path_error("write", Path("/data/ws/x.json"), OSError(code, os.strerror(code)))
    assert str(Path("/data/ws/x.json")) in exc.message
    assert exc.hint is not None and words in exc.hint


# --- atomic writes --------------------------------------------------------------------------

def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "config.json"
    atomic_write_json(target, {"lr": 1e-4, "name": "ünïcode"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"lr": 1e-4, "name": "ünïcode"}
    atomic_write_json(target, {"lr": 2e-4})
    assert json.loads(target.read_text(encoding="utf-8")) == {"lr": 2e-4}
    assert _leftovers(target.parent) == []


def test_error_inside_the_block_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("old report")
    with pytest.raises(RuntimeError, match="midway"), atomic_open(target) as fh:
        fh.write("new rep")
        fh.flush()
        assert _leftovers(tmp_path)  # the new content goes to a temp file beside the target
        raise RuntimeError("midway")
    assert target.read_text() == "old report"
    assert _leftovers(tmp_path) == []


def test_os_error_inside_the_block_keeps_the_old_file_and_names_it(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(b"old weights")
    with pytest.raises(WorkspaceError) as info, atomic_open(target, "wb") as fh:
        fh.write(b"\x00" * 1024)
        raise OSError(errno.ENOSPC, "No space left on device")
    _assert_names(info.value, target)
    assert info.value.hint is not None and "disk is full" in info.value.hint
    assert target.read_bytes() == b"old weights"
    assert _leftovers(tmp_path) == []


def test_atomic_write_under_a_regular_file_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "out.json"
    with pytest.raises(WorkspaceError) as info:
        atomic_write_bytes(target, b"{}")
    _assert_names(info.value, target)


def test_atomic_write_only_supports_whole_file_modes(tmp_path: Path) -> None:
    with pytest.raises(ValueError), atomic_open(tmp_path / "x", "a"):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_atomic_write_gives_ordinary_file_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    plain = tmp_path / "plain.json"
    plain.write_text("{}")  # what an ordinary write makes
    new = tmp_path / "new.json"
    atomic_write_json(new, {})
    assert stat.S_IMODE(new.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask
    shared = tmp_path / "shared.json"
    shared.write_text("{}")
    shared.chmod(0o664)
    atomic_write_json(shared, {"a": 1})
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664  # an existing file keeps its mode


def test_a_plain_string_in_a_json_column_round_trips(cat: Catalog) -> None:
    rid = cat.add("runs", name="r", path="/runs/r", config="just a note", metrics=["a", 1])
    row = cat.get("runs", rid)
    assert row is not None and row["config"] == "just a note" and row["metrics"] == ["a", 1]


def test_a_refused_newer_catalog_gets_no_side_files(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CatalogVersionError):
        open_workspace(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
