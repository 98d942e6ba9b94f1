"""Property-based tests (hypothesis): any record, in any import format, and any example given to
validation give reported problems only, never a crash; every skipped record names its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dsfixtures import FIXTURES, weather_example
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phi4studio.core.datasets.importers import scan_import
from phi4studio.core.datasets.importers.formats import FORMATS
from phi4studio.core.datasets.validation import validate_arguments, validate_example
from phi4studio.core.errors import StudioError

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
KEYS = st.sampled_from(["messages", "conversations", "role", "content", "from", "value", "tools",
                        "function", "name", "arguments", "tool_calls", "query", "answers",
                        "question", "id", "type", "message", "uuid", "system", "chat",
                        "inputSchema", "parameters", "ground_truth", "isSidechain"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False),
                    st.text(max_size=12),
                    st.sampled_from(["user", "assistant", "tool", "system", "gpt", "human",
                                     "<tool_call>{\"name\": \"f\"}</tool_call>", "USER: hi",
                                     "{'a': 1", "[]", "{}", "str", "List[int]"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)), max_leaves=20)
REAL = {name: [json.loads(x) for x in (FIXTURES / name).read_text(encoding="utf-8").splitlines()]
        for name in ("openai_chat.jsonl", "nested_conversations.jsonl",
                     "hermes_sharegpt.jsonl", "glaive_v2.jsonl", "xlam.jsonl",
                     "claude_session.jsonl")}


def _mutate(value: Any, path: list[Any], new: Any) -> Any:
    """`value` with the node at `path` (indices taken modulo the sizes) replaced by `new`."""
    if not path or not isinstance(value, (dict, list)) or not value:
        return new
    if isinstance(value, dict):
        key = list(value)[hash(str(path[0])) % len(value)]
        return {**value, key: _mutate(value[key], path[1:], new)}
    i = int(path[0]) % len(value) if isinstance(path[0], int) else 0
    return [*value[:i], _mutate(value[i], path[1:], new), *value[i + 1:]]


_DIRS: dict[int, Path] = {}


def _scratch(factory: Any) -> Path:
    """One folder for all the generated files (each example overwrites its file)."""
    key = id(factory)
    if key not in _DIRS:
        _DIRS[key] = factory.mktemp("prop")
    return _DIRS[key]


def _check_report(path: Path, fmt: str) -> None:
    try:
        report = scan_import(path, fmt)
    except StudioError as exc:  # a whole-file problem (e.g. BFCL without answers): reported
        assert str(exc).strip()
        return
    assert report.records >= report.good
    for issue in report.skipped:
        assert issue.line >= 1 and issue.reason


@SETTINGS
@given(fmt=st.sampled_from(sorted(FORMATS)), records=st.lists(JSON, min_size=1, max_size=4),
       tail=st.sampled_from(["", "{\"messages\": [", "\ufeff", "not json", "\x00\x01"]))
def test_any_record_in_any_format_is_imported_or_reported(
        tmp_path_factory: Any, fmt: str, records: list[Any], tail: str) -> None:
    f = _scratch(tmp_path_factory) / "records.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in records) + tail, encoding="utf-8")
    _check_report(f, fmt)


@SETTINGS
@given(source=st.sampled_from(sorted(REAL)), index=st.integers(0, 10),
       path=st.lists(st.one_of(st.integers(0, 5), KEYS), max_size=5), new=JSON)
def test_damaged_real_records_are_imported_or_reported(
        tmp_path_factory: Any, source: str, index: int, path: list[Any], new: Any) -> None:
    fmt = {"openai_chat.jsonl": "openai", "nested_conversations.jsonl": "conversations",
           "hermes_sharegpt.jsonl": "sharegpt", "glaive_v2.jsonl": "glaive",
           "xlam.jsonl": "xlam", "claude_session.jsonl": "claude"}[source]
    recs = list(REAL[source])
    i = index % len(recs)
    recs[i] = _mutate(recs[i], path, new)
    f = _scratch(tmp_path_factory) / source
    f.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    _check_report(f, fmt)


@SETTINGS
@given(path=st.lists(st.one_of(st.integers(0, 6), KEYS), max_size=5), new=JSON)
def test_validation_reports_any_damage_by_path(path: list[Any], new: Any) -> None:
    from phi4studio.core.datasets.schema import Example

    d = _mutate(weather_example(1), path, new)
    try:
        ex = Example.model_validate(d)
    except ValueError:
        return  # not an example's shape: the importers report these (tested above)
    for issue in validate_example(ex):
        assert issue.severity in ("error", "warning") and issue.path.startswith("$")
        assert issue.message and issue.code


@SETTINGS
@given(schema=st.dictionaries(st.sampled_from(["type", "properties", "required", "enum",
                                               "additionalProperties", "items", "minimum",
                                               "$ref", "format"]), JSON, max_size=4),
       args=JSON)
def test_argument_checks_never_raise(schema: dict[str, Any], args: Any) -> None:
    for issue in validate_arguments({"name": "t", "inputSchema": schema}, args):
        assert issue.path.startswith("$") and issue.message
