"""Train / validation / test split: deterministic for a seed, stratified, and leak-free.

Examples whose conversations are the same after normalising case, spacing and punctuation (the
store's `norm_hash`) form one group and always land in the same split, so no conversation is
trained on and tested on. Groups are stratified by scenario (declared, else inferred) and
optionally by the first tool called; within a stratum they are shuffled by a hash of seed and
content (stable whatever the row order) and each goes to the split furthest below its share.
Optionally whole tools are held out: every example calling one goes to test, so the test split
measures generalisation to tools never seen in training. Optionally examples of some sources
are training-only (auxiliary data, such as the quick start's broad catalog): they all go to
train, and the ratios apply to the other examples, so validation and test hold only those.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.schema import SPLITS

if TYPE_CHECKING:
    from phi4studio.core.datasets.query import ExampleFilter
    from phi4studio.core.datasets.store import DatasetStore

DEFAULT_RATIOS: dict[str, float] = {"train": 0.8, "validation": 0.1, "test": 0.1}


@dataclass(frozen=True)
class SplitRow:
    id: str
    scenario: str
    group: str  # normalised content hash: equal conversations share it
    tools_called: tuple[str, ...] = ()
    split: str | None = None  # the current split (kept with respect_existing=True)
    source: str = ""


@dataclass
class SplitPlan:
    assignments: dict[str, str] = field(default_factory=dict)  # example id -> split
    counts: Counter[str] = field(default_factory=Counter)
    by_stratum: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    n_groups: int = 0
    held_out: int = 0  # examples sent to test because they call a held-out tool
    train_only: int = 0  # examples sent to train because of their source
    kept_version: int | None = None  # the version that keeps the splits from before (run_split)


def _check_ratios(ratios: Mapping[str, float]) -> dict[str, float]:
    bad = [k for k in ratios if k not in SPLITS]
    if bad or any(v < 0 for v in ratios.values()) or sum(ratios.values()) <= 0:
        raise DatasetError(
            f"Split ratios must be non-negative shares of {', '.join(SPLITS)}; got {dict(ratios)}."
        )
    total = sum(ratios.values())
    return {s: ratios.get(s, 0.0) / total for s in SPLITS}


def plan_split(
    rows: Iterable[SplitRow],
    *,
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    seed: int = 0,
    stratify_by_tool: bool = False,
    holdout_tools: Iterable[str] = (),
    respect_existing: bool = False,
    train_only_sources: Iterable[str] = (),
) -> SplitPlan:
    """Decide a split for every row (pure: no store needed)."""
    shares = _check_ratios(ratios)
    holdout = set(holdout_tools)
    train_only = set(train_only_sources)
    groups: dict[str, list[SplitRow]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)
    plan = SplitPlan(n_groups=len(groups))
    free: dict[str, list[tuple[str, list[SplitRow]]]] = defaultdict(list)
    for key, members in groups.items():
        head = members[0]
        forced: str | None = None
        if holdout and any(set(m.tools_called) & holdout for m in members):
            forced = "test"
            plan.held_out += len(members)
        elif train_only and all(m.source in train_only for m in members):
            forced = "train"
            plan.train_only += len(members)
        elif respect_existing:
            forced = next((m.split for m in members if m.split in SPLITS), None)
        stratum = head.scenario
        if stratify_by_tool:
            stratum += "/" + (head.tools_called[0] if head.tools_called else "-")
        if forced is not None:
            _assign(plan, members, forced, stratum)
        else:
            order = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).hexdigest()
            free[stratum].append((order, members))
    for stratum in sorted(free):
        items = sorted(free[stratum], key=lambda t: t[0])
        n = sum(len(m) for _, m in items)
        target = {s: shares[s] * n for s in SPLITS}
        got: Counter[str] = Counter()
        for _, members in items:
            best = max(SPLITS, key=lambda s: (target[s] - got[s], shares[s]))
            got[best] += len(members)
            _assign(plan, members, best, stratum)
    return plan


def _assign(plan: SplitPlan, members: list[SplitRow], split: str, stratum: str) -> None:
    for m in members:
        plan.assignments[m.id] = split
        plan.counts[split] += 1
        plan.by_stratum[stratum][split] += 1


def split_rows(store: DatasetStore, flt: ExampleFilter | None = None) -> list[SplitRow]:
    """What planning needs from a store (ids, hashes, scenario): examples stay on disk."""
    from phi4studio.core.datasets.coverage import infer_scenario
    where, params = store.where(flt)
    rows = store.read(
        "SELECT id, scenario, norm_hash, called, split, source, "
        f"CASE WHEN scenario IS NULL THEN data END FROM examples WHERE {where} ORDER BY pos",
        params,
    )
    out = []
    for ex_id, scenario, group, called, split, source, data in rows:
        if scenario is None:
            scenario = infer_scenario(json.loads(data))
        tools = tuple(t for t in str(called or "").split("\x1f") if t)
        out.append(SplitRow(str(ex_id), str(scenario), str(group), tools, split,
                            str(source or "")))
    return out


def assign_splits(
    store: DatasetStore,
    *,
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    seed: int = 0,
    flt: ExampleFilter | None = None,
    stratify_by_tool: bool = False,
    holdout_tools: Iterable[str] = (),
    respect_existing: bool = False,
    train_only_sources: Iterable[str] = (),
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> SplitPlan:
    """Plan and apply a split to the store as one undoable edit."""
    rows = split_rows(store, flt)
    plan = plan_split(
        rows, ratios=ratios, seed=seed, stratify_by_tool=stratify_by_tool,
        holdout_tools=holdout_tools, respect_existing=respect_existing,
        train_only_sources=train_only_sources,
    )
    changes = {r.id: plan.assignments[r.id] for r in rows if r.split != plan.assignments[r.id]}
    label = f"Split {len(rows)} example(s) (seed {seed})"
    with store.writer(label) as w:
        for i, (ex_id, split) in enumerate(changes.items()):
            if i % 500 == 0:
                if cancelled is not None and cancelled():
                    from phi4studio.core.jobs.model import JobCancelled

                    raise JobCancelled()
                if progress is not None:
                    progress(i / max(len(changes), 1), f"{i} of {len(changes)} example(s)")
            d = w.get(ex_id)
            if d is not None:
                w.put({**d, "split": split})
    if progress is not None:
        progress(1.0, f"{len(changes)} example(s) moved")
    return plan


def find_leaks(store: DatasetStore) -> list[tuple[list[str], list[str]]]:
    """Groups of equal conversations spread over more than one split: (ids, splits)."""
    rows = store.read(
        "SELECT GROUP_CONCAT(id, char(31)), GROUP_CONCAT(DISTINCT split) FROM examples "
        "WHERE split IS NOT NULL GROUP BY norm_hash HAVING COUNT(DISTINCT split) > 1"
    )
    return [(str(a).split("\x1f"), sorted(str(b).split(","))) for a, b in rows]
