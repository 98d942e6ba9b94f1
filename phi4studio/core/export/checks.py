"""Checks on a whole plan (refusals, questions, warnings), the size estimate and the summary text.

Refusals carry the reason in words: an adapter baked into INT4, adapters on DirectML, missing
source weights, an output folder that is not empty (a question: the export never overwrites; a
free folder name is offered instead), a combination the model builder does not build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from phi4studio.core.export.plan import (
    GPU_ALGOS,
    TARGET_LABELS,
    WHY_NOT,
    Capabilities,
    ExportPlan,
    Findings,
    adapter_refusal,
    available,
    int4_algo_choices,
    precision_choices,
)
from phi4studio.core.export.source import SourceInfo

GB = 1024**3
MB = 1024**2


# --- output folder --------------------------------------------------------------------------------
def slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.")
    return s or "export"


def folder_state(folder: Path) -> str:
    """'missing', 'empty', 'not_empty' or 'file' (a file is in the way)."""
    if not folder.exists():
        return "missing"
    if not folder.is_dir():
        return "file"
    try:
        next(folder.iterdir())
    except StopIteration:
        return "empty"
    except OSError:
        return "not_empty"
    return "not_empty"


def suggest_free_folder(folder: Path) -> Path:
    """`folder`, or `folder-2`, `folder-3`... : the first that does not exist or is empty."""
    if folder_state(folder) in ("missing", "empty"):
        return folder
    base = re.sub(r"-\d+$", "", folder.name)
    for i in range(2, 10_000):
        cand = folder.with_name(f"{base}-{i}")
        if folder_state(cand) in ("missing", "empty"):
            return cand
    raise RuntimeError(f"no free folder name next to {folder}")  # pragma: no cover


def check_output(folder: Path, findings: Findings, source: SourceInfo | None = None) -> None:
    state = folder_state(folder)
    if state == "not_empty":
        free = suggest_free_folder(folder)
        findings.add("ask", "output_not_empty",
                     f"The output folder {folder} is not empty. The export never overwrites "
                     "files.",
                     f"Use {free.name} instead, or choose another folder.",
                     suggestion=str(free))
    elif state == "file":
        findings.add("refuse", "output_is_file", f"{folder} is a file, not a folder.",
                     "Choose another output folder.", suggestion=str(suggest_free_folder(folder)))
    if source is not None:
        for inside in (source.base_dir, source.adapter_dir, source.path):
            if inside is not None and _within(folder, inside):
                findings.add("refuse", "output_inside_source",
                             f"The output folder {folder} is inside the source {inside}.",
                             "Choose a folder outside the source model.")
                break


def _within(child: Path, parent: Path) -> bool:
    try:
        child.expanduser().resolve().relative_to(parent.expanduser().resolve())
        return True
    except (ValueError, OSError):
        return False


# --- size estimate --------------------------------------------------------------------------------
def _weight_bytes(precision: str, algo: str, block: int, io_bytes: int) -> float:
    """Bytes per weight of a quantized (MatMulNBits) or plain matrix: the values, one scale per
    block (in the I/O type) and a packed zero point per block."""
    if precision == "int4":
        return 0.5 + (io_bytes + 0.5) / block
    if precision == "int8":
        return 1.0 + (io_bytes + 1.0) / block
    return {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0}[precision]


@dataclass(frozen=True)
class SizeEstimate:
    model_bytes: int
    work_bytes: int  # extra room needed while building (merged copy, builder cache)

    def text(self) -> str:
        return f"about {human_bytes(self.model_bytes)}"


def estimate_size(plan: ExportPlan, source: SourceInfo) -> SizeEstimate | None:
    """The model folder's size on disk, from the parameter count (within ~10% for the builds
    measured by `phi4studio bench export`)."""
    n = source.n_params
    if not n:
        return None
    embed = source.embed_params or 0
    io_bytes = 4 if plan.target == "cpu" and plan.precision != "fp16" else 2
    if plan.precision == "bf16":
        io_bytes = 2
    # The LM head and the embedding: with tied embeddings the builder keeps one matrix for both
    # in float and INT4 builds (INT4: quantized, the embedding read with GatherBlockQuantized);
    # INT8 and untied models keep a float embedding beside a quantized LM head.
    p, algo, block = plan.precision, plan.int4.algo, plan.int4.block_size
    quantized = p in ("int4", "int8")
    tied = source.tied_embeddings
    body = max(0, n - embed - (0 if tied else embed))
    wb = _weight_bytes(p, algo, block, io_bytes)
    w8 = _weight_bytes("int8", algo, block, io_bytes)
    head_wb = w8 if p == "int4" and algo == "k_quant_mixed" else wb  # k_quant_mixed: INT8 head
    shared = tied and p != "int8"
    emb_b = 0.0 if shared and quantized else embed * (io_bytes if quantized else wb)
    head_b = 0.0 if shared and not quantized else embed * head_wb
    mixed = p == "int4" and algo == "k_quant_mixed"  # ~40% of the body in INT8 (sensitive)
    body_b = body * (0.6 * wb + 0.4 * w8) if mixed else body * wb
    model = int(emb_b + head_b + body_b) + source.tokenizer_bytes
    work = model + (int(n * 4) if source.has_adapter and plan.strategy == "merged" else 0)
    if source.gguf_file:
        work += int(n * 4)
    return SizeEstimate(model, work)


def human_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit, div in (("GB", GB), ("MB", MB), ("KB", 1024)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


# --- the whole plan -------------------------------------------------------------------------------
def check_plan(plan: ExportPlan, source: SourceInfo, caps: Capabilities) -> Findings:
    f = Findings()
    for problem in source.problems:
        f.add("refuse", "source", problem)
    if not caps.runtime:
        f.add("refuse", "no_runtime", "No training runtime is set up: merging, building and the "
              "PyTorch reference need torch and the model builder.",
              "Set one up in the Train tab, or point Preferences > Training runtime at a Python "
              "with torch, transformers, peft, onnxruntime-genai and onnx-ir.")
    if not available(precision_choices(plan.target), plan.precision):
        f.add("refuse", "combo", f"The model builder has no {plan.precision.upper()} build for "
              f"{TARGET_LABELS[plan.target]}.", "Choose another precision or target.")
    if plan.strategy == "adapter":
        if not source.has_adapter:
            f.add("refuse", "no_adapter", WHY_NOT["no_adapter"], "Choose 'Merged'.")
        reason = adapter_refusal(plan.precision, plan.target)
        if reason is not None:
            code = ("adapter_dml" if plan.target == "dml" else
                    "adapter_quantized" if plan.quantized else "adapter_precision")
            f.add("refuse", code, reason)
    if plan.precision == "int4":
        algo = plan.int4.algo
        if algo in GPU_ALGOS and not available(int4_algo_choices(caps, plan.target), algo):
            choice = {c.value: c for c in int4_algo_choices(caps, plan.target)}.get(algo)
            f.add("refuse", "gpu_algo", choice.reason if choice else WHY_NOT["gpu_algo"],
                  "Use k_quant_mixed (no calibration, no GPU).")
        if algo in GPU_ALGOS and not plan.int4.calibration_dataset:
            f.add("refuse", "no_calibration", f"{algo.upper()} calibrates on your own data: "
                  "choose a dataset for calibration (nothing is downloaded).")
        if algo == "rtn":
            f.add("warn", "int4_rtn", "Round-to-nearest INT4 visibly degrades small models.",
                  "k_quant_mixed or INT8 keep much closer to the original; verification "
                  "measures it.")
        if plan.int4.block_size > 64:
            f.add("warn", "block_size", f"Block size {plan.int4.block_size} makes a smaller but "
                  "less accurate model than 32.")
    if plan.precision == "fp16" and plan.target == "cpu":
        f.add("warn", "fp16_cpu", "FP16 runs slowly on the CPU.", "Prefer INT8 or FP32 there.")
    if plan.target not in caps.providers:
        f.add("warn", "verify_elsewhere", f"{TARGET_LABELS[plan.target]} is not available here: "
              "verification runs on the CPU (the figures are not the target's).")
    if not plan.verify.enabled:
        f.add("warn", "no_verify", "Verification is off: nothing checks that the export still "
              "answers like the source model.")
    check_output(Path(plan.output_dir), f, source)
    est = estimate_size(plan, source)
    if est is not None and caps.free_bytes is not None and est.work_bytes > caps.free_bytes:
        f.add("refuse", "disk", f"Not enough free disk: the export needs about "
              f"{human_bytes(est.work_bytes)}, {human_bytes(caps.free_bytes)} are free.",
              "Free some space or choose an output folder on another disk.")
    return f


def stages(plan: ExportPlan, source: SourceInfo) -> list[str]:
    out = []
    merge = source.has_adapter and plan.strategy == "merged"
    if source.gguf_file and not merge:  # the merge reads a GGUF base itself
        out.append("prepare")
    if merge:
        out.append("merge")
    if plan.uses_olive_quantizer:
        out.append("quantize")
    out.append("build")
    if plan.strategy == "adapter":
        out.append("adapters")
    if plan.verify.enabled:
        out += ["reference", "verify"]
    return out


STAGE_TEXT = {
    "prepare": "de-quantize the GGUF base to an FP32 Hugging Face folder",
    "merge": "merge the LoRA adapter into the base weights (PyTorch, FP32)",
    "quantize": "calibrate and quantize with Olive on the GPU",
    "build": "convert with the onnxruntime-genai model builder",
    "adapters": "turn the LoRA adapter into a swappable .onnx_adapter (olive generate-adapter)",
    "reference": "greedy answers of the PyTorch source model (the reference)",
    "verify": "load the export with onnxruntime-genai and compare token by token",
}


def summary_lines(plan: ExportPlan, source: SourceInfo, caps: Capabilities) -> list[str]:
    """The summary page: what will run, the estimated size, and the warnings."""
    lines = [f"Export: {plan.name}", f"Source: {source.describe()}"]
    if plan.strategy == "adapter":
        lines.append(f"Strategy: base + swappable adapter '{plan.adapter_name}' "
                     "(adapters/{}.onnx_adapter)".format(plan.adapter_name))
    elif source.has_adapter:
        lines.append("Strategy: merged (the adapter becomes part of the weights)")
    prec = plan.precision.upper()
    if plan.precision in ("int4", "int8"):
        algo = plan.int4.algo if plan.precision == "int4" else "weight-only"
        level = plan.int4.accuracy_level or "default"
        prec += f" ({algo}, block {plan.int4.block_size}, accuracy level {level})"
    lines.append(f"Precision: {prec} for {TARGET_LABELS[plan.target]}")
    lines.append(f"Output: {plan.output_dir}")
    lines.append("Steps: " + " -> ".join(stages(plan, source)))
    for st in stages(plan, source):
        lines.append(f"  {st}: {STAGE_TEXT[st]}")
    if plan.verify.enabled:
        where = (f"the test split of dataset {plan.verify.dataset}" if plan.verify.dataset
                 else "built-in tool-calling prompts")
        lines.append(f"Verification: {plan.verify.prompts} prompts from {where}, "
                     f"{plan.verify.max_new_tokens} tokens each; agreement below "
                     f"{plan.verify.threshold:.0%} is flagged")
    est = estimate_size(plan, source)
    lines.append(f"Estimated size: {est.text() if est else 'unknown'}")
    f = check_plan(plan, source, caps)
    for item in f.items:
        tag = {"refuse": "Refused", "ask": "Question", "warn": "Warning"}[item.level]
        lines.append(f"{tag}: {item}")
    return lines
