"""The quick start's last two steps: base vs fine-tuned evaluations, then the A/B verdict.

    evaluate   for each suite (the flow dataset's held-out test split first, then the BFCL
               categories: their data is fetched first when it is not on this computer, and
               they are skipped with a note when that fails), one evaluation of the base export
               and one of the fine-tuned export, with guided decoding as the recipe says. Each is
               an EvaluationJob in the GPU slot; an interrupted one resumes at its first
               unfinished case. A finished evaluation of the same base export, suite and settings
               (from an earlier quick start) is reused.
    verdict    paired A/B per suite (McNemar, bootstrap CIs, the criteria's decision); the flow's
               verdict is the held-out split's. report.json and report.md go into the flow folder.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from phi4studio.core.jobs import ExecutorJob, JobState, ThreadContext
from phi4studio.core.quickstart.flow import StepContext, StepFailed
from phi4studio.core.quickstart.recipe import DATASET_SUITE

SIDES = ("base", "finetuned")


async def bfcl_data(ctx: StepContext) -> str | None:
    """The BFCL data on this computer: fetched as a job (Get bfcl-eval, from PyPI) when it is
    missing. None when it is there; else a note on why the BFCL categories are skipped."""
    from phi4studio.core.evaluation import benchdata

    svc = ctx.svc.evaluations
    if benchdata.locate("bfcl", svc.benchmarks_root) is not None:
        return None
    ctx.progress(None, "getting the BFCL data (bfcl-eval, from PyPI)")
    job = svc.fetch_job("bfcl")
    ctx.submit(job)
    if await ctx.wait(job) is JobState.SUCCEEDED and \
            benchdata.locate("bfcl", svc.benchmarks_root) is not None:
        return None
    return (f"BFCL categories skipped: the BFCL data is not on this computer and could not be "
            f"fetched ({job.error or 'no data after the download'}). Get it in the Evaluate tab "
            f"(Get BFCL data: a wheel file downloaded elsewhere works too) or with `phi4studio "
            f"eval fetch bfcl`; the Evaluate tab then evaluates both exports on BFCL, and later "
            f"quick starts include it.")


async def resolved_suites(ctx: StepContext) -> tuple[list[tuple[str, int | None]], list[str]]:
    """(suite, limit) pairs to run, and notes on what was left out."""
    notes: list[str] = []
    out: list[tuple[str, int | None]] = []
    bfcl: bool | None = None
    for suite, limit in ctx.recipe["evaluation"]["suites"]:
        if suite == DATASET_SUITE:
            out.append((f"dataset:{ctx.artefacts['dataset_id']}", limit))
            continue
        if suite.startswith("bfcl:"):
            if bfcl is None:
                note = await bfcl_data(ctx)
                bfcl = note is None
                notes += [note] if note else []
            if not bfcl:
                continue
        out.append((suite, limit))
    return out, notes


# EvalConfig's tool-call decoding control
DECODING = ("call_threshold", "text_tokens", "stop_repeats", "ask_missing", "more_threshold",
            "stated_optional", "tool_words")
_DECODING_DEFAULTS: dict[str, Any] = {"call_threshold": None, "text_tokens": None,
                                      "stop_repeats": False, "ask_missing": False,
                                      "more_threshold": None, "stated_optional": False,
                                      "tool_words": None}


def decoding(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The recipe's tool-call decoding control (absent in flows made before it: off)."""
    return {k: evaluation.get(k, _DECODING_DEFAULTS[k]) for k in DECODING}


def _same_settings(info: Any, run_config: dict[str, Any], limit: int | None,
                   evaluation: dict[str, Any]) -> bool:
    return (run_config.get("limit") == limit and info.guided == evaluation["guided"]
            and int(run_config.get("max_new_tokens") or 0) == int(evaluation["max_new_tokens"])
            and decoding(run_config) == decoding(evaluation))


def reusable_evaluation(svc: Any, model_dir: str, suite: str, limit: int | None,
                        evaluation: dict[str, Any]) -> str | None:
    """A complete evaluation of this model folder on this suite with the same settings."""
    if suite.startswith("dataset:"):
        return None
    for info in svc.runs():
        if info.model_dir != model_dir or info.suites != [suite] or info.adapter:
            continue
        if info.status != "complete" or info.done < info.total:
            continue
        try:
            cfg = svc.run_dir(info.id).config()
        except (OSError, ValueError):
            continue
        if _same_settings(info, cfg, limit, evaluation):
            return str(info.id)
    return None


