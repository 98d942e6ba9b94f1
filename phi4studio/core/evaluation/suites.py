"""Suite names and how they become cases.

- `dataset:ID`: a workspace dataset's test split (by id or name; every scenario, multi-turn too);
- `file:PATH`: a JSON-lines file of canonical examples (its test split if it has one, else all);
- `bfcl:CATEGORY`: a BFCL category (bfcl.CATEGORIES); `bfcl:core` = simple_python, multiple,
  parallel, parallel_multiple and irrelevance;
- `tooltalk:tooltalk`, `tooltalk:easy`: ToolTalk conversations (`@all` / `@exact` for the
  other tool sets).

`limit` is per suite: the first N items in the suite's own order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.errors import StudioError
from phi4studio.core.evaluation import bfcl
from phi4studio.core.evaluation.cases import Case, case_from_example

if TYPE_CHECKING:
    from phi4studio.core.workspace import Workspace

BFCL_CORE = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")


class SuiteError(StudioError):
    """A suite name that cannot be resolved."""


def split_names(text: str | Iterable[str]) -> list[str]:
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        if item == "bfcl:core":
            out += [f"bfcl:{c}" for c in BFCL_CORE]
        else:
            out.append(item)
    return list(dict.fromkeys(out))


def needs_package(suite: str) -> str | None:
    """The benchmark package a suite reads ("bfcl", "tooltalk"), if any."""
    kind = suite.split(":", 1)[0]
    return kind if kind in ("bfcl", "tooltalk") else None


def resolve(suite: str, *, workspace: Workspace | None = None, limit: int | None = None,
            benchmarks_root: Path | None = None) -> list[Case]:
    kind, _, arg = suite.partition(":")
    if not arg:
        raise SuiteError(f"suite {suite!r} needs a name after ':' (e.g. bfcl:simple_python)")
    if kind == "bfcl":
        return bfcl.load_category(arg, benchmarks_root, limit)
    if kind == "tooltalk":
        from phi4studio.core.evaluation import tooltalk

        return tooltalk.load_set(suite, benchmarks_root, limit)
    if kind == "dataset":
        if workspace is None:
            raise SuiteError("dataset suites need a workspace")
        return _limited(dataset_examples(workspace, arg), suite, limit)
    if kind == "file":
        return _limited(file_examples(Path(arg)), suite, limit)
    raise SuiteError(f"unknown suite kind {kind!r} in {suite!r}",
                     hint="Use dataset:ID, file:PATH, bfcl:CATEGORY or tooltalk:SET.")


def _limited(examples: Iterable[Mapping[str, Any]], suite: str, limit: int | None) -> list[Case]:
    out: list[Case] = []
    for ex in examples:
        if limit is not None and len(out) >= limit:
            break
        out.append(case_from_example(ex, suite))
    if not out:
        raise SuiteError(f"{suite} has no examples to evaluate")
    return out


def dataset_examples(workspace: Workspace, key: str) -> list[dict[str, Any]]:
    """A workspace dataset's test split (examples with split "test")."""
    from phi4studio.core.datasets.query import ExampleFilter
    from phi4studio.core.datasets.store import DatasetStore

    rec = workspace.catalog.get("datasets", key)
    if rec is None:
        named = [r for r in workspace.catalog.records("datasets")
                 if r["name"] == key or str(r["name"]).casefold() == key.casefold()]
        if len(named) != 1:
            raise SuiteError(f"No dataset {key!r} in {workspace.root}"
                             + (" (several have that name: use its id)" if named else ""))
        rec = named[0]
    store = DatasetStore.open(workspace.root / rec["path"])
    try:
        examples = list(store.iter_dicts(ExampleFilter(split="test")))
    finally:
        store.close()
    if not examples:
        raise SuiteError(f"The dataset {rec['name']!r} has no test split.",
                         hint="Split it first (Datasets tab, or `phi4studio dataset split`).")
    return examples


def file_examples(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SuiteError(f"Cannot read {path}: {exc}") from exc
    examples = [json.loads(line) for line in lines if line.strip()]
    test = [e for e in examples if e.get("split") == "test"]
    return test or examples


def resolve_all(suites: Iterable[str], **kw: Any) -> list[Case]:
    cases: list[Case] = []
    seen: set[str] = set()
    for suite in suites:
        for case in resolve(suite, **kw):
            if case["id"] not in seen:
                seen.add(case["id"])
                cases.append(case)
    return cases
