"""Settings: defaults, round trip, migrations, corrupt and newer files, the Preferences form."""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from phi4studio.core import settings as settings_mod
from phi4studio.core.errors import WorkspaceError
from phi4studio.core.settings import (
    MIGRATIONS,
    SCHEMA_VERSION,
    InferenceDevice,
    Settings,
    SettingsStore,
    form_spec,
    migrate,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "settings.json"


def write(path: Path, data: Any) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    path.write_bytes(raw)
    return raw


def asides(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.stem}.corrupt-*{path.suffix}"))


def on_disk(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# --- defaults and round trip ----------------------------------------------------------------

def test_no_file_gives_defaults_without_a_message(path: Path) -> None:
    res = SettingsStore(path).load()
    assert res.settings == Settings()
    assert res.message is None and res.read_only is False
    assert res.settings.schema_version == SCHEMA_VERSION
    assert res.settings.workspace is None
    assert res.settings.inference_device is InferenceDevice.auto
    assert not path.exists()  # loading alone writes nothing


def test_round_trip_keeps_every_field(path: Path) -> None:
    changed: dict[str, Any] = {
        "workspace": "/data/ws",
        "training_python": "/opt/py/bin/python",
        "inference_device": InferenceDevice.cuda,
        "cpu_job_slots": 5,
        "cancel_grace_s": 42.5,
        "theme": "dark",
        "max_recent": 3,
    }
    # Every user field is set to something other than its default (a new field joins here).
    assert set(changed) == set(Settings.model_fields) - {"schema_version", "recent_workspaces"}
    defaults = Settings()
    assert all(getattr(defaults, k) != v for k, v in changed.items())
    s = Settings(**changed)
    for ws in ("/a", "/b", "/c", "/a", "/d"):
        s.remember_workspace(ws)
    assert s.recent_workspaces == ["/d", "/a", "/c"]  # newest first, no duplicates, capped
    store = SettingsStore(path)
    store.save(s)
    assert on_disk(path)["inference_device"] == "cuda"
    assert on_disk(path)["schema_version"] == SCHEMA_VERSION
    res = SettingsStore(path).load()
    assert res.message is None
    assert res.settings == s
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temp files left


def test_assignment_is_validated() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.cpu_job_slots = 0
    with pytest.raises(ValidationError):
        s.theme = "pink"  # type: ignore[assignment]
    assert s.cpu_job_slots == Settings().cpu_job_slots


def test_unknown_keys_are_ignored(path: Path) -> None:
    write(path, {"schema_version": SCHEMA_VERSION, "theme": "light", "from_a_plugin": 1})
    res = SettingsStore(path).load()
    assert res.message is None
    assert res.settings.theme == "light"
    assert asides(path) == []


# --- migrations -----------------------------------------------------------------------------

V0 = {"workspace_dir": "/data/old-ws", "recent": ["/data/old-ws", "/data/x"], "theme": "dark"}


def test_each_migration_step_on_its_own() -> None:
    assert sorted(MIGRATIONS) == list(range(SCHEMA_VERSION))  # a step for every version
    v1 = migrate(dict(V0), target=1)
    assert v1["schema_version"] == 1
    assert v1["workspace"] == "/data/old-ws"
    assert v1["recent_workspaces"] == ["/data/old-ws", "/data/x"]
    assert "workspace_dir" not in v1 and "recent" not in v1
    for use_gpu, device in ((True, "auto"), (False, "cpu")):
        v2 = migrate({"schema_version": 1, "use_gpu": use_gpu})
        assert v2 == {"schema_version": 2, "inference_device": device}
    # An explicit device is never overridden by the old flag.
    v2 = migrate({"schema_version": 1, "use_gpu": False, "inference_device": "cuda"})
    assert v2["inference_device"] == "cuda" and "use_gpu" not in v2
    # The input dict is not changed in place.
    raw = dict(V0)
    migrate(raw)
    assert raw == V0


def test_v0_file_is_migrated_and_saved(path: Path) -> None:
    write(path, V0)
    res = SettingsStore(path).load()
    assert res.message is None
    s = res.settings
    assert s.workspace == "/data/old-ws"
    assert s.recent_workspaces == ["/data/old-ws", "/data/x"]
    assert s.theme == "dark"
    saved = on_disk(path)
    assert saved["schema_version"] == SCHEMA_VERSION
    assert "workspace_dir" not in saved and "recent" not in saved
    assert asides(path) == []


def test_v1_file_is_migrated_and_saved(path: Path) -> None:
    write(path, {"schema_version": 1, "workspace": "/w", "use_gpu": False, "cpu_job_slots": 3})
    res = SettingsStore(path).load()
    assert res.message is None
    assert res.settings.inference_device is InferenceDevice.cpu
    assert res.settings.cpu_job_slots == 3
    saved = on_disk(path)
    assert saved["schema_version"] == SCHEMA_VERSION
    assert saved["inference_device"] == "cpu" and "use_gpu" not in saved


def test_migrated_file_that_cannot_be_saved_still_loads(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = write(path, {"schema_version": 1, "use_gpu": False})

    def refuse(p: Any, obj: Any, **kw: Any) -> None:
        raise WorkspaceError(f"Cannot write {p}: Read-only file system")

    monkeypatch.setattr(settings_mod, "atomic_write_json", refuse)
    res = SettingsStore(path).load()
    assert res.settings.inference_device is InferenceDevice.cpu
    assert res.message is not None and "Read-only file system" in res.message
    assert path.read_bytes() == raw


# --- corrupt and invalid files --------------------------------------------------------------

@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"{not json", id="bad-json"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
        pytest.param(b"[1, 2, 3]", id="not-an-object"),
        pytest.param(b'{"schema_version": 2, "cpu_job_slots": 0}', id="out-of-range"),
        pytest.param(b'{"schema_version": 2, "theme": "pink"}', id="bad-choice"),
        pytest.param(b'{"schema_version": 2, "inference_device": "tpu"}', id="bad-enum"),
        pytest.param(b'{"schema_version": 1, "cancel_grace_s": "soon"}', id="bad-type-old"),
        pytest.param(b'{"schema_version": "two"}', id="version-not-a-number"),
        pytest.param(b'{"schema_version": null}', id="version-null"),
        pytest.param(b'{"schema_version": [2]}', id="version-list"),
        pytest.param(b'{"schema_version": -1}', id="version-negative"),
    ],
)
def test_unreadable_file_is_moved_aside_and_defaults_load(path: Path, content: bytes) -> None:
    write(path, content)
    res = SettingsStore(path).load()
    assert res.settings == Settings()
    assert res.read_only is False
    kept = asides(path)
    assert len(kept) == 1
    assert kept[0].read_bytes() == content  # kept, byte for byte
    assert not path.exists()
    assert res.message is not None
    assert str(path) in res.message and kept[0].name in res.message
    assert "defaults" in res.message


def test_every_corrupt_file_is_kept(path: Path) -> None:
    store = SettingsStore(path)
    for n in range(3):  # same second: the names must still differ
        write(path, f"corrupt {n}".encode())
        assert store.load().message is not None
    kept = asides(path)
    assert sorted(p.read_text() for p in kept) == ["corrupt 0", "corrupt 1", "corrupt 2"]
    store.save(Settings(theme="light"))  # saving after that writes a fresh, valid file
    assert SettingsStore(path).load().settings.theme == "light"
    assert len(asides(path)) == 3


# --- a file from a newer version ------------------------------------------------------------

def test_newer_file_is_left_untouched_and_never_saved_over(path: Path) -> None:
    raw = write(path, {"schema_version": SCHEMA_VERSION + 1, "theme": "dark", "new_thing": 1})
    os.utime(path, (1_000_000_000, 1_000_000_000))
    store = SettingsStore(path)
    res = store.load()
    assert res.read_only is True and store.read_only is True
    assert res.settings == Settings()
    assert res.message is not None and "newer" in res.message and str(path) in res.message
    store.save(Settings(theme="light"))
    assert path.read_bytes() == raw
    assert path.stat().st_mtime == 1_000_000_000
    assert asides(path) == []
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]