async def _one(ctx: StepContext, side: str, suite: str, limit: int | None,
               label: str) -> None:
    from phi4studio.core.evaluation.driver import EvalConfig, create_run, new_run_id, register_run
    from phi4studio.core.evaluation.service import EvaluationJob

    svc = ctx.svc.evaluations
    evals = ctx.artefacts.setdefault("evaluations", {s: {} for s in SIDES})
    ev = ctx.recipe["evaluation"]
    model = ctx.artefacts["export_dir" if side == "finetuned" else "base_export_dir"]
    known = evals[side].get(suite)
    job: EvaluationJob | None = None
    if known:
        try:
            info = svc.get(known)
        except Exception:  # noqa: BLE001 - deleted meanwhile: evaluate again
            info = None
        if info is not None and info.done >= info.total and info.status == "complete":
            return
        if info is not None:
            job = svc.resume(known)
    if job is None:
        reuse = reusable_evaluation(svc, model, suite, limit, ev) if side == "base" else None
        if reuse is not None:
            evals[side][suite] = reuse
            ctx.save()
            return
        ws = svc.workspace
        cfg = EvalConfig(model=model, suites=[suite], limit=limit, guided=ev["guided"],
                         max_new_tokens=int(ev["max_new_tokens"]), **decoding(ev),
                         name=f"Quick start {side} · {suite}")
        run = await asyncio.to_thread(create_run, ws, cfg, folder=ws.evals_dir / new_run_id(),
                                      register=False, benchmarks_root=svc.benchmarks_root)
        register_run(ws, run)
        evals[side][suite] = run.id
        ctx.save()
        job = EvaluationJob(svc, run=run, cancel_grace_s=svc.cancel_grace_s())
        svc.queue.submit(job)
    ctx.track(job)
    while not job.state.finished:
        frac = job.done / job.total if job.total else None
        ctx.progress(frac, f"{label}: {side} {suite} {job.done}/{job.total}")
        await asyncio.sleep(0.3)
    if await ctx.wait(job) is not JobState.SUCCEEDED:
        raise StepFailed(job.error or f"the {side} evaluation on {suite} failed")
    if not (job.result or {}).get("complete"):
        raise StepFailed(f"the {side} evaluation on {suite} stopped before its end")


async def evaluate_step(ctx: StepContext) -> None:
    suites, notes = await resolved_suites(ctx)
    ctx.artefacts["evaluation_notes"] = notes
    ctx.artefacts["suites"] = [s for s, _ in suites]
    total = len(suites) * len(SIDES)
    k = 0
    for suite, limit in suites:
        for side in SIDES:
            k += 1
            await _one(ctx, side, suite, limit, f"{k}/{total}")
    ctx.progress(1.0, f"{total} evaluation(s)")


# --- verdict ------------------------------------------------------------------------------------


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    o = summary.get("overall") or {}

    def value(name: str) -> float | None:
        r = o.get(name) or {}
        return r.get("value") if isinstance(r, dict) else None

    return {"accuracy": value("accuracy"), "schema_validity": value("schema_validity"),
            "json_validity": value("json_validity"), "cases": summary.get("done"),
            "irrelevance_detection": value("irrelevance_detection")}


async def verdict_step(ctx: StepContext) -> None:
    from phi4studio.core.evaluation.stats import Criteria, compare
    from phi4studio.core.quickstart.report import write_report

    svc = ctx.svc.evaluations
    evals = ctx.artefacts.get("evaluations") or {}
    suites = list(ctx.artefacts.get("suites") or [])
    crit = Criteria.from_dict(ctx.recipe.get("criteria"))
    inputs = {s: (svc.results(evals["base"][s]), svc.results(evals["finetuned"][s]),
                  svc.summary(evals["base"][s]), svc.summary(evals["finetuned"][s]))
              for s in suites}

    def work(c: ThreadContext) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, (suite, (a, b, sa, sb)) in enumerate(inputs.items()):
            c.progress(i / max(1, len(inputs)), suite)
            cmp = compare(a, b, crit)
            main = cmp["metrics"][crit.metric]
            out[suite] = {"base": _headline(sa), "finetuned": _headline(sb),
                          "delta": main.get("delta"), "ci": main.get("ci"),
                          "p_value": main.get("p_value"), "pairs": cmp["pairs"],
                          "decision": cmp["verdict"]["decision"],
                          "reasons": cmp["verdict"]["reasons"]}
        return out

    comparisons = await ctx.run(ExecutorJob("Quick start: A/B verdict", work,
                                            category="evaluation"))
    held_out = next((s for s in suites if s.startswith("dataset:")), None)
    if held_out is None:
        raise StepFailed("no held-out split was evaluated")
    ctx.artefacts["comparisons"] = comparisons
    ctx.artefacts["verdict"] = comparisons[held_out]["decision"]
    # off the event loop (the app's UI thread): file writes and reading the processor's name
    ctx.artefacts["report"] = str(await asyncio.to_thread(write_report, ctx.state, ctx.folder))
    ctx.progress(1.0, f"verdict: {ctx.artefacts['verdict']}")


__all__ = ["Path", "evaluate_step", "verdict_step"]
