"""BFCL (Berkeley Function Calling Leaderboard) categories as evaluation cases.

Read from the data that `bfcl-eval` ships (`bfcl_eval/data/BFCL_v4_<category>.json` and
`possible_answer/`), located by `benchdata`. Functions become canonical tools through the dataset
importer's BFCL type mapping (dict -> object, float -> number, tuple -> array, any -> no type),
which the AST checker reads back losslessly.

- AST rules (checker.py): simple_python, multiple, parallel, parallel_multiple, live_simple,
  live_multiple, live_parallel, live_parallel_multiple;
- no call made: irrelevance, live_irrelevance;
- simulated APIs, state and execution results per turn (bfcl_multiturn.py): multi_turn_base,
  multi_turn_miss_param, multi_turn_miss_func, multi_turn_long_context.

Java and JavaScript (other type rules), memory, web search and format-sensitivity categories
(which need heavy dependencies or a network) are not offered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from phi4studio.core.datasets.importers.bfcl import IRRELEVANT_REPLY, tool_from_bfcl
from phi4studio.core.evaluation import benchdata
from phi4studio.core.evaluation.cases import Case, make_case
from phi4studio.core.evaluation.checker import first_answer

AST_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "live_simple",
                  "live_multiple", "live_parallel", "live_parallel_multiple")
IRRELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance")
MULTI_TURN_CATEGORIES = ("multi_turn_base", "multi_turn_miss_param", "multi_turn_miss_func",
                         "multi_turn_long_context")
CATEGORIES = AST_CATEGORIES + IRRELEVANCE_CATEGORIES + MULTI_TURN_CATEGORIES
SCENARIOS = {"simple_python": "single", "live_simple": "single", "multiple": "multiple",
             "live_multiple": "multiple", "irrelevance": "irrelevance",
             "live_irrelevance": "irrelevance"}
FUNC_DOC_FILES = {
    "GorillaFileSystem": "gorilla_file_system.json", "MathAPI": "math_api.json",
    "MessageAPI": "message_api.json", "TwitterAPI": "posting_api.json",
    "TicketAPI": "ticket_api.json", "TradingBot": "trading_bot.json",
    "TravelAPI": "travel_booking.json", "VehicleControlAPI": "vehicle_control.json",
}
ADDED_FUNCTIONS_PROMPT = "I have updated some more functions you can choose from. What about now?"


def data_dir(root: Path | None = None) -> Path:
    return benchdata.module_dir("bfcl", root) / "data"


def _category_file(folder: Path, category: str) -> Path:
    """`BFCL_v<N>_<category>.json` with the highest N (exactly that category: not live_...)."""
    pattern = re.compile(rf"BFCL_v(\d+)_{re.escape(category)}\.json")
    found = sorted((int(m.group(1)), p) for p in folder.glob("BFCL_v*.json")
                   if (m := pattern.fullmatch(p.name)))
    if not found:
        raise benchdata.BenchmarkDataError(f"BFCL category {category!r} is not in {folder}")
    return found[-1][1]


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def questions(category: str, root: Path | None = None) -> list[dict[str, Any]]:
    return list(read_jsonl(_category_file(data_dir(root), category)))


def answers(category: str, root: Path | None = None) -> dict[str, Any]:
    path = _category_file(data_dir(root) / "possible_answer", category)
    return {rec["id"]: rec["ground_truth"] for rec in read_jsonl(path)}


def load_category(category: str, root: Path | None = None,
                  limit: int | None = None) -> list[Case]:
    """The first `limit` entries of a BFCL category as cases (file order, as BFCL numbers them)."""
    if category not in CATEGORIES:
        raise benchdata.BenchmarkDataError(
            f"BFCL category {category!r} is not offered; choose from {', '.join(CATEGORIES)}")
    entries = questions(category, root)[:limit]
    if category in MULTI_TURN_CATEGORIES:
        gt = answers(category, root)
        docs = _func_docs(data_dir(root) / "multi_turn_func_doc")
        return [multi_turn_case(category, e, gt[e["id"]], docs) for e in entries]
    gt = answers(category, root) if category in AST_CATEGORIES else {}
    return [single_turn_case(category, e, gt.get(e["id"])) for e in entries]


def suite_name(category: str) -> str:
    return f"bfcl:{category}"


def single_turn_case(category: str, entry: dict[str, Any], ground_truth: Any) -> Case:
    funcs = entry.get("function") or []
    tools = [tool_from_bfcl(f, f"function[{i}]") for i, f in enumerate(funcs)]
    turns = entry["question"]
    messages = [dict(m) for m in (turns[0] if turns and isinstance(turns[0], list) else turns)]
    if ground_truth is None:  # irrelevance: the right answer is no call
        expected: list[list[Any]] = [[]]
        messages.append({"role": "assistant", "content": IRRELEVANT_REPLY})
    else:
        expected = [list(ground_truth)]
        calls = [first_answer(exp) | {"id": f"call_{i + 1}"}
                 for i, exp in enumerate(ground_truth)]
        messages.append({"role": "assistant", "content": "", "tool_calls": calls})
    scenario = SCENARIOS.get(category, "parallel")
    return make_case(id=f"{suite_name(category)}/{entry['id']}", suite=suite_name(category),
                     category=category, scenario=scenario, tools=tools, messages=messages,
                     expected=expected, data={"bfcl_id": entry["id"]})


def _func_docs(folder: Path) -> dict[str, list[dict[str, Any]]]:
    return {cls: list(read_jsonl(folder / name)) for cls, name in FUNC_DOC_FILES.items()}


def multi_turn_case(category: str, entry: dict[str, Any], ground_truth: list[list[str]],
                    docs: dict[str, list[dict[str, Any]]]) -> Case:
    classes = list(entry["involved_classes"])
    funcs = [f for cls in classes for f in docs.get(cls, [])]
    missed = {str(k): list(v) for k, v in (entry.get("missed_function") or {}).items()}
    held = {name for names in missed.values() for name in names}
    tools = [tool_from_bfcl(f, f["name"]) for f in funcs if f["name"] not in held]
    added = {turn: [tool_from_bfcl(f, f["name"]) for f in funcs if f["name"] in names]
             for turn, names in missed.items()}
    turns = []
    for i, msgs in enumerate(entry["question"]):
        if str(i) in missed and not msgs:
            msgs = [{"role": "user", "content": ADDED_FUNCTIONS_PROMPT}]
        turns.append([dict(m) for m in msgs])
    data = {"bfcl_id": entry["id"], "turns": turns, "ground_truth": ground_truth,
            "initial_config": entry.get("initial_config") or {}, "involved_classes": classes,
            "added_tools": added, "long_context": "long_context" in category}
    first = turns[0] if turns else []
    return make_case(id=f"{suite_name(category)}/{entry['id']}", suite=suite_name(category),
                     category=category, scenario="multi_turn", tools=tools, messages=first,
                     kind="bfcl_multi_turn", data=data)