# --- the Preferences form -------------------------------------------------------------------

def _ui_fields() -> dict[str, str]:
    out = {}
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and isinstance(extra.get("ui"), str):
            out[name] = str(extra["ui"])
    return out


def test_form_spec_covers_the_annotated_fields_in_order() -> None:
    specs = form_spec()
    assert [s.name for s in specs] == list(_ui_fields())
    assert {s.name: s.kind for s in specs} == _ui_fields()
    names = {s.name for s in specs}
    assert "schema_version" not in names and "recent_workspaces" not in names
    for s in specs:
        assert s.title and s.title != s.name  # a human title, not the attribute name


def test_form_spec_kinds_match_the_values_they_edit() -> None:
    defaults = Settings()
    py_type = {"bool": bool, "int": int, "float": float}
    for s in form_spec():
        value = getattr(defaults, s.name)
        if s.kind in py_type:
            assert type(value) is py_type[s.kind], s.name
        elif s.kind in ("path_dir", "path_file", "text"):
            assert value is None or isinstance(value, str), s.name
        elif s.kind == "choice":
            current = value.value if isinstance(value, Enum) else value
            assert current in s.choices, s.name
        else:
            raise AssertionError(f"unknown kind {s.kind!r} for {s.name}")
        try:  # optional <=> the field may be cleared (None)
            Settings.model_validate({s.name: None})
            accepts_none = True
        except ValidationError:
            accepts_none = False
        assert s.optional == accepts_none, s.name
    assert {s.name for s in form_spec() if s.optional} >= {"workspace", "training_python"}


def test_form_spec_choices_are_exactly_what_the_model_accepts() -> None:
    choices = {s.name: s.choices for s in form_spec() if s.kind == "choice"}
    assert choices["inference_device"] == tuple(d.value for d in InferenceDevice)
    assert set(choices["theme"]) >= {"system", "light", "dark"}
    for name, options in choices.items():
        assert len(options) >= 2
        for option in options:
            Settings.model_validate({name: option})
        with pytest.raises(ValidationError):
            Settings.model_validate({name: "not-an-option"})


def test_form_spec_ranges_are_the_validation_bounds() -> None:
    ranged = [s for s in form_spec() if s.kind in ("int", "float")]
    assert {s.name for s in ranged} == {"cpu_job_slots", "cancel_grace_s", "max_recent"}
    for s in ranged:
        assert s.minimum is not None and s.maximum is not None and s.minimum < s.maximum
        step = 1 if s.kind == "int" else 0.001
        Settings.model_validate({s.name: s.minimum})
        Settings.model_validate({s.name: s.maximum})
        with pytest.raises(ValidationError):
            Settings.model_validate({s.name: s.minimum - step})
        with pytest.raises(ValidationError):
            Settings.model_validate({s.name: s.maximum + step})
        default = getattr(Settings(), s.name)
        assert s.minimum <= default <= s.maximum


def test_corrupt_file_that_cannot_be_moved_aside_is_never_saved_over(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json", encoding="utf-8")

    def refuse(self: Path, target: Path) -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "replace", refuse)
    store = SettingsStore(path)
    res = store.load()
    assert res.read_only and "nor moved aside" in (res.message or "")
    store.save(Settings(theme="dark"))
    assert path.read_text(encoding="utf-8") == "{not json"
    monkeypatch.undo()
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "theme": "light"}))
    assert store.load().settings.theme == "light" and not store.read_only
