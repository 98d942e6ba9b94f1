#!/usr/bin/env python3
"""Accuracy at every call-control threshold from one evaluation (docs/quickstart.md, session 8).

- `call`: from a run with the call forced (`--call-threshold 0`), where every turn records
  P(call): at threshold t a turn below it is a text answer (right when no call was expected),
  the rest stand as recorded.
- `more`: from a run with every answer continued (`--more-threshold 0`), where every turn
  records P(another call) after each call: at threshold t the answer keeps its calls up to the
  first step below t, and `ask_missing` is applied again to what is kept.

    phi4studio --workspace WS eval --model EXPORT --suite bfcl:parallel --limit 50 \\
        --guided grammar --max-new-tokens 192 --call-threshold 0.5 --text-tokens 16 \\
        --stop-repeats --ask-missing --more-threshold 0 --json
    .venv/bin/python benchmarks/threshold_sweep.py more WS/evals/EVAL_ID [EVAL_ID ...]

Prints, per suite, the accuracy (and for `more` the number of calls) at each threshold.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

CALL_THRESHOLDS = (0.0, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)
MORE_THRESHOLDS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


def _rows(run: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    results = [json.loads(line) for line in (run / "results.jsonl").open(encoding="utf-8")]
    cases = {c["id"]: c for c in (json.loads(line) for line in
                                  (run / "cases.jsonl").open(encoding="utf-8"))}
    return results, cases


def call_turn_right(turn: dict[str, Any], t: float) -> bool:
    p = turn.get("p_call")
    if p is not None and p < t:
        return not turn["expected"]
    return bool(turn["correct"])


def more_turn(turn: dict[str, Any], case: dict[str, Any], t: float) -> tuple[bool, int]:
    from phi4studio.core.evaluation.checker import check_turn
    from phi4studio.core.inference.grounding import conversation_text, ungrounded_calls

    calls = turn.get("withheld") or turn.get("calls") or []
    keep = len(calls)
    for i, p in enumerate(turn.get("p_more") or []):
        if p < t:
            keep = min(keep, i + 1)
            break
    calls = calls[:keep]
    messages = case["messages"][:turn.get("message_index", len(case["messages"]))]
    if calls and ungrounded_calls(calls, case["tools"], conversation_text(messages)):
        calls = []
    return check_turn(case["tools"], calls, turn["expected"]).valid, len(calls)


def sweep(mode: str, run: Path) -> None:
    results, cases = _rows(run)
    suites: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        suites.setdefault(r["suite"], []).append(r)
    for suite, rows in suites.items():
        cells = []
        for t in CALL_THRESHOLDS if mode == "call" else MORE_THRESHOLDS:
            right = calls = 0
            for r in rows:
                ok = True
                for turn in r["turns"]:
                    if mode == "call":
                        ok = ok and call_turn_right(turn, t)
                    else:
                        good, n = more_turn(turn, cases[r["id"]], t)
                        ok, calls = ok and good, calls + n
                right += ok
            cells.append(f"{t}: {100 * right / len(rows):.0f}%"
                         + (f" ({calls} calls)" if mode == "more" else ""))
        print(f"{suite} (n={len(rows)})  " + "  ".join(cells))


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("call", "more"):
        print(__doc__, file=sys.stderr)
        return 2
    for run in argv[1:]:
        sweep(argv[0], Path(run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
