"""Evaluation cases: what one test item asks of a model, as a plain JSON-able dict.

    {"id": "bfcl:simple_python/simple_python_0",   unique within a run
     "suite": "bfcl:simple_python", "category": "simple_python", "scenario": "single",
     "kind": "replay" | "bfcl_multi_turn" | "tooltalk",
     "tools": [canonical tools], "messages": [canonical messages],
     "expected": [[possible answers of assistant turn 0], [... turn 1], ...] | null,
     "data": {...}}                                   what a kind needs besides

- `replay` (datasets, BFCL single-turn categories): `messages` is the whole reference
  conversation. Every assistant message is a checkpoint: the model sees the reference
  conversation before it (the reference's own calls and tool results fed back), and its calls
  are checked against `expected[k]` (BFCL possible answers) or, when `expected` is null, against
  the reference message's calls. No calls expected: the model must make none.
- `bfcl_multi_turn`: BFCL's simulated APIs run the model's calls (see bfcl_multiturn.py).
- `tooltalk`: ToolTalk's simulated APIs and metrics (see tooltalk.py).

The case list of a run is frozen in `cases.jsonl` when the run is created, so a resumed run
evaluates exactly the same items.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from phi4studio.core.evaluation.checker import ExpectedCall, expected_from_call, find_tool

Case = dict[str, Any]
KINDS = ("replay", "bfcl_multi_turn", "tooltalk")


def make_case(*, id: str, suite: str, category: str, tools: list[dict[str, Any]],
              messages: list[dict[str, Any]], scenario: str | None = None,
              kind: str = "replay", expected: list[list[ExpectedCall]] | None = None,
              data: Mapping[str, Any] | None = None) -> Case:
    if kind not in KINDS:
        raise ValueError(f"unknown case kind {kind!r}")
    return {"id": id, "suite": suite, "category": category, "scenario": scenario, "kind": kind,
            "tools": tools, "messages": messages, "expected": expected,
            "data": dict(data or {})}


def checkpoints(case: Case) -> list[int]:
    """Indexes of the assistant messages a replay case checks."""
    return [i for i, m in enumerate(case.get("messages") or []) if m.get("role") == "assistant"]


def expected_at(case: Case, k: int) -> list[ExpectedCall]:
    """The possible answers for checkpoint k of a replay case."""
    given = case.get("expected")
    if given is not None:
        return list(given[k]) if k < len(given) else []
    idx = checkpoints(case)[k]
    msg = case["messages"][idx]
    tools = case.get("tools") or []
    return [expected_from_call(c, find_tool(tools, str(c.get("name"))))
            for c in msg.get("tool_calls") or []]


def case_from_example(example: Mapping[str, Any], suite: str) -> Case:
    """A dataset example (canonical dict) as a replay case; its category is its scenario."""
    scenario = example.get("scenario")
    return make_case(
        id=f"{suite}/{example['id']}", suite=suite, category=str(scenario or "unlabelled"),
        scenario=scenario, tools=list(example.get("tools") or []),
        messages=[dict(m) for m in example.get("messages") or []],
    )


def tools_called(case: Case) -> list[str]:
    """The tools a replay case expects to be called (for per-tool tables)."""
    names: list[str] = []
    for k in range(len(checkpoints(case))):
        for exp in expected_at(case, k):
            names.append(next(iter(exp)))
    return names


def limit_cases(cases: Iterable[Case], limit: int | None) -> Iterator[Case]:
    for n, case in enumerate(cases):
        if limit is not None and n >= limit:
            return
        yield case
