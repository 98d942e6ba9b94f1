"""Metrics over an evaluation's case results: overall, per category, per scenario and per tool.

Every metric is a ratio of summed counters (scoring.py), kept with its numerator and
denominator so a reader sees "12 / 40", not just 30%; a metric with nothing to count is None.
Definitions, each with a worked example, are in docs/evaluation.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from phi4studio.core.evaluation.scoring import add, zero

# name -> (numerator counter, denominator counter, title)
RATIOS: dict[str, tuple[str, str, str]] = {
    "tool_correctness": ("calls_correct", "calls_checked", "Tool correctness"),
    "parameter_accuracy": ("params_correct", "params_expected", "Parameter accuracy"),
    "tool_selection": ("selections_right", "selections", "Tool selection"),
    "json_validity": ("outputs_json_valid", "outputs", "JSON validity"),
    "schema_validity": ("calls_schema_valid", "calls", "Schema validity"),
    "irrelevance_detection": ("irrelevant_silent", "irrelevant_turns", "Irrelevance detection"),
    "error_recovery": ("recovery_correct", "recovery_turns", "Error recovery"),
    "turn_accuracy": ("turns_correct", "turns", "Turn accuracy"),
}
TITLES = {"accuracy": "Accuracy", "multi_turn_success": "Multi-turn success",
          **{k: v[2] for k, v in RATIOS.items()}}
METRIC_NAMES = ("accuracy", "tool_correctness", "parameter_accuracy", "tool_selection",
                "multi_turn_success", "json_validity", "schema_validity",
                "irrelevance_detection", "error_recovery", "turn_accuracy")


def ratio(num: int, den: int) -> dict[str, Any]:
    return {"value": (num / den) if den else None, "num": num, "den": den}


def is_multi_turn(result: Mapping[str, Any]) -> bool:
    return bool(result.get("multi_turn"))


def aggregate(results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The metrics of a group of case results."""
    counts = zero()
    n = ok = mt = mt_ok = 0
    errors = 0
    for r in results:
        n += 1
        ok += int(bool(r.get("ok")))
        errors += int(bool(r.get("error")))
        if is_multi_turn(r):
            mt += 1
            mt_ok += int(bool(r.get("ok")))
        add(counts, r.get("counts") or {})
    out: dict[str, Any] = {"cases": n, "passed": ok, "errors": errors,
                           "accuracy": ratio(ok, n), "multi_turn_success": ratio(mt_ok, mt)}
    for name, (num, den, _) in RATIOS.items():
        out[name] = ratio(counts[num], counts[den])
    out["counts"] = counts
    return out


def group_by(results: Sequence[Mapping[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        groups.setdefault(str(r.get(key) or "(none)"), []).append(r)
    return {k: aggregate(v) for k, v in sorted(groups.items())}


def per_tool(results: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per expected tool: calls expected, matched right, and how often the model called it."""
    table: dict[str, dict[str, int]] = {}
    for r in results:
        for name, (expected, correct) in (r.get("tools") or {}).items():
            row = table.setdefault(name, {"expected": 0, "correct": 0, "called": 0})
            row["expected"] += int(expected)
            row["correct"] += int(correct)
        for name in r.get("called") or []:
            row = table.setdefault(str(name), {"expected": 0, "correct": 0, "called": 0})
            row["called"] += 1
    return {name: {**row, "accuracy": ratio(row["correct"], row["expected"])}
            for name, row in sorted(table.items())}


def summarize(results: Sequence[Mapping[str, Any]], *, total_cases: int | None = None,
              extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole summary: overall, per suite, category, scenario and tool, plus ToolTalk's own
    metrics where ToolTalk cases ran."""
    out: dict[str, Any] = {
        "overall": aggregate(results),
        "by_suite": group_by(results, "suite"),
        "by_category": group_by(results, "category"),
        "by_scenario": group_by(results, "scenario"),
        "by_tool": per_tool(results),
        "done": len(results),
        "total": total_cases if total_cases is not None else len(results),
    }
    tt = [r["tooltalk"] for r in results if isinstance(r.get("tooltalk"), Mapping)]
    if tt:
        out["tooltalk"] = tooltalk_totals(tt)
    latencies = [float(r["time_s"]) for r in results if isinstance(r.get("time_s"), (int, float))]
    if latencies:
        out["seconds_per_case"] = sum(latencies) / len(latencies)
    if extra:
        out.update(extra)
    return out


def tooltalk_totals(metrics: list[Mapping[str, Any]]) -> dict[str, Any]:
    """ToolTalk's aggregate (its evaluation/metrics.py): sums over conversations."""
    keys = ("predictions", "ground_truths", "matches", "actions", "valid_actions", "bad_actions")
    tot = {k: sum(int(m.get(k, 0)) for m in metrics) for k in keys}
    n = len(metrics)
    return {
        "conversations": n,
        "success_rate": sum(bool(m.get("success")) for m in metrics) / n,
        "soft_success_rate": sum(float(m.get("soft_success", 0.0)) for m in metrics) / n,
        "precision": tot["matches"] / tot["predictions"] if tot["predictions"] else 0.0,
        "recall": tot["matches"] / tot["ground_truths"] if tot["ground_truths"] else 0.0,
        "action_precision": (tot["valid_actions"] / tot["actions"]) if tot["actions"] else 1.0,
        "bad_action_rate": (tot["bad_actions"] / tot["actions"]) if tot["actions"] else 0.0,
        **tot,
    }


def headline(summary: Mapping[str, Any]) -> dict[str, float | None]:
    """The overall value of each metric (for the catalog row and history charts)."""
    overall = summary.get("overall") or {}
    return {name: (overall.get(name) or {}).get("value") for name in METRIC_NAMES}


def fmt_ratio(r: Mapping[str, Any] | None, digits: int = 1) -> str:
    if not r or r.get("value") is None:
        return "–"
    return f"{100 * float(r['value']):.{digits}f}%"
