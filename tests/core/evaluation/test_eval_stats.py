"""McNemar's exact test and the bootstrap against known values, and the A/B verdict."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from phi4studio.core.evaluation.stats import (
    Criteria,
    bootstrap_diff,
    compare,
    decide,
    mcnemar_exact,
    percentile,
)


@pytest.mark.parametrize(("b", "c", "p"), [
    (0, 0, 1.0),
    (1, 9, 0.021484375),          # 2 * (1 + 10) / 1024
    (9, 1, 0.021484375),
    (0, 5, 0.0625),               # 2 / 32
    (3, 3, 1.0),
    (2, 8, 0.109375),             # 2 * (1 + 10 + 45) / 1024
    (10, 20, 0.09873714670538905),     # scipy.stats.binomtest(10, 30).pvalue (scipy 1.17)
    (59, 101, 0.0011229051962340462),  # scipy.stats.binomtest(59, 160).pvalue
])
def test_mcnemar_exact_known_values(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-4)


def test_percentile_matches_numpy_linear_rule() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0.0) == 1.0
    assert percentile(values, 1.0) == 4.0
    assert percentile(values, 0.5) == 2.5
    assert percentile(values, 0.25) == 1.75


def test_bootstrap_converges_to_the_exact_bootstrap_distribution() -> None:
    # 4 paired binary outcomes: A = 1,0,0,1  B = 1,1,1,0  -> differences 0,1,1,-1
    pairs = [((1, 1), (1, 1)), ((0, 1), (1, 1)), ((0, 1), (1, 1)), ((1, 1), (0, 1))]
    diffs = [0, 1, 1, -1]
    exact = sorted(sum(diffs[i] for i in pick) / 4
                   for pick in itertools.product(range(4), repeat=4))  # all 256 resamples
    lo, hi = percentile(exact, 0.025), percentile(exact, 0.975)
    ci = bootstrap_diff(pairs, resamples=20000, seed=1)
    assert ci is not None
    assert ci[0] == pytest.approx(lo, abs=0.01) and ci[1] == pytest.approx(hi, abs=0.01)


def test_bootstrap_normal_approximation_on_a_large_sample() -> None:
    # 400 pairs: B passes 60 more cases than A (80 discordant, 70 vs 10)
    pairs = ([((1, 1), (0, 1))] * 10 + [((0, 1), (1, 1))] * 70 + [((1, 1), (1, 1))] * 200
             + [((0, 1), (0, 1))] * 120)
    ci = bootstrap_diff(pairs, resamples=4000, seed=3)
    assert ci is not None
    diffs = [-1] * 10 + [1] * 70 + [0] * 320
    mean = sum(diffs) / 400
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 399)
    half = 1.96 * sd / math.sqrt(400)
    assert ci[0] == pytest.approx(mean - half, abs=0.01)
    assert ci[1] == pytest.approx(mean + half, abs=0.01)


def test_bootstrap_of_a_constant_difference_is_that_value() -> None:
    pairs = [((0, 1), (1, 1))] * 30
    assert bootstrap_diff(pairs, resamples=200) == (1.0, 1.0)
    assert bootstrap_diff([]) is None


def run(n_ok_a: int, n_ok_b: int, n: int, cat: str = "x") -> tuple[list[Any], list[Any]]:
    a = [{"id": f"{cat}{i}", "ok": i < n_ok_a, "category": cat, "counts": {}} for i in range(n)]
    b = [{"id": f"{cat}{i}", "ok": i < n_ok_b, "category": cat, "counts": {}} for i in range(n)]
    return a, b


def test_compare_and_verdicts() -> None:
    a, b = run(20, 60, 100)
    cmp = compare(a, b, resamples=500)
    acc = cmp["metrics"]["accuracy"]
    assert (acc["a"], acc["b"], acc["only_a"], acc["only_b"]) == (0.2, 0.6, 0, 40)
    assert acc["p_value"] == pytest.approx(2 / 2 ** 40)
    assert cmp["verdict"]["decision"] == "ship"
    assert cmp["pairs"] == 100
    cmp = compare(b, a, resamples=500)
    assert cmp["verdict"]["decision"] == "roll back"
    a, b = run(50, 53, 100)
    assert compare(a, b, resamples=500)["verdict"]["decision"] == "iterate"


def test_a_regressing_category_blocks_shipping() -> None:
    a1, b1 = run(10, 90, 100, "good")
    a2, b2 = run(30, 0, 30, "bad")
    cmp = compare(a1 + a2, b1 + b2, resamples=500)
    assert cmp["categories"]["bad"]["ci"][1] < 0
    verdict = cmp["verdict"]
    assert verdict["decision"] == "iterate"
    assert any("bad" in r for r in verdict["reasons"])


def test_criteria_are_editable() -> None:
    a, b = run(40, 52, 100)  # +12 points, p = 2 * P(X <= 0 | n=12) = 0.00049
    assert compare(a, b, resamples=300)["verdict"]["decision"] == "ship"
    strict = Criteria(min_improvement=0.15)
    assert compare(a, b, strict, resamples=300)["verdict"]["decision"] == "iterate"
    relative = Criteria(min_improvement=0.5, relative=True)  # needs +20 points from 40%
    assert compare(a, b, relative, resamples=300)["verdict"]["decision"] == "iterate"
    assert Criteria.from_dict(strict.to_dict()) == strict
    assert decide({"delta": None}, {}, Criteria())["decision"] == "iterate"


def test_only_paired_cases_count() -> None:
    a, b = run(5, 5, 10)
    cmp = compare([*a, {"id": "extra", "ok": True, "counts": {}}], b, resamples=100)
    assert (cmp["pairs"], cmp["only_in_a"], cmp["only_in_b"]) == (10, 1, 0)
