"""Synthesis and split as jobs for the Datasets tab (and synchronously for the CLI).

    synth_job(library, tools=..., n=..., seed=..., mix=..., dataset_id=None, new_name=...)
    synth_from_server_job(library, command, args, ...)   list an MCP server's tools, then synth
    split_job(library, dataset_id, ratios=..., seed=..., holdout_tools=...)

A split first keeps the current state as a named version ("Before split ..."), so the previous
splits can be restored whatever happens afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi4studio.core.datasets.library import (
    DatasetJob,
    DatasetLibrary,
    new_dataset_id,
    remove_store_files,
    store_file,
)
from phi4studio.core.datasets.store import DatasetStore
from phi4studio.core.datasets.workflows import CancelledFn, ProgressFn, mcp_tools_job
from phi4studio.core.jobs import Job, JobState, ThreadContext

OnDone = Callable[[Job], None] | None


@dataclass(frozen=True)
class SynthReport:
    added: int
    dataset_id: str | None = None
    message: str = ""


def parse_mix(text: str) -> dict[str, float]:
    """`single=0.3,multiple=0.2` -> {"single": 0.3, "multiple": 0.2} (shares or percents)."""
    out: dict[str, float] = {}
    for part in text.split(","):
        if part.strip():
            key, _, value = part.partition("=")
            out[key.strip()] = float(value.strip().rstrip("%"))
    return out


def run_synthesis(
    target: Path,
    tools: Sequence[Mapping[str, Any]],
    n: int,
    *,
    seed: int = 0,
    mix: Mapping[str, float] | None = None,
    create_name: str | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> SynthReport:
    """Generate `n` examples into the store file `target` (created when `create_name` is set)."""
    from phi4studio.core.datasets.synthesis import synthesize

    examples = synthesize(tools, n, seed=seed, mix=mix, progress=progress, cancelled=cancelled)
    store = DatasetStore.create(target, create_name) if create_name else DatasetStore.open(target)
    ok = False
    try:
        res = store.add_many(examples, label=f"Synthesize {n} example(s)", on_conflict="rename",
                             record_undo=False, cancelled=cancelled)
        ok = True
    finally:
        store.close()
        if create_name and not ok:
            remove_store_files(target)
    return SynthReport(res.added, None, f"{res.added} example(s) synthesized (seed {seed})")


def synth_job(
    library: DatasetLibrary,
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    catalog: Path | None = None,
    n: int = 100,
    seed: int = 0,
    mix: Mapping[str, float] | None = None,
    dataset_id: str | None = None,
    new_name: str | None = None,
    on_done: OnDone = None,
) -> Job:
    """Synthesize into `dataset_id`, or into a new dataset `new_name`, from `tools` or a catalog
    file. The job's result is a SynthReport; `job.made_dataset` names a new dataset."""
    from phi4studio.core.datasets.catalog import load_tool_catalog

    if dataset_id is None:
        name: str | None = library.unique_name((new_name or "Synthetic").strip() or "Synthetic")
        ds_id = new_dataset_id()
        target = store_file(library.workspace, ds_id)
    else:
        name, ds_id, target = None, dataset_id, library.path(dataset_id)

    def work(ctx: ThreadContext) -> SynthReport:
        specs = list(tools) if tools is not None else load_tool_catalog(Path(str(catalog)))
        ctx.log(f"{len(specs)} tool(s): " + ", ".join(str(t.get("name")) for t in specs))
        report = run_synthesis(target, specs, n, seed=seed, mix=mix, create_name=name,
                               progress=ctx.progress, cancelled=lambda: ctx.cancelled)
        ctx.log(report.message)
        return report

    def done(_j: Job) -> None:
        if name is not None and job.state is JobState.SUCCEEDED:
            library.register(ds_id, name)
            job.made_dataset = ds_id
        elif name is not None:
            remove_store_files(target)
        if isinstance(job.result, SynthReport):
            job.set_message(job.result.message)
        if on_done is not None:
            on_done(job)

    job: DatasetJob[SynthReport] = DatasetJob(f"Synthesize {n} example(s)", work, dataset_id)
    return library.submit(job, done)


def synth_from_server_job(
    library: DatasetLibrary, command: str, args: list[str], *, on_done: OnDone = None,
    **synth: Any,
) -> Job:
    """List a live MCP server's tools (saved as a catalog), then synthesize from them."""

    def listed(job: Job) -> None:
        if job.state is JobState.SUCCEEDED and isinstance(job.result, Path):
            synth_job(library, catalog=job.result, on_done=on_done, **synth)
        elif on_done is not None:
            on_done(job)

    return mcp_tools_job(library, command, args, on_done=listed)


# --- split ---------------------------------------------------------------------------------------


def run_split(
    store: DatasetStore,
    *,
    ratios: Mapping[str, float] | None = None,
    seed: int = 0,
    holdout_tools: Iterable[str] = (),
    stratify_by_tool: bool = False,
    train_only_sources: Iterable[str] = (),
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> Any:
    """Keep the current state as a version, then assign splits (returns the SplitPlan)."""
    from phi4studio.core.datasets.split import DEFAULT_RATIOS, assign_splits

    holdout = [t for t in holdout_tools if t]
    kept = None
    if store.count():
        kept = store.versions.create(f"Before split (seed {seed})",
                                     note="made automatically before assigning splits").id
    plan = assign_splits(store, ratios=ratios or DEFAULT_RATIOS, seed=seed,
                         holdout_tools=holdout, stratify_by_tool=stratify_by_tool,
                         train_only_sources=train_only_sources, progress=progress,
                         cancelled=cancelled)
    plan.kept_version = kept
    return plan


def describe_plan(plan: Any) -> str:
    counts = ", ".join(f"{s} {plan.counts.get(s, 0)}" for s in ("train", "validation", "test"))
    held = f", {plan.held_out} held out with their tools" if plan.held_out else ""
    held += f", {plan.train_only} training-only by their source" if plan.train_only else ""
    return f"{counts} ({plan.n_groups} content groups{held})"


def split_job(
    library: DatasetLibrary,
    dataset_id: str,
    *,
    ratios: Mapping[str, float] | None = None,
    seed: int = 0,
    holdout_tools: Iterable[str] = (),
    stratify_by_tool: bool = False,
    train_only_sources: Iterable[str] = (),
    on_done: OnDone = None,
) -> Job:
    path = library.path(dataset_id)
    holdout = list(holdout_tools)
    train_only = list(train_only_sources)

    def work(ctx: ThreadContext) -> Any:
        with DatasetStore.open(path) as store:
            plan = run_split(store, ratios=ratios, seed=seed, holdout_tools=holdout,
                             stratify_by_tool=stratify_by_tool,
                             train_only_sources=train_only, progress=ctx.progress,
                             cancelled=lambda: ctx.cancelled)
        ctx.log(describe_plan(plan))
        return plan

    def done(job: Job) -> None:
        if job.state is JobState.SUCCEEDED:
            job.set_message(describe_plan(job.result))
        if on_done is not None:
            on_done(job)

    job = DatasetJob(f"Split {library.get(dataset_id).name}", work, dataset_id)
    return library.submit(job, done)
