"""Suite names: a workspace dataset's test split, files, BFCL shorthands, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_eval_runner import example

from phi4studio.core.datasets.library import DatasetLibrary
from phi4studio.core.evaluation import suites
from phi4studio.core.evaluation.cases import checkpoints, expected_at
from phi4studio.core.workspace import open_workspace


def test_dataset_suite_reads_the_test_split(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws")
    lib = DatasetLibrary(lambda: ws)
    try:
        info = lib.create("Weather")
        rows = [example(i) | {"split": "test" if i % 2 else "train"} for i in range(6)]
        lib.store(info.id).add_many(rows, record_undo=False)
        cases = suites.resolve("dataset:Weather", workspace=ws)
        assert [c["id"] for c in cases] == [f"dataset:Weather/ex{i}" for i in (1, 3, 5)]
        assert suites.resolve(f"dataset:{info.id}", workspace=ws, limit=1)[0]["id"].endswith(
            "ex1")
        case = cases[0]
        assert checkpoints(case) == [1, 3]
        assert expected_at(case, 0) == [{"weather": {"city": ["City1"]}}]
        assert expected_at(case, 1) == []
        empty = lib.create("Empty")
        lib.store(empty.id).add_many([example(9) | {"split": "train"}], record_undo=False)
        with pytest.raises(suites.SuiteError, match="no test split"):
            suites.resolve("dataset:Empty", workspace=ws)
        with pytest.raises(suites.SuiteError, match="No dataset"):
            suites.resolve("dataset:nope", workspace=ws)
    finally:
        lib.close()
        ws.close()


def test_names() -> None:
    assert suites.split_names("bfcl:core, dataset:x,bfcl:multiple") == [
        "bfcl:simple_python", "bfcl:multiple", "bfcl:parallel", "bfcl:parallel_multiple",
        "bfcl:irrelevance", "dataset:x"]
    assert suites.needs_package("tooltalk:easy") == "tooltalk"
    assert suites.needs_package("dataset:x") is None
    with pytest.raises(suites.SuiteError, match="unknown suite kind"):
        suites.resolve("mmlu:all")
    with pytest.raises(suites.SuiteError, match="needs a name"):
        suites.resolve("bfcl")
