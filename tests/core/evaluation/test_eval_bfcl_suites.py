"""BFCL suites from the bfcl-eval wheel: categories as cases, and the multi-turn categories on
BFCL's simulated APIs (a model that replays the ground truth passes; wrong actions fail)."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.chatformats import get_format
from phi4studio.core.evaluation import bfcl
from phi4studio.core.evaluation.bfcl_multiturn import api_class, parse_call
from phi4studio.core.evaluation.results import RunDir
from phi4studio.core.evaluation.runner import Runner

FMT = get_format("chatml-notools")


def test_categories_read_as_cases(bench_root: Path) -> None:
    cases = bfcl.load_category("parallel", bench_root, limit=3)
    assert [c["id"] for c in cases] == [f"bfcl:parallel/parallel_{i}" for i in range(3)]
    c = cases[0]
    assert c["scenario"] == "parallel" and c["kind"] == "replay"
    assert c["tools"][0]["inputSchema"]["type"] == "object"
    assert len(c["expected"][0]) == 2  # two calls expected
    irr = bfcl.load_category("irrelevance", bench_root, limit=1)[0]
    assert irr["expected"] == [[]] and irr["scenario"] == "irrelevance"
    # `parallel` is not `live_parallel`
    assert all("live" not in c["id"] for c in bfcl.load_category("parallel", bench_root))
    mt = bfcl.load_category("multi_turn_miss_func", bench_root, limit=1)[0]
    assert mt["kind"] == "bfcl_multi_turn" and mt["data"]["added_tools"]
    held = {t["name"] for ts in mt["data"]["added_tools"].values() for t in ts}
    assert held.isdisjoint(t["name"] for t in mt["tools"])
    with pytest.raises(Exception, match="not offered"):
        bfcl.load_category("simple_java", bench_root)


def as_kwargs(call: str, classes: list[str], root: Path) -> dict[str, Any]:
    name, args, kwargs = parse_call(call)
    for cls in classes:
        method = getattr(api_class(cls, root), name, None)
        if method is not None:
            bound = inspect.signature(method).bind(None, *args, **kwargs)
            params = dict(bound.arguments)
            params.pop("self", None)
            return {"name": name, "arguments": params}
    raise AssertionError(f"no class has {name}")


def replay_script(case: dict[str, Any], root: Path, *, skip_turn: int | None = None,
                  corrupt_turn: int | None = None) -> list[str]:
    data = case["data"]
    out: list[str] = []
    for t, gt in enumerate(data["ground_truth"]):
        if gt and t != skip_turn:
            calls = [as_kwargs(c, data["involved_classes"], root) for c in gt]
            if t == corrupt_turn:  # every string argument of the turn changed
                for call in calls:
                    for key, value in call["arguments"].items():
                        if isinstance(value, str):
                            call["arguments"][key] = value + "_zz"
            out.append("<tool_call>" + json.dumps(calls) + "</tool_call>")
        out.append("Done.")
    return out


def run_cases(tmp_path: Path, root: Path, cases: list[dict[str, Any]],
              scripts: dict[str, list[str]]) -> list[dict[str, Any]]:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.write_config({"model": "x", "suites": []})
    run.write_cases(cases)
    queues = {cid: list(s) for cid, s in scripts.items()}
    current: dict[str, str] = {}

    async def gen(prompt: str, guidance: Any, n: int) -> Mapping[str, Any]:
        return {"text": queues[current["id"]].pop(0), "stop_reason": "eos"}

    runner = Runner(run, gen, FMT, benchmarks_root=root)
    real = runner.run_case

    async def tracking(case: dict[str, Any]) -> Any:
        current["id"] = case["id"]
        return await real(case)

    runner.run_case = tracking  # type: ignore[method-assign]
    asyncio.run(runner.run())
    return run.results()


@pytest.mark.parametrize(("category", "n"), [
    ("multi_turn_base", 25), ("multi_turn_miss_param", 10), ("multi_turn_miss_func", 10),
    ("multi_turn_long_context", 3)])
def test_ground_truth_passes_on_the_simulated_apis(tmp_path: Path, bench_root: Path,
                                                  category: str, n: int) -> None:
    cases = bfcl.load_category(category, bench_root, limit=n)
    scripts = {c["id"]: replay_script(c, bench_root) for c in cases}
    results = run_cases(tmp_path, bench_root, cases, scripts)
    bad = [(r["id"], r.get("error") or [t["error"] for t in r["turns"] if not t["correct"]])
           for r in results if not r["ok"]]
    assert not bad
    r0 = results[0]
    assert r0["multi_turn"] and r0["counts"]["turns"] == len(cases[0]["data"]["turns"])


def test_wrong_actions_fail_with_bfcls_reasons(tmp_path: Path, bench_root: Path) -> None:
    cases = bfcl.load_category("multi_turn_base", bench_root, limit=4)
    scripts = {cases[0]["id"]: replay_script(cases[0], bench_root, skip_turn=0),
               cases[1]["id"]: replay_script(cases[1], bench_root, corrupt_turn=1)}
    results = run_cases(tmp_path, bench_root, cases[:2], scripts)
    assert not results[0]["ok"]
    assert results[0]["turns"][0]["error_type"] == "multi_turn:empty_turn_model_response"
    assert not results[1]["ok"]
    assert results[1]["turns"][-1]["error_type"] in (
        "multi_turn:instance_state_mismatch", "multi_turn:execution_response_mismatch")
