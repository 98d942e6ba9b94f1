"""The quick start's steps up to the export. Each submits the other tabs' own jobs through their
services (the dataset library, TrainingService, ExportService) and records what it made in the
flow's artefacts, so that running a step again after an interruption picks up its work:

    tools        the catalog, read (sample, file) or listed from a live MCP server  -> tools.json
    synthesize   a new workspace dataset from the tools (data.py)                  -> dataset_id
    validate     every example checked; errors stop the flow
    split        train / validation / test (the held-out split the verdict uses)
    train        LoRA with the recipe's config (an interrupted run resumes from its checkpoint)
                                                                                     -> run_id
    export       the fine-tuned run and the base model, verified (a ready export of the same
                 base is reused)                                   -> export_id, base_export_id
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.errors import StudioError
from phi4studio.core.jobs import ExecutorJob, JobState, ThreadContext
from phi4studio.core.quickstart.flow import StepContext, StepFailed, StepFn
from phi4studio.core.quickstart.recipe import ToolSource
from phi4studio.core.quickstart.state import TOOLS_FILE

if TYPE_CHECKING:
    from phi4studio.core.training.runs import RunRecord

CATEGORY = "quickstart"


# --- tools ------------------------------------------------------------------------------------


async def tools_step(ctx: StepContext) -> None:
    from phi4studio.core.datasets.catalog import load_tool_catalog, save_tool_catalog

    src = ToolSource.from_dict(ctx.options.get("tools") or {})
    out = ctx.folder / TOOLS_FILE
    server: dict[str, Any] | None = None
    if src.kind == "mcp":
        from phi4studio.core.datasets.workflows import mcp_tools_job

        argv = src.argv
        if not argv:
            raise StepFailed("No MCP server command given.")
        ctx.progress(None, f"listing the tools of {argv[0]}")
        job = mcp_tools_job(ctx.svc.library, argv[0], argv[1:])
        ctx.track(job)
        if await ctx.wait(job) is not JobState.SUCCEEDED:
            raise StepFailed(job.error or "the MCP server's tools could not be listed")
        found = Path(job.result)
        tools = load_tool_catalog(found)
        server = {"command": src.command}
    else:
        def read(_c: ThreadContext) -> list[dict[str, Any]]:
            if src.kind == "file":
                return load_tool_catalog(Path(str(src.path)))
            from phi4studio.core.datasets.samples import sample_tools

            return sample_tools()

        tools = await ctx.run(ExecutorJob(f"Quick start: read {src.label}", read,
                                          category=CATEGORY))
    if not tools:
        raise StepFailed(f"{src.label} has no tools.")
    save_tool_catalog(out, tools, server=server, name=src.label)
    ctx.artefacts.update(tools_file=str(out), tools=[t["name"] for t in tools])
    ctx.progress(1.0, f"{len(tools)} tool(s): " + ", ".join(t["name"] for t in tools[:6]) +
                 (" ..." if len(tools) > 6 else ""))


# --- dataset ------------------------------------------------------------------------------------


async def synthesize_step(ctx: StepContext) -> None:
    from phi4studio.core.datasets.catalog import load_tool_catalog
    from phi4studio.core.datasets.library import (
        DatasetJob,
        new_dataset_id,
        remove_store_files,
        store_file,
    )
    from phi4studio.core.datasets.store import DatasetStore
    from phi4studio.core.quickstart.data import quickstart_examples

    lib = ctx.svc.library
    data = ctx.recipe["data"]
    n = int(data["n"])
    old = ctx.artefacts.get("dataset_id")
    if old and lib.workspace.catalog.get("datasets", old) is not None:
        if lib.get(old).n_examples >= n:
            ctx.progress(1.0, f"{lib.get(old).name}: {n} examples")
            return
        lib.delete(old)  # a partial dataset from an interrupted run: to the trash
    tools = load_tool_catalog(Path(ctx.artefacts["tools_file"]))
    name = lib.unique_name(f"Quick start: {ctx.state.label}"[:60])
    ds_id = new_dataset_id()
    target = store_file(lib.workspace, ds_id)

    def work(c: ThreadContext) -> int:
        examples = quickstart_examples(tools, n, seed=int(data.get("seed", 0)),
                                       mix=data.get("mix"), shape=data.get("shape"),
                                       progress=c.progress, cancelled=lambda: c.cancelled)
        store = DatasetStore.create(target, name)
        try:
            res = store.add_many(examples, label=f"Synthesize {n} example(s)",
                                 on_conflict="rename", record_undo=False,
                                 cancelled=lambda: c.cancelled)
        finally:
            store.close()
        return int(res.added)

    job = DatasetJob(f"Synthesize {n} example(s) for the quick start", work, None,
                     category="datasets")
    lib.submit(job)
    ctx.track(job)
    try:
        state = await ctx.wait(job)
    except BaseException:
        remove_store_files(target)
        raise
    if state is not JobState.SUCCEEDED:
        remove_store_files(target)
        raise StepFailed(job.error or "synthesis failed")
    lib.register(ds_id, name)
    ctx.artefacts.update(dataset_id=ds_id, dataset_name=name)
    ctx.progress(1.0, f"{job.result} examples in {name}")


async def validate_step(ctx: StepContext) -> None:
    from phi4studio.core.datasets.workflows import validate_job

    job = validate_job(ctx.svc.library, ctx.artefacts["dataset_id"])
    ctx.track(job)
    if await ctx.wait(job) is not JobState.SUCCEEDED:
        raise StepFailed(job.error or "validation failed")
    summary = job.result
    ctx.artefacts["validation"] = {"examples": summary.n_examples, "ok": summary.n_ok,
                                   "warnings": summary.n_warning, "errors": summary.n_error}
    if summary.n_error:
        raise StepFailed(f"{summary.n_error} example(s) have validation errors; fix them in the "
                         "Datasets tab, then resume.")
    ctx.progress(1.0, summary.summary())


async def split_step(ctx: StepContext) -> None:
    from phi4studio.core.datasets.workflows_synth import describe_plan, split_job
    from phi4studio.core.quickstart.data import BROAD_SOURCE

    data = ctx.recipe["data"]
    # the broad catalog's examples only train: the held-out split is the user's tools
    job = split_job(ctx.svc.library, ctx.artefacts["dataset_id"], ratios=data.get("split"),
                    seed=int(data.get("seed", 0)), train_only_sources=[BROAD_SOURCE])
    ctx.track(job)
    if await ctx.wait(job) is not JobState.SUCCEEDED:
        raise StepFailed(job.error or "the split failed")
    counts = {k: int(v) for k, v in job.result.counts.items()}
    ctx.artefacts["split"] = counts
    if not counts.get("test") or not counts.get("train"):
        raise StepFailed(f"the split left no training or no test examples ({counts})")
    ctx.progress(1.0, describe_plan(job.result))


# --- training ---------------------------------------------------------------------------------


async def train_step(ctx: StepContext) -> None:
    from phi4studio.core.training.config import TrainingConfig
    from phi4studio.core.training.runs import FINISHED_OK

    svc = ctx.svc.training
    monitor = None
    run_id = ctx.artefacts.get("run_id")
    if run_id:
        rec = svc.run_record(run_id)
        if rec is not None and rec.status in FINISHED_OK and \
                (rec.paths.adapter / "adapter_config.json").exists():
            ctx.artefacts["training_runtime"] = training_runtime(rec)
            ctx.progress(1.0, f"run {run_id}: {rec.status}")
            return
        if rec is not None and rec.resumable:
            monitor = svc.resume(run_id)
    if monitor is None:
        # cpu_threads AUTO_THREADS (-1): the trainer takes the free cores and follows them
        training = dict(ctx.recipe["training"])
        cfg = TrainingConfig.model_validate({
            **training, "base_model": ctx.recipe["base"]["ref"],
            "dataset": ctx.artefacts["dataset_id"],
            "name": f"Quick start · {ctx.state.label}"[:80]})
        monitor = svc.launch(cfg)
        ctx.artefacts["run_id"] = monitor.run_id
        ctx.save()
    while monitor.active:
        job = monitor.job
        if job is not None and job not in ctx.runner.current_jobs and not job.state.finished:
            ctx.track(job)
        loss = monitor.series.get("loss") or []
        text = f"step {monitor.step}/{monitor.total}" if monitor.total else monitor.message
        if loss:
            text += f" · loss {loss[-1][1]:.3f}"
        ctx.progress(monitor.step / monitor.total if monitor.total else None, text)
        await asyncio.sleep(0.3)
    ctx.runner.current_jobs.clear()
    if monitor.status == "cancelled" or ctx.runner.cancelling:
        from phi4studio.core.jobs import JobCancelled

        raise JobCancelled()
    if monitor.status not in FINISHED_OK:
        raise StepFailed(monitor.error or f"the training run {monitor.status}")
    rec = svc.run_record(monitor.run_id)
    if rec is not None:
        ctx.artefacts["training_runtime"] = training_runtime(rec)
    ctx.progress(1.0, f"run {monitor.run_id}: {monitor.status}")


def training_runtime(rec: RunRecord) -> dict[str, Any]:
    """Where a finished run trained and how (the report's figures depend on it), and how many
    training examples its maximum length cut or left out (said in the report)."""
    out: dict[str, Any] = {k: rec.metrics.get(k) for k in (
        "device", "precision", "total_steps", "duration_s")}
    train = (rec.metrics.get("tokens") or {}).get("train")
    if isinstance(train, dict):
        out["data"] = {"examples": train.get("examples"), "truncated": train.get("truncated"),
                       "dropped": train.get("dropped_no_trained_tokens"),
                       "max_length": rec.config.get("max_length")}
    reuse = rec.metrics.get("frozen_prefix")
    if isinstance(reuse, dict) and "hits" in reuse:  # the frozen layers' output reused
        out["frozen_prefix"] = reuse
    return out


# --- export -----------------------------------------------------------------------------------


def _free_folder(root: Path, name: str) -> Path:
    out, n = root / name, 2
    while out.exists() and any(out.iterdir()):
        out, n = root / f"{name}-{n}", n + 1
    return out


def _base_source(ref: str) -> str:
    """A local path for the base model (a Hub id is exported from its downloaded snapshot)."""
    if Path(ref).expanduser().exists():
        return str(Path(ref).expanduser().resolve())
    from phi4studio.core.training.models import inspect_model

    local = inspect_model(ref).local_path
    if local is None:
        raise StepFailed(f"{ref} is not downloaded, so it cannot be exported for the A/B.")
    return str(local)


def reusable_base_export(exports: Any, source: str, precision: str, target: str) -> Any:
    """A ready export of the same base model with the same recipe (the quick start's A side)."""
    for rec in exports.records():
        src = rec.meta.get("source") or {}
        if rec.usable and rec.precision == precision and rec.target == target and \
                src.get("kind") != "run" and str(src.get("path") or "") == source:
            return rec
    return None


async def _export(ctx: StepContext, key: str, name: str, source_text: str) -> Any:
    from phi4studio.core.export.plan import ExportPlan, Int4Options, VerifyOptions
    from phi4studio.core.export.wizard import ExportRefused

    svc = ctx.svc.exports
    rec = svc.get(ctx.artefacts[key]) if ctx.artefacts.get(key) else None
    if rec is not None and rec.usable:
        return rec
    ex = ctx.recipe["export"]
    plan = ExportPlan(
        name=name, source=svc.source_spec(source_text), precision=ex["precision"],
        int4=Int4Options(algo=ex.get("int4_algo", "k_quant_mixed")), target=ex["target"],
        output_dir=str(_free_folder(svc.workspace.exports_dir, name)),
        verify=VerifyOptions(prompts=4, dataset=ctx.artefacts.get("dataset_id")))
    try:
        job = svc.submit(plan)
    except ExportRefused as exc:
        raise StepFailed(f"the export was refused: {exc}") from exc
    ctx.artefacts[key] = job.export_id
    ctx.save()
    ctx.track(job)
    while not job.state.finished:
        ctx.progress(job.progress, f"{name}: {job.message}")
        await asyncio.sleep(0.3)
    await ctx.wait(job)
    rec = svc.get(job.export_id)
    if rec is None or not rec.usable:
        raise StepFailed(job.error or f"the export {name} did not finish ({job.state.value})")
    return rec


async def export_step(ctx: StepContext) -> None:
    flow = ctx.state.id
    ex = ctx.recipe["export"]
    ft = await _export(ctx, "export_id", f"qs-{flow}-finetuned", ctx.artefacts["run_id"])
    base_src = _base_source(ctx.recipe["base"]["ref"])
    if not ctx.artefacts.get("base_export_id"):
        found = reusable_base_export(ctx.svc.exports, base_src, ex["precision"], ex["target"])
        if found is not None:
            ctx.artefacts["base_export_id"] = found.id
            ctx.save()
    base = await _export(ctx, "base_export_id", f"qs-base-{Path(base_src).stem}"[:60], base_src)
    verdicts = {k: (r.verification or {}).get("status") for k, r in (("finetuned", ft),
                                                                     ("base", base))}
    ctx.artefacts.update(export_dir=str(ft.path), base_export_dir=str(base.path),
                         export_verification=verdicts)
    ctx.progress(1.0, f"{ft.name} ({ft.recipe}), base {base.name}")


def _steps() -> dict[str, StepFn]:
    from phi4studio.core.quickstart.steps_eval import evaluate_step, verdict_step

    return {"tools": tools_step, "synthesize": synthesize_step, "validate": validate_step,
            "split": split_step, "train": train_step, "export": export_step,
            "evaluate": evaluate_step, "verdict": verdict_step}


STEP_FUNCTIONS: dict[str, StepFn] = _steps()
__all__ = ["STEP_FUNCTIONS", "StudioError"]
