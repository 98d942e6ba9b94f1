"""A/B statistics: two evaluations of the same cases, compared pair by pair.

- Pairs: the cases both runs finished (same case id); everything below uses only those.
- McNemar's exact test on a binary outcome (the case passed or not): b = cases only A passed,
  c = cases only B passed; two-sided p = min(1, 2 * P(X <= min(b, c))), X ~ Binomial(b + c, 1/2).
- Bootstrap confidence intervals for the difference B - A of any metric: resample the paired
  cases with replacement (seeded), recompute both metrics as ratios of summed counters, take the
  percentile interval.
- A verdict by explicit, editable criteria (`Criteria`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from phi4studio.core.evaluation.metrics import METRIC_NAMES, RATIOS, TITLES


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..1) of sorted values (numpy's default rule)."""
    if not sorted_values:
        raise ValueError("no values")
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bootstrap_diff(pairs: Sequence[tuple[tuple[float, float], tuple[float, float]]], *,
                   resamples: int = 2000, confidence: float = 0.95,
                   seed: int = 0) -> tuple[float, float] | None:
    """Percentile CI of ratio(B) - ratio(A), where each pair is ((numA, denA), (numB, denB)).

    A plain mean is the case den = 1. Resamples whose denominators are 0 are skipped; None when
    no resample has a value."""
    n = len(pairs)
    if n == 0:
        return None
    rng = random.Random(seed)
    idx = range(n)
    diffs: list[float] = []
    for _ in range(resamples):
        pick = rng.choices(idx, k=n)
        na = da = nb = db = 0.0
        for i in pick:
            (a_num, a_den), (b_num, b_den) = pairs[i]
            na += a_num
            da += a_den
            nb += b_num
            db += b_den
        if da and db:
            diffs.append(nb / db - na / da)
    if not diffs:
        return None
    diffs.sort()
    alpha = (1.0 - confidence) / 2.0
    return percentile(diffs, alpha), percentile(diffs, 1.0 - alpha)


# --- per-case quantities -----------------------------------------------------------------------


def _case_ratio(result: Mapping[str, Any], metric: str) -> tuple[float, float]:
    if metric == "accuracy":
        return float(bool(result.get("ok"))), 1.0
    if metric == "multi_turn_success":
        if not result.get("multi_turn"):
            return 0.0, 0.0
        return float(bool(result.get("ok"))), 1.0
    num, den, _ = RATIOS[metric]
    counts = result.get("counts") or {}
    return float(counts.get(num, 0)), float(counts.get(den, 0))


def pair_results(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]
                 ) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    by_id = {r["id"]: r for r in b}
    return [(r, by_id[r["id"]]) for r in a if r["id"] in by_id]


def compare_metric(pairs: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]], metric: str, *,
                   resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    ratios = [(_case_ratio(x, metric), _case_ratio(y, metric)) for x, y in pairs]
    na = sum(r[0][0] for r in ratios)
    da = sum(r[0][1] for r in ratios)
    nb = sum(r[1][0] for r in ratios)
    db = sum(r[1][1] for r in ratios)
    a = na / da if da else None
    b = nb / db if db else None
    out: dict[str, Any] = {"metric": metric, "title": TITLES.get(metric, metric), "a": a, "b": b,
                           "delta": (b - a) if a is not None and b is not None else None,
                           "n": len(pairs), "ci": None}
    if out["delta"] is not None:
        ci = bootstrap_diff(ratios, resamples=resamples, seed=seed)
        out["ci"] = list(ci) if ci else None
    if metric in ("accuracy", "multi_turn_success"):
        only_a = sum(1 for (ra, rb) in ratios if ra[1] and rb[1] and ra[0] > rb[0])
        only_b = sum(1 for (ra, rb) in ratios if ra[1] and rb[1] and rb[0] > ra[0])
        out.update(only_a=only_a, only_b=only_b, p_value=mcnemar_exact(only_a, only_b))
    return out


@dataclass
class Criteria:
    """When B (the candidate) ships. `min_improvement` is in absolute points of `metric`
    (0.05 = five percentage points) unless `relative` is set (then a fraction of A's value)."""

    metric: str = "accuracy"
    min_improvement: float = 0.05
    relative: bool = False
    alpha: float = 0.05
    confidence: float = 0.95
    category_key: str = "category"  # category, scenario or suite

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Criteria:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


def compare(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]],
            criteria: Criteria | None = None, *, resamples: int = 2000,
            seed: int = 0) -> dict[str, Any]:
    """A vs B on their paired cases: every metric, per category, and the verdict."""
    crit = criteria or Criteria()
    pairs = pair_results(a, b)
    overall = {m: compare_metric(pairs, m, resamples=resamples, seed=seed)
               for m in METRIC_NAMES}
    groups: dict[str, list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {}
    for x, y in pairs:
        groups.setdefault(str(x.get(crit.category_key) or "(none)"), []).append((x, y))
    per_cat = {k: compare_metric(v, crit.metric, resamples=resamples, seed=seed)
               for k, v in sorted(groups.items())}
    verdict = decide(overall[crit.metric], per_cat, crit)
    return {"pairs": len(pairs), "only_in_a": len(a) - len(pairs),
            "only_in_b": len(b) - len(pairs), "metrics": overall, "categories": per_cat,
            "criteria": crit.to_dict(), "verdict": verdict}


def decide(main: Mapping[str, Any], categories: Mapping[str, Mapping[str, Any]],
           crit: Criteria) -> dict[str, Any]:
    """ship: the improvement reaches the bar, p < alpha, and no category's CI lies wholly
    below zero; roll back: B is significantly worse; iterate: anything else."""
    reasons: list[str] = []
    delta, a = main.get("delta"), main.get("a")
    p = main.get("p_value")
    if delta is None:
        return {"decision": "iterate", "reasons": ["no paired cases to compare"]}
    bar = crit.min_improvement * (a or 0.0) if crit.relative else crit.min_improvement
    regressed = [k for k, c in categories.items()
                 if c.get("ci") is not None and c["ci"][1] < 0]
    significant = p is None or p < crit.alpha
    if p is None:  # a ratio metric: significance from its bootstrap interval
        ci = main.get("ci")
        significant = ci is not None and (ci[0] > 0 or ci[1] < 0)
    reasons.append(f"{main.get('title')}: {_pct(a)} -> {_pct(main.get('b'))} "
                   f"({'+' if delta >= 0 else ''}{100 * delta:.1f} points; bar "
                   f"{100 * bar:.1f})" + (f", p = {p:.3g}" if p is not None else ""))
    if regressed:
        reasons.append("regressed beyond their CI: " + ", ".join(regressed))
    if delta < 0 and significant:
        return {"decision": "roll back", "reasons": [*reasons, "B is significantly worse"]}
    if delta > bar and significant and not regressed:
        return {"decision": "ship", "reasons": reasons}
    if delta <= bar:
        reasons.append("the improvement does not reach the bar")
    if not significant:
        reasons.append(f"not significant at alpha = {crit.alpha:g}")
    return {"decision": "iterate", "reasons": reasons}


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * float(v):.1f}%"
