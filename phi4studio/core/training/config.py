"""TrainingConfig: every setting of a fine-tuning run, with a one-line explanation for the form.

Field metadata drives the Train tab's form: `title` is the label, `description` the one-line
explanation under it, `json_schema_extra` holds the widget kind (`ui`), the form section
(`group`: model, data, method, training, monitoring, hardware) and whether it belongs to the
advanced part (`advanced`). `script_config()` turns a config into the resolved dict that
`training/sft.py` reads from the run folder.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CONFIG_SCHEMA_VERSION = 1
TARGET_PRESETS = ("attention-mlp", "attention", "all-linear")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _ui(kind: str, group: str, advanced: bool = False, **extra: Any) -> dict[str, Any]:
    return {"ui": kind, "group": group, "advanced": advanced, **extra}


class TrainingConfig(BaseModel):
    """A fine-tuning run as the user sets it up (the form, a YAML file, the CLI)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    schema_version: int = CONFIG_SCHEMA_VERSION
    name: str = Field(default="", title="Run name",
                      description="A label for the run history; empty: model and dataset names.",
                      json_schema_extra=_ui("text", "model"))
    # --- model ------------------------------------------------------------------------------
    base_model: str = Field(
        default="", title="Base model",
        description="A Hugging Face id (downloaded once), a local model folder or a .gguf file.",
        json_schema_extra=_ui("model", "model"))
    revision: str | None = Field(
        default=None, title="Revision",
        description="Hub branch, tag or commit of the base model; empty: the latest.",
        json_schema_extra=_ui("text", "model", True))
    trust_remote_code: bool = Field(
        default=False, title="Trust remote code",
        description="Run Python code shipped with the model. Only for models you trust.",
        json_schema_extra=_ui("bool", "model", True))
    chat_format: str = Field(
        default="auto", title="Chat format",
        description="How conversations become text; auto: the model's own chat template.",
        json_schema_extra=_ui("choice", "model", True))
    # --- data -------------------------------------------------------------------------------
    dataset: str = Field(
        default="", title="Dataset",
        description="A workspace dataset (id or name), a dataset .sqlite file or a JSONL file.",
        json_schema_extra=_ui("dataset", "data"))
    train_split: str = Field(
        default="train", title="Training split",
        description="Examples of this split are trained on ('all': every example).",
        json_schema_extra=_ui("split", "data"))
    validation_split: str | None = Field(
        default="validation", title="Validation split",
        description="Examples of this split measure the validation loss; empty: none.",
        json_schema_extra=_ui("split", "data"))
    # --- method -----------------------------------------------------------------------------
    method: Literal["lora", "qlora"] = Field(
        default="lora", title="Method",
        description="LoRA trains small adapters; QLoRA also loads the model in 4-bit (CUDA only).",
        json_schema_extra=_ui("choice", "method"))
    use_dora: bool = Field(
        default=False, title="DoRA",
        description="Weight-decomposed LoRA: often a little better, about 20% slower.",
        json_schema_extra=_ui("bool", "method", True))
    target_modules: str | list[str] = Field(
        default="attention-mlp", title="Target modules",
        description="Layers that get adapters: attention-mlp, attention, all-linear, or names.",
        json_schema_extra=_ui("targets", "method", choices=list(TARGET_PRESETS)))
    lora_r: int = Field(default=16, ge=1, le=1024, title="LoRA rank (r)",
                        description="Adapter size: higher learns more and costs more memory.",
                        json_schema_extra=_ui("int", "method"))
    lora_alpha: int = Field(default=32, ge=1, le=4096, title="LoRA alpha",
                            description="Adapter scaling; 2 x r is the usual choice.",
                            json_schema_extra=_ui("int", "method"))
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0, title="LoRA dropout",
                                description="Dropout on the adapter input against overfitting.",
                                json_schema_extra=_ui("float", "method", True, step=0.01))
    # --- training ---------------------------------------------------------------------------
    num_train_epochs: float = Field(default=2.0, gt=0.0, le=1000.0, title="Epochs",
                                    description="Passes over the training split.",
                                    json_schema_extra=_ui("float", "training", step=0.5))
    max_steps: int = Field(default=0, ge=0, title="Max steps",
                           description="Stop after this many optimizer steps; 0: use epochs.",
                           json_schema_extra=_ui("int", "training", True))
    learning_rate: float = Field(default=2e-4, gt=0.0, lt=1.0, title="Learning rate",
                                 description="Peak step size; 1e-4 to 3e-4 suits LoRA.",
                                 json_schema_extra=_ui("float", "training", decimals=6))
    lr_scheduler_type: Literal["cosine", "linear", "constant", "constant_with_warmup"] = Field(
        default="cosine", title="LR schedule",
        description="How the learning rate falls after warm-up.",
        json_schema_extra=_ui("choice", "training", True))
    warmup_ratio: float = Field(default=0.03, ge=0.0, lt=1.0, title="Warm-up",
                                description="Share of the steps that ramp the learning rate up.",
                                json_schema_extra=_ui("float", "training", True, step=0.01))
    weight_decay: float = Field(default=0.0, ge=0.0, lt=1.0, title="Weight decay",
                                description="L2-style shrinkage of the adapter weights.",
                                json_schema_extra=_ui("float", "training", True, step=0.01))
    per_device_train_batch_size: int = Field(
        default=1, ge=1, le=1024, title="Batch size",
        description="Examples per forward pass on each device; memory grows with it.",
        json_schema_extra=_ui("int", "training"))
    gradient_accumulation_steps: int = Field(
        default=16, ge=1, le=4096, title="Gradient accumulation",
        description="Batches summed per optimizer step (effective batch = batch x this).",
        json_schema_extra=_ui("int", "training"))
    max_grad_norm: float = Field(default=0.3, ge=0.0, le=100.0, title="Max gradient norm",
                                 description="Gradients are clipped to this norm; 0: no clipping.",
                                 json_schema_extra=_ui("float", "training", True, step=0.1))
    max_length: int = Field(default=2048, ge=16, le=262144, title="Max sequence length",
                            description="Longer examples are truncated (pre-flight counts them).",
                            json_schema_extra=_ui("int", "training"))
    packing: bool = Field(
        default=False, title="Packing",
        description="Pack short examples together without padding: faster on mixed lengths.",
        json_schema_extra=_ui("bool", "training", True))
    gradient_checkpointing: bool = Field(
        default=True, title="Gradient checkpointing",
        description="Recompute activations in the backward pass: much less memory, ~30% slower.",
        json_schema_extra=_ui("bool", "training", True))
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        default="auto", title="Precision",
        description="auto: bf16 where the GPU supports it, fp16 on older GPUs, fp32 on CPU.",
        json_schema_extra=_ui("choice", "training", True))
    optim: Literal["auto", "adamw_torch", "adamw_torch_fused", "paged_adamw_8bit", "adamw_8bit",
                   "adafactor"] = Field(
        default="auto", title="Optimizer",
        description="auto: paged 8-bit AdamW on CUDA (bitsandbytes), AdamW elsewhere.",
        json_schema_extra=_ui("choice", "training", True))
    seed: int = Field(default=42, ge=0, title="Seed",
                      description="Random seed for adapter init and data order.",
                      json_schema_extra=_ui("int", "training", True))
    # --- monitoring -------------------------------------------------------------------------
    logging_steps: int = Field(default=1, ge=1, title="Log every",
                               description="Optimizer steps between loss points on the chart.",
                               json_schema_extra=_ui("int", "monitoring", True))
    eval_steps: int = Field(default=50, ge=1, title="Validate every",
                            description="Optimizer steps between validation-loss measurements.",
                            json_schema_extra=_ui("int", "monitoring", True))
    save_steps: int = Field(default=100, ge=1, title="Checkpoint every",
                            description="Optimizer steps between resumable checkpoints.",
                            json_schema_extra=_ui("int", "monitoring", True))
    save_total_limit: int = Field(default=2, ge=1, le=1000, title="Checkpoints kept",
                                  description="Older checkpoints are deleted to save disk space.",
                                  json_schema_extra=_ui("int", "monitoring", True))
    early_stopping_patience: int = Field(
        default=0, ge=0, title="Early stopping patience",
        description="Stop after this many validations without improvement; 0: off.",
        json_schema_extra=_ui("int", "monitoring", True))
    early_stopping_min_delta: float = Field(
        default=0.0, ge=0.0, title="Early stopping min. delta",
        description="The smallest validation-loss drop that counts as an improvement.",
        json_schema_extra=_ui("float", "monitoring", True, decimals=4))
    # --- hardware ---------------------------------------------------------------------------
    num_gpus: int = Field(default=1, ge=1, le=64, title="GPUs",
                          description="More than 1 launches through `accelerate launch` (DDP).",
                          json_schema_extra=_ui("int", "hardware", True))
    distributed: Literal["ddp", "fsdp"] = Field(
        default="ddp", title="Multi-GPU strategy",
        description="DDP copies the model on each GPU; FSDP shards it (large models).",
        json_schema_extra=_ui("choice", "hardware", True))
    cpu_threads: int = Field(default=0, ge=-1, le=1024, title="CPU threads",
                             description="Threads for CPU training; 0: PyTorch's default; "
                                         "-1: the free cores, followed every 30 s.",
                             json_schema_extra=_ui("int", "hardware", True))

    @field_validator("target_modules")
    @classmethod
    def _targets(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, str):
            if v in TARGET_PRESETS:
                return v
            v = [p.strip() for p in v.replace(";", ",").split(",") if p.strip()]
        names = list(dict.fromkeys(str(n).strip() for n in v if str(n).strip()))
        if not names:
            raise ValueError(f"give one of {', '.join(TARGET_PRESETS)} or layer names")
        bad = [n for n in names if not _IDENT.match(n)]
        if bad:
            raise ValueError(f"not a layer name: {', '.join(bad)}")
        return names

    @field_validator("base_model")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    @model_validator(mode="after")
    def _splits_differ(self) -> TrainingConfig:
        if self.validation_split and self.validation_split == self.train_split:
            raise ValueError("the validation split must differ from the training split")
        return self

    # --- helpers ----------------------------------------------------------------------------
    @property
    def effective_batch(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps * self.num_gpus

    def method_label(self) -> str:
        kind = "QLoRA" if self.method == "qlora" else "LoRA"
        if self.use_dora:
            kind = "QDoRA" if self.method == "qlora" else "DoRA"
        return f"{kind} r={self.lora_r}"


SCRIPT_KEYS = (
    "revision", "trust_remote_code", "method", "use_dora", "target_modules", "lora_r",
    "lora_alpha", "lora_dropout", "num_train_epochs", "max_steps", "learning_rate",
    "lr_scheduler_type", "warmup_ratio", "weight_decay", "per_device_train_batch_size",
    "gradient_accumulation_steps", "max_grad_norm", "max_length", "packing",
    "gradient_checkpointing", "precision", "optim", "seed", "logging_steps", "eval_steps",
    "save_steps", "save_total_limit", "early_stopping_patience", "early_stopping_min_delta",
    "num_gpus", "distributed", "cpu_threads",
)


def script_config(cfg: TrainingConfig, *, base_model: str, gguf_file: str | None,
                  train_file: str, validation_file: str | None, run_name: str,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The resolved dict `training/sft.py` reads (paths relative to the run folder)."""
    data = cfg.model_dump(mode="json")
    out: dict[str, Any] = {"schema": CONFIG_SCHEMA_VERSION, "run_name": run_name,
                           "base_model": base_model, "gguf_file": gguf_file,
                           "train_file": train_file, "validation_file": validation_file,
                           "output_dir": "."}
    out.update({k: data[k] for k in SCRIPT_KEYS})
    out["per_device_eval_batch_size"] = cfg.per_device_train_batch_size
    out.update(extra or {})
    return out


def field_info(name: str) -> dict[str, Any]:
    """title, description and ui metadata of a field (for forms and CLI help)."""
    f = TrainingConfig.model_fields[name]
    extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
    return {"name": name, "title": f.title or name, "description": f.description or "",
            **extra}


def form_fields() -> list[dict[str, Any]]:
    """Every editable field in declaration order, with its metadata."""
    return [field_info(n) for n in TrainingConfig.model_fields if n != "schema_version"]
