"""ExportPlan: what the user chose (source, strategy, precision, target, output, verification),
and which choices are possible together, with the reason when one is not.

The same rules serve the wizard (options shown, hidden with a reason, or refused), the CLI and the
export job itself, so a combination the wizard would not offer is also refused from the command
line with the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1

SourceKind = Literal["run", "merged", "hf_dir"]
Strategy = Literal["merged", "adapter"]
Precision = Literal["int4", "int8", "fp16", "bf16", "fp32"]
Int4Algo = Literal["rtn", "k_quant", "k_quant_mixed", "gptq", "awq"]
Target = Literal["cpu", "cuda", "dml"]

SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)
STRATEGIES: tuple[str, ...] = get_args(Strategy)
PRECISIONS: tuple[str, ...] = get_args(Precision)
INT4_ALGOS: tuple[str, ...] = get_args(Int4Algo)
TARGETS: tuple[str, ...] = get_args(Target)
BLOCK_SIZES = (16, 32, 64, 128, 256)
ACCURACY_LEVELS = (0, 1, 2, 3, 4)  # 0: the builder's default (4 on CPU, none on GPUs)
GPU_ALGOS = ("gptq", "awq")  # Olive, calibrated on the user's data: CUDA only
QUANTIZED = ("int4", "int8")
ADAPTER_PRECISIONS = ("fp32", "fp16")

# What the onnxruntime-genai model builder (0.18) builds, by target (its own list of valid
# combinations). FP16 on CPU also builds and runs, slowly: offered with a warning.
BUILDER_COMBOS: dict[str, tuple[str, ...]] = {
    "cpu": ("int4", "int8", "fp32", "fp16"),
    "cuda": ("int4", "int8", "fp16", "bf16", "fp32"),
    "dml": ("int4", "fp16"),
}
DEFAULT_PRECISION = {"cpu": "int4", "cuda": "int4", "dml": "int4"}

TARGET_LABELS = {"cpu": "CPU", "cuda": "CUDA (NVIDIA)", "dml": "DirectML (Windows GPUs)"}
PRECISION_LABELS = {
    "int4": "INT4 (smallest, fastest; quantized)",
    "int8": "INT8 (close to full precision, half the size of FP16)",
    "fp16": "FP16",
    "bf16": "BF16",
    "fp32": "FP32 (full precision, largest)",
}
ALGO_LABELS = {
    "k_quant_mixed": "k_quant_mixed: k-quant, sensitive layers and the LM head in INT8 "
                     "(recommended)",
    "k_quant": "k_quant: k-quant everywhere",
    "rtn": "RTN: round to nearest (fast to build; degrades small models)",
    "gptq": "GPTQ (Olive, calibrated on your dataset; needs a CUDA GPU)",
    "awq": "AWQ (Olive + AutoAWQ, calibrated on your dataset; needs a CUDA GPU)",
}

# Why an option is not offered: the same words everywhere (wizard, CLI, job).
WHY_NOT = {
    "adapter_quantized": (
        "A swappable adapter needs an FP16 or FP32 base: the model builder would bake the adapter "
        "into quantized INT4/INT8 weights, and that build produces garbage. Choose 'Merged' (the "
        "adapter is merged into the weights before quantizing) for INT4/INT8."
    ),
    "adapter_dml": (
        "DirectML does not support ONNX LoRA adapters (onnxruntime-genai cannot switch adapters "
        "there). Choose 'Merged' for DirectML, or target CPU or CUDA to keep the adapter "
        "swappable."
    ),
    "adapter_bf16": "Adapters are built on an FP16 or FP32 base; BF16 is not offered for them.",
    "no_adapter": "This source has no LoRA adapter: it is built as it is.",
    "gpu_algo": (
        "GPTQ and AWQ calibrate on a GPU: they are offered only where the training runtime has a "
        "CUDA GPU."
    ),
    "awq_missing": "AWQ needs the autoawq package in the training runtime.",
    "gpu_algo_target": "GPTQ/AWQ checkpoints are built for CPU or CUDA, not DirectML.",
}


class SourceSpec(BaseModel):
    """What to export: a training run (base + adapter), a merged HF folder, or any local HF
    model folder (or a .gguf file, de-quantized on the way)."""

    model_config = ConfigDict(extra="forbid")

    kind: SourceKind
    path: str = Field(min_length=1)
    run_id: str | None = None


class Int4Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    algo: Int4Algo = "k_quant_mixed"
    block_size: int = 32
    accuracy_level: int = 0  # 0: the builder's default for the target
    calibration_dataset: str | None = None  # GPTQ/AWQ: a workspace dataset (id or name)
    calibration_samples: int = Field(default=128, ge=8, le=4096)

    @field_validator("block_size")
    @classmethod
    def _block(cls, v: int) -> int:
        if v not in BLOCK_SIZES:
            raise ValueError(f"block size must be one of {', '.join(map(str, BLOCK_SIZES))}")
        return v

    @field_validator("accuracy_level")
    @classmethod
    def _level(cls, v: int) -> int:
        if v not in ACCURACY_LEVELS:
            raise ValueError("accuracy level must be 0 (default), 1 (fp32), 2 (fp16), 3 (bf16) "
                             "or 4 (int8)")
        return v


class VerifyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    prompts: int = Field(default=8, ge=1, le=64)
    max_new_tokens: int = Field(default=32, ge=1, le=512)
    threshold: float = Field(default=0.9, ge=0.0, le=1.0)  # token agreement below it is flagged
    dataset: str | None = None  # prompts from this dataset's test split (id or name)


NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,79}$")
ADAPTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")


class ExportPlan(BaseModel):
    """One export, as chosen. Written (with the resolved commands) into the export folder."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    name: str
    source: SourceSpec
    strategy: Strategy = "merged"
    adapter_name: str = "ft"
    precision: Precision = "int4"
    int4: Int4Options = Field(default_factory=Int4Options)
    target: Target = "cpu"
    output_dir: str
    verify: VerifyOptions = Field(default_factory=VerifyOptions)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("a name is 1-80 letters, digits, spaces, '.', '_' or '-'")
        return v

    @field_validator("adapter_name")
    @classmethod
    def _adapter_name(cls, v: str) -> str:
        if not ADAPTER_NAME_RE.match(v):
            raise ValueError("an adapter name is 1-40 letters, digits, '.', '_' or '-'")
        return v

    @property
    def quantized(self) -> bool:
        return self.precision in QUANTIZED

    @property
    def uses_olive_quantizer(self) -> bool:
        return self.precision == "int4" and self.int4.algo in GPU_ALGOS

    def recipe_label(self) -> str:
        """e.g. 'INT4 k_quant_mixed b32 · cpu · merged'."""
        p = self.precision.upper()
        if self.precision == "int4":
            p += f" {self.int4.algo} b{self.int4.block_size}"
        elif self.precision == "int8":
            p += f" b{self.int4.block_size}"
        return f"{p} · {self.target} · {self.strategy}"


