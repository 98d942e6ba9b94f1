#!/usr/bin/env python3
"""Contrast probes for the quick start's call decision (docs/quickstart.md, session 7).

Two evaluation files of paired cases over the sample catalog, drawn with seeds the quick start
never uses for training:

- missing_pairs.jsonl: 40 requests that leave out a required value (expected: ask, no call),
  each beside the same request with the value (expected: the call);
- near_miss_pairs.jsonl: 40 requests whose tool is not offered (expected: decline), each
  beside the same request with that tool offered too (expected: the call).

    .venv/bin/python benchmarks/contrast_probes.py write OUT_DIR
    phi4studio --workspace WS eval --model EXPORT --suite file:OUT_DIR/missing_pairs.jsonl \\
        --guided grammar --max-new-tokens 192 --call-threshold 0.5 --text-tokens 16 \\
        --stop-repeats --json
    .venv/bin/python benchmarks/contrast_probes.py score WS/evals/EVAL_ID

`score` prints how many of the first cases were declined, how many twins were called, and the
AUC of P(call) between twins and first cases (0.5: the model does not tell them apart).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAIRS = 40


def missing_pairs() -> list[dict[str, Any]]:
    from phi4studio.core.datasets.samples import sample_tools
    from phi4studio.core.datasets.synthesis import Synthesizer
    from phi4studio.core.quickstart.contrast import missing_pair
    from phi4studio.core.quickstart.data import QUICKSTART_MIX, calls_first, first_turn

    syn = Synthesizer(sample_tools(), seed=9001, mix=QUICKSTART_MIX)
    out = []
    for i in range(PAIRS):
        pair = missing_pair(syn, i, random.Random(f"probe:{i}"))
        if pair is None:
            raise SystemExit("the sample catalog has no tool with a required value")
        for kind, d in zip(("ask", "call"), pair, strict=True):
            out.append({**calls_first(first_turn(d)), "split": "test",
                        "id": f"probe-{i:03d}-{kind}"})
    return out


def near_miss_pairs() -> list[dict[str, Any]]:
    from phi4studio.core.datasets.samples import sample_tools
    from phi4studio.core.quickstart.data import RECIPE_SHAPE, quickstart_examples

    shape = {**RECIPE_SHAPE, "near_miss": 1.0, "near_miss_pairs": 1.0}
    mix = {"single": 0.01, "multiple": 0.01, "parallel": 0.01, "irrelevance": 0.96,
           "missing_info_or_error": 0.01}
    exs = list(quickstart_examples(sample_tools(), 100, seed=9002, mix=mix, shape=shape))
    by_id = {e["id"]: e for e in exs}
    out: list[dict[str, Any]] = []
    for e in exs:
        twin = by_id.get(e["id"] + "-1")
        if "near_miss" in e["tags"] and twin is not None and len(out) < 2 * PAIRS:
            out += [{**e, "id": e["id"] + "-ask", "split": "test"},
                    {**twin, "id": e["id"] + "-call", "split": "test"}]
    return out


def write(folder: Path) -> None:
    from phi4studio.core.fileio import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("missing_pairs.jsonl", missing_pairs()),
                       ("near_miss_pairs.jsonl", near_miss_pairs())):
        atomic_write_text(folder / name, "".join(json.dumps(r) + "\n" for r in rows))
        print(f"{folder / name}: {len(rows)} cases")


def score(eval_dir: Path) -> None:
    rows = [json.loads(line) for line in (eval_dir / "results.jsonl").open(encoding="utf-8")]
    first = [r for r in rows if r["id"].endswith("-ask")]
    twins = [r for r in rows if r["id"].endswith("-call")]
    if not first or not twins:
        raise SystemExit(f"{eval_dir} is not an evaluation of a contrast probe")

    def called(r: dict[str, Any]) -> bool:
        return bool(r["turns"] and r["turns"][0].get("calls"))

    def p(r: dict[str, Any]) -> float:
        return float((r["turns"][0].get("p_call") if r["turns"] else 0.0) or 0.0)

    pa, pc = [p(r) for r in first], [p(r) for r in twins]
    auc = sum((c > a) + 0.5 * (c == a) for a in pa for c in pc) / (len(pa) * len(pc))
    print(f"first cases declined {sum(not called(r) for r in first)}/{len(first)}, "
          f"twins called {sum(called(r) for r in twins)}/{len(twins)}, "
          f"twins right {sum(bool(r['ok']) for r in twins)}/{len(twins)}, "
          f"AUC of P(call), twin over first case: {auc:.3f}")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("write", "score"):
        print(__doc__)
        return 2
    (write if argv[0] == "write" else score)(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
