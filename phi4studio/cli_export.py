"""`phi4studio export ...`: the Export tab's wizard as one command, over the same core.

    phi4studio export --source RUN_OR_DIR [--strategy merged|adapter]
                      [--precision int4|int8|fp16|bf16|fp32] [--int4-algo k_quant_mixed]
                      [--block-size 32] [--accuracy-level 0-4] [--ep cpu|cuda|dml] --out DIR
                      [--name NAME] [--prompts 8] [--max-new-tokens 32] [--threshold 0.9]
                      [--dataset D] [--no-verify] [--calibration-dataset D] [--json]
    phi4studio bench export [--models smollm2,tiny] [--precisions ...] [--json]

RUN_OR_DIR: a training run of the workspace (id or name), a run folder, a Hugging Face model
folder or a .gguf file. The output folder must be new or empty: a non-empty one is refused with a
free name to use instead (nothing is ever overwritten). Progress goes to stderr; the result
(`--json`: the whole record) to stdout. Exit codes: 0 exported (verification passed, or flagged:
see `verification.status`), 1 the export failed or was cancelled, 2 refused or bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from phi4studio.core.errors import StudioError
from phi4studio.core.export.plan import (
    BLOCK_SIZES,
    INT4_ALGOS,
    PRECISIONS,
    STRATEGIES,
    TARGETS,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="convert a run or a model to ONNX Runtime GenAI, verified",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True, metavar="RUN_OR_DIR",
                   help="a run (id or name), a run folder, an HF model folder or a .gguf file")
    p.add_argument("--strategy", choices=STRATEGIES, default="merged",
                   help="merged: adapter merged into the weights (default); adapter: base + "
                        "swappable ONNX LoRA adapter (FP16/FP32, not DirectML)")
    p.add_argument("--precision", choices=PRECISIONS, default="int4")
    p.add_argument("--int4-algo", choices=INT4_ALGOS, default="k_quant_mixed",
                   help="INT4 quantization (default k_quant_mixed; gptq/awq need a CUDA GPU)")
    p.add_argument("--block-size", type=int, choices=BLOCK_SIZES, default=32)
    p.add_argument("--accuracy-level", type=int, choices=range(5), default=0,
                   help="0: the builder's default; 1 fp32, 2 fp16, 3 bf16, 4 int8")
    p.add_argument("--ep", choices=TARGETS, default="cpu", help="execution provider to build for")
    p.add_argument("--out", type=Path, required=True, help="output folder (new or empty)")
    p.add_argument("--name", help="name in the exports list (default: the folder's name)")
    p.add_argument("--adapter-name", default="ft")
    p.add_argument("--prompts", type=int, default=8, help="verification prompts")
    p.add_argument("--max-new-tokens", type=int, default=32, help="tokens per verification answer")
    p.add_argument("--threshold", type=float, default=0.9,
                   help="token agreement below which the export is flagged")
    p.add_argument("--dataset", help="verification prompts from this dataset's test split")
    p.add_argument("--no-verify", action="store_true", help="skip verification")
    p.add_argument("--calibration-dataset", help="GPTQ/AWQ calibration data (a dataset)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def add_bench_parser(bench_sub: Any) -> None:
    b = bench_sub.add_parser("export", help="build time, size, load time, tokens/s and token "
                                            "agreement per precision and algorithm")
    b.add_argument("--models", default="smollm2,tiny",
                   help="comma list: smollm2 (SmolLM2-135M-Instruct), tiny (random tiny Phi3), "
                        "or HF model folders")
    b.add_argument("--precisions", default="",
                   help="comma list of precision[:algo], e.g. int4:rtn,int4:k_quant_mixed,int8")
    b.add_argument("--prompts", type=int, default=4)
    b.add_argument("--max-new-tokens", type=int, default=32)
    b.add_argument("--work", type=Path, help="folder for the builds (default: a temp folder)")
    b.add_argument("--json", action="store_true")


def plan_fields(args: argparse.Namespace, source: Any) -> dict[str, Any]:
    out = args.out.expanduser().resolve()
    return {
        "name": args.name or out.name, "source": source, "strategy": args.strategy,
        "adapter_name": args.adapter_name, "precision": args.precision,
        "int4": {"algo": args.int4_algo, "block_size": args.block_size,
                 "accuracy_level": args.accuracy_level,
                 "calibration_dataset": args.calibration_dataset},
        "target": args.ep, "output_dir": str(out),
        "verify": {"enabled": not args.no_verify, "prompts": args.prompts,
                   "max_new_tokens": args.max_new_tokens, "threshold": args.threshold,
                   "dataset": args.dataset},
    }


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_export(args))
    except KeyboardInterrupt:
        return 1


async def _export(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from phi4studio.core.export import ExportPlan, ExportRefused, ExportService
    from phi4studio.core.jobs import JobState
    from phi4studio.core.studio import Studio

    try:
        studio = Studio.open(workspace=args.workspace)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        svc = ExportService(studio)
        await _probe(studio, svc, args)
        try:
            plan = ExportPlan.model_validate(plan_fields(args, svc.source_spec(args.source)))
            job = svc.submit(plan)
        except ExportRefused as exc:
            for f in exc.findings.blocking:
                print(f"refused: {f}", file=sys.stderr)
                if f.suggestion:
                    print(f"  use instead: --out {f.suggestion}", file=sys.stderr)
            return 2
        except (StudioError, ValidationError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for f in _warnings(svc, plan):
            print(f"warning: {f}", file=sys.stderr)
        last = [""]

        def show(what: str, j: Any) -> None:
            if j is job and what == "progress" and job.message and job.message != last[0]:
                last[0] = job.message
                pct = f"{job.progress:4.0%} " if job.progress is not None else ""
                print(f"{pct}{job.message}", file=sys.stderr, flush=True)

        studio.queue.add_listener(show)
        try:
            state = await studio.queue.wait(job)
        except asyncio.CancelledError:
            studio.queue.cancel(job)
            state = await studio.queue.wait(job)
        record = svc.get(job.export_id)
        data = {"state": state.value, "error": job.error, "export_id": job.export_id,
                **(job.result or {}), "record": record.meta if record else None}
        if args.json:
            print(json.dumps(data, indent=2, default=str))
        else:
            _print_result(state, job, data)
        return 0 if state is JobState.SUCCEEDED else 1
    finally:
        await studio.queue.shutdown(timeout=studio.settings.cancel_grace_s + 10)
        studio.close()


async def _probe(studio: Any, svc: Any, args: argparse.Namespace) -> None:
    """Inference devices when building for a GPU; the export runtime for GPTQ/AWQ."""
    jobs = []
    if args.ep != "cpu":
        jobs.append(studio.probe_inference_job())
    if args.precision == "int4" and args.int4_algo in ("gptq", "awq"):
        jobs.append(svc.probe_job())
    for job in [j for j in jobs if j is not None]:
        studio.queue.submit(job)
        await studio.queue.wait(job)


def _warnings(svc: Any, plan: Any) -> list[Any]:
    from phi4studio.core.export.checks import check_plan

    return check_plan(plan, svc.resolve(plan.source), svc.capabilities()).warnings


def _print_result(state: Any, job: Any, data: dict[str, Any]) -> None:
    from phi4studio.core.export.checks import human_bytes

    if state.value != "succeeded":
        print(f"export {state.value}: {job.error or job.message}", file=sys.stderr)
        return
    print(f"exported to {data['output_dir']}")
    size = data.get("model_bytes")
    print(f"  size: {human_bytes(size)}")
    for name, a in (data.get("adapters") or {}).items():
        print(f"  adapter {name}: {a['path']}")
    v = data.get("verification")
    if v:
        print(f"  verification {v['status']}: token agreement {v['token_agreement']:.1%} "
              f"({v['exact_prompts']}/{v['prompts']} answers identical), load "
              f"{v['load_s']:.2f} s, {v['decode_tokens_per_s'] or 0:.0f} tokens/s")
        if v.get("advice"):
            print(f"  advice: {v['advice']}")


def run_bench(args: argparse.Namespace) -> int:
    from phi4studio.core.export.bench import run_bench_export

    rows = run_bench_export(models=[m for m in args.models.split(",") if m],
                            precisions=[p for p in args.precisions.split(",") if p],
                            prompts=args.prompts, max_new_tokens=args.max_new_tokens,
                            work=args.work, log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0 if rows and all(r.get("state") == "succeeded" for r in rows) else 1
