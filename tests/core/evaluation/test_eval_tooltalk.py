"""ToolTalk from the nvidia-tooltalk wheel: its own simulated APIs and metrics, with the
embedding comparison replaced by an exact one."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.chatformats import get_format
from phi4studio.core.evaluation import tooltalk
from phi4studio.core.evaluation.results import RunDir
from phi4studio.core.evaluation.runner import Runner

FMT = get_format("chatml-notools")


def test_exact_match_stands_in_for_the_embedding_model() -> None:
    assert tooltalk.exact_str_compare("Team  Meeting", "team meeting") == 1.0
    assert tooltalk.exact_str_compare("Team sync", "team meeting") == 0.0
    assert tooltalk.exact_str_compare(None, "x") == 0.0


def test_suites_and_tools(bench_root: Path) -> None:
    assert tooltalk.parse_suite("tooltalk:easy@all") == ("easy", "all")
    assert tooltalk.parse_suite("tooltalk:tooltalk") == ("tooltalk", "suite")
    with pytest.raises(Exception, match="no set"):
        tooltalk.parse_suite("tooltalk:hard")
    cases = tooltalk.load_set("tooltalk:easy", bench_root)
    assert len(cases) == 28 and cases[0]["kind"] == "tooltalk"
    assert len(tooltalk.load_set("tooltalk:tooltalk", bench_root)) == 50
    apis = tooltalk.load_tooltalk(bench_root)
    # ToolTalk's own helper (DistilBERT through torch) was never imported: the stub stands in
    assert sys.modules["tooltalk.apis.utils"].semantic_str_compare is tooltalk.exact_str_compare
    conv = cases[0]["data"]["conversation"]
    tools = tooltalk.tools_for(conv, "suite", apis)
    assert {t["name"] for t in tools} >= set(conv["apis_used"])
    assert all(t["inputSchema"]["type"] == "object" for t in tools)


def script_for(case: dict[str, Any], *, wrong: bool = False) -> list[str]:
    out = []
    for turn in case["data"]["conversation"]["conversation"]:
        if turn["role"] != "assistant":
            continue
        apis = turn.get("apis") or []
        if apis:
            calls = [{"name": a["request"]["api_name"],
                      "arguments": dict(a["request"]["parameters"])} for a in apis]
            if wrong:
                for c in calls:
                    for k, v in c["arguments"].items():
                        if isinstance(v, str) and k != "session_token":
                            c["arguments"][k] = v + " (changed)"
                            break
            out.append("<tool_call>" + json.dumps(calls) + "</tool_call>")
        out.append(turn["text"])
    return out


def run_scripted(tmp_path: Path, root: Path, cases: list[dict[str, Any]],
                 scripts: dict[str, list[str]]) -> list[dict[str, Any]]:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.write_config({"model": "x", "suites": []})
    run.write_cases(cases)
    current: dict[str, list[str]] = {}

    async def gen(prompt: str, guidance: Any, n: int) -> Mapping[str, Any]:
        return {"text": current["script"].pop(0), "stop_reason": "eos"}

    runner = Runner(run, gen, FMT, benchmarks_root=root)
    real = runner.run_case

    async def tracking(case: dict[str, Any]) -> Any:
        current["script"] = list(scripts[case["id"]])
        return await real(case)

    runner.run_case = tracking  # type: ignore[method-assign]
    asyncio.run(runner.run())
    return run.results()


def test_reference_calls_succeed_by_tooltalks_own_metrics(tmp_path: Path,
                                                          bench_root: Path) -> None:
    cases = tooltalk.load_set("tooltalk:easy", bench_root) + tooltalk.load_set(
        "tooltalk:tooltalk", bench_root, limit=10)
    results = run_scripted(tmp_path, bench_root, cases, {c["id"]: script_for(c) for c in cases})
    failed = [(r["id"], r.get("error"), r.get("tooltalk")) for r in results if not r["ok"]]
    assert not failed
    m = results[0]["tooltalk"]
    assert m["recall"] == 1.0 and m["bad_actions"] == 0 and m["success"]


def test_changed_arguments_are_bad_actions(tmp_path: Path, bench_root: Path) -> None:
    cases = [c for c in tooltalk.load_set("tooltalk:easy", bench_root)
             if c["id"].endswith(("AddAlarm-easy", "SendEmail-easy"))]
    results = run_scripted(tmp_path, bench_root, cases,
                           {c["id"]: script_for(c, wrong=True) for c in cases})
    for r in results:
        assert not r["ok"], r["id"]
        assert r["tooltalk"]["recall"] < 1.0
    assert any(t["error_type"] for r in results for t in r["turns"])