# --- what is possible ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Capabilities:
    """What this machine offers an export."""

    gpu: bool = False  # the training runtime has CUDA (GPTQ/AWQ calibrate there)
    awq: bool = False  # autoawq in the training runtime
    providers: frozenset[str] = frozenset({"cpu"})  # this app's inference EPs (verification)
    runtime: bool = True  # a training runtime is set up (merge, build and reference need it)
    free_bytes: int | None = None  # free disk where the export goes


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    available: bool = True
    reason: str = ""  # why it is not available
    note: str = ""  # a caveat when it is


def target_choices(caps: Capabilities) -> list[Choice]:
    out = []
    for t in TARGETS:
        note = ""
        if t not in caps.providers:
            note = (f"{TARGET_LABELS[t]} is not available to this app here: the export is built "
                    "for it, and verified on the CPU instead (or not at all where the build "
                    "cannot run on the CPU).")
        out.append(Choice(t, TARGET_LABELS[t], note=note))
    return out


def precision_choices(target: str) -> list[Choice]:
    ok = BUILDER_COMBOS.get(target, ())
    out = []
    for p in PRECISIONS:
        if p not in ok:
            out.append(Choice(p, PRECISION_LABELS[p], False,
                              f"The model builder has no {p.upper()} build for "
                              f"{TARGET_LABELS.get(target, target)}."))
        elif p == "fp16" and target == "cpu":
            out.append(Choice(p, PRECISION_LABELS[p], note="FP16 runs on the CPU but slowly "
                              "(it is computed in FP32 op by op): prefer INT8 or FP32 there."))
        else:
            out.append(Choice(p, PRECISION_LABELS[p]))
    return out


def int4_algo_choices(caps: Capabilities, target: str) -> list[Choice]:
    out = []
    for a in INT4_ALGOS:
        if a in GPU_ALGOS:
            if not caps.gpu:
                continue  # GPU-only quantizers appear only with a GPU
            if target == "dml":
                out.append(Choice(a, ALGO_LABELS[a], False, WHY_NOT["gpu_algo_target"]))
                continue
            if a == "awq" and not caps.awq:
                out.append(Choice(a, ALGO_LABELS[a], False, WHY_NOT["awq_missing"]))
                continue
        note = ("Round-to-nearest INT4 visibly degrades small models; verification will tell."
                if a == "rtn" else "")
        out.append(Choice(a, ALGO_LABELS[a], note=note))
    return out


def strategy_choices(has_adapter: bool, precision: str, target: str) -> list[Choice]:
    merged = Choice("merged", "Merged model: the adapter merged into the base, then built "
                    "(the default; the only one for INT4/INT8)")
    adapter_label = ("Base + swappable ONNX LoRA adapter: the playground switches it on and off "
                     "at run time (cheap base-vs-fine-tuned comparisons)")
    if not has_adapter:
        merged = Choice("merged", "Build the model as it is")
        return [merged, Choice("adapter", adapter_label, False, WHY_NOT["no_adapter"])]
    reason = adapter_refusal(precision, target)
    return [merged, Choice("adapter", adapter_label, reason is None, reason or "")]


def adapter_refusal(precision: str, target: str) -> str | None:
    """Why the adapter strategy is impossible with this precision and target (None: possible)."""
    if target == "dml":
        return WHY_NOT["adapter_dml"]
    if precision in QUANTIZED:
        return WHY_NOT["adapter_quantized"]
    if precision not in ADAPTER_PRECISIONS:
        return WHY_NOT["adapter_bf16"]
    return None


def available(choices: list[Choice], value: str) -> bool:
    return any(c.value == value and c.available for c in choices)


# --- findings -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """A refusal (`refuse`: the export cannot run), a question (`ask`: the user must decide, e.g.
    the output folder is not empty) or a warning (`warn`: it runs, the user should know)."""

    level: Literal["refuse", "ask", "warn"]
    code: str
    message: str
    hint: str = ""
    suggestion: str | None = None  # e.g. a free output folder

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


@dataclass
class Findings:
    items: list[Finding] = field(default_factory=list)

    def add(self, level: Literal["refuse", "ask", "warn"], code: str, message: str,
            hint: str = "", suggestion: str | None = None) -> None:
        self.items.append(Finding(level, code, message, hint, suggestion))

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.items if f.level in ("refuse", "ask")]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.items if f.level == "warn"]

    def codes(self) -> set[str]:
        return {f.code for f in self.items}

    @property
    def ok(self) -> bool:
        return not self.blocking
