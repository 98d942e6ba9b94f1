"""Presets from practice: LoRA rank and alpha by budget, the rest shared.

Shared defaults (the TrainingConfig defaults): alpha = 2r, dropout 0.05, learning rate 2e-4, 2
epochs, cosine schedule, 3% warm-up, gradient accumulation 16, max gradient norm 0.3, bf16 where
the GPU supports it, gradient checkpointing, paged 8-bit AdamW on CUDA, max length 2048.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from phi4studio.core.training.config import TrainingConfig


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    summary: str
    values: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("budget", "LoRA r=8 (budget)",
               "Smallest adapters: least memory and fastest; fine for narrow tool sets.",
               {"lora_r": 8, "lora_alpha": 16}),
        Preset("recommended", "LoRA r=16, alpha 32 (recommended)",
               "The usual balance of quality, speed and memory for tool calling.",
               {"lora_r": 16, "lora_alpha": 32}),
        Preset("accuracy", "LoRA r=32 (accuracy)",
               "More capacity for many tools or complex arguments; ~2x the adapter memory.",
               {"lora_r": 32, "lora_alpha": 64}),
        Preset("research", "LoRA r=64 (research)",
               "Large adapters for experiments and big datasets; slowest of the four.",
               {"lora_r": 64, "lora_alpha": 128}),
    )
}
DEFAULT_PRESET = "recommended"
SHARED: dict[str, Any] = {
    "lora_dropout": 0.05, "learning_rate": 2e-4, "num_train_epochs": 2.0,
    "lr_scheduler_type": "cosine", "warmup_ratio": 0.03, "gradient_accumulation_steps": 16,
    "max_grad_norm": 0.3, "precision": "auto", "gradient_checkpointing": True, "optim": "auto",
    "max_length": 2048,
}


def preset_values(name: str) -> dict[str, Any]:
    try:
        preset = PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
    return {**SHARED, **preset.values}


def apply_preset(cfg: TrainingConfig, name: str) -> TrainingConfig:
    """A copy of `cfg` with the preset's values (model, data and hardware fields are kept)."""
    return TrainingConfig.model_validate({**cfg.model_dump(), **preset_values(name)})


def matching_preset(cfg: TrainingConfig) -> str | None:
    """The preset `cfg` equals on every preset field, or None when it was customised."""
    data = cfg.model_dump()
    for name in PRESETS:
        if all(data[k] == v for k, v in preset_values(name).items()):
            return name
    return None
