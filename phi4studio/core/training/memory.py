"""A memory estimate before launch, against the detected GPU memory or RAM, with concrete advice.

    weights      every parameter at its training dtype (fp32 on CPU, bf16/fp16 on GPU, ~4.5 bits
                 for QLoRA's quantized Linear layers)
    adapters     LoRA parameters (fp32) + their gradients + optimizer states (AdamW: 2 x fp32;
                 8-bit AdamW: 2 bytes)
    activations  batch x sequence x hidden per layer (with gradient checkpointing: the layer
                 inputs plus one layer's internals; without: every layer's internals), plus the
                 attention scores where no fused attention kernel is used (CPU)
    logits       the LM head's chunked log-softmax over the trained tokens only (training/sft.py
                 skips prompt positions; TRL scores at most 32k tokens per chunk)
    runtime      the Python/PyTorch process itself (CPU) or the CUDA context and allocator slack

Calibrated against measured peaks on CPU (see tests/core/training/test_memory.py, which prints
the estimate beside the measured peak RSS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from phi4studio.core.training.config import TrainingConfig
from phi4studio.core.training.models import ModelInfo
from phi4studio.core.training.modules import ResolvedTargets

GB = 2**30
LOGIT_CHUNK = 32768
LOGIT_COPIES = 5.0  # fp32 logits, their exp/log-softmax and gradient buffers
TRAINED_FRACTION = 0.5  # share of tokens in assistant turns when the data is not known yet
CPU_RUNTIME_GB = 0.45  # python + torch + transformers + trl + datasets, measured
CUDA_RUNTIME_GB = 0.6  # CUDA context and kernels
CUDA_SLACK = 1.10  # caching-allocator fragmentation


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "cuda" or "cpu"
    memory_gb: float  # per device (GPU memory, or total RAM)
    name: str = ""
    count: int = 1
    available_gb: float | None = None  # free RAM right now (CPU)

    def describe(self) -> str:
        if self.kind == "cuda":
            many = f"{self.count} x " if self.count > 1 else ""
            return f"{many}{self.name or 'GPU'} ({self.memory_gb:.0f} GB)"
        return f"CPU, {self.memory_gb:.0f} GB RAM"


def detect_device(runtime_info: dict[str, Any] | None) -> DeviceInfo:
    """The training device: the runtime probe's CUDA GPUs, else this machine's RAM."""
    cuda = (runtime_info or {}).get("cuda") or {}
    devices = cuda.get("devices") or []
    if cuda.get("available") and devices:
        mem = min(float(d.get("memory_gb") or 0.0) for d in devices)
        return DeviceInfo("cuda", mem, str(devices[0].get("name") or "GPU"), len(devices))
    import psutil

    vm = psutil.virtual_memory()
    return DeviceInfo("cpu", vm.total / GB, "CPU", 1, vm.available / GB)


@dataclass
class MemoryEstimate:
    device: DeviceInfo
    weights_gb: float
    adapters_gb: float
    activations_gb: float
    logits_gb: float
    runtime_gb: float
    seq_len: int
    advice: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_gb(self) -> float:
        total = self.weights_gb + self.adapters_gb + self.activations_gb + self.logits_gb
        if self.device.kind == "cuda":
            total *= CUDA_SLACK
        return total + self.runtime_gb

    @property
    def fits(self) -> bool:
        return self.total_gb <= 0.92 * self.device.memory_gb

    def breakdown(self) -> dict[str, float]:
        return {"weights": self.weights_gb, "adapters+optimizer": self.adapters_gb,
                "activations": self.activations_gb, "logits": self.logits_gb,
                "runtime": self.runtime_gb, "total": self.total_gb}

    def summary(self) -> str:
        verdict = "fits" if self.fits else "does NOT fit"
        return (f"~{self.total_gb:.1f} GB needed on {self.device.describe()}: {verdict} "
                f"(weights {self.weights_gb:.1f}, adapters+optimizer {self.adapters_gb:.2f}, "
                f"activations {self.activations_gb:.2f}, logits {self.logits_gb:.2f}, "
                f"runtime {self.runtime_gb:.2f})")


def _bytes_per_param(cfg: TrainingConfig, device: DeviceInfo) -> float:
    if device.kind != "cuda" or cfg.precision == "fp32":
        return 4.0
    return 2.0


def estimate_memory(info: ModelInfo, cfg: TrainingConfig, targets: ResolvedTargets,
                    device: DeviceInfo, *, seq_len: int | None = None,
                    trained_fraction: float | None = None, advise: bool = True
                    ) -> MemoryEstimate:
    """Peak memory of training `info` with `cfg` on `device` (seq_len: the longest example;
    trained_fraction: the share of tokens in assistant turns, from the pre-flight)."""
    s = min(cfg.max_length, seq_len or cfg.max_length)
    b = cfg.per_device_train_batch_size
    cuda = device.kind == "cuda"
    act_bytes = _bytes_per_param(cfg, device)
    n = info.n_params or sum(la.in_features * la.out_features for la in info.linear)
    linear_params = sum(la.in_features * la.out_features for la in info.linear)
    if cfg.method == "qlora" and cuda:
        weights = linear_params * 0.5625 + (n - linear_params) * 2.0
    else:
        weights = n * act_bytes
    lora = targets.trainable_params(cfg.lora_r, dora=cfg.use_dora)
    eight_bit = cuda and cfg.optim in ("auto", "paged_adamw_8bit", "adamw_8bit")
    adapters = lora * (4 + 4 + (2 if eight_bit else 8))
    h, layers, heads = info.hidden_size, info.num_layers, info.num_heads
    inter = info.intermediate_size
    # What one layer keeps for its backward pass: norms, q/k/v/o, rotary copies, residuals
    # (~14 h), gate/up/activation/product (~5 x intermediate), and the inputs LoRA dropout
    # copies for each adapted projection (~6 h + intermediate). Calibrated on SmolLM2 (CPU).
    internals = b * s * (20 * h + 6 * inter) * act_bytes
    scores = 0.0 if cuda else b * heads * s * s * act_bytes * 2
    if cfg.gradient_checkpointing:
        activations = layers * b * s * h * act_bytes + internals + scores
    else:
        activations = layers * (internals + scores)
    frac = TRAINED_FRACTION if trained_fraction is None else max(0.01, min(1.0, trained_fraction))
    tokens = min(int(b * s * frac) + 1, LOGIT_CHUNK)
    logits = tokens * info.vocab_size * 4 * LOGIT_COPIES
    runtime = CUDA_RUNTIME_GB if cuda else CPU_RUNTIME_GB
    est = MemoryEstimate(device, weights / GB, adapters / GB, activations / GB, logits / GB,
                         runtime, s)
    if not info.linear or not h:
        est.notes.append("the model's layers are not known yet: the estimate counts weights only")
    if not cuda and info.kind == "gguf":
        est.notes.append("a GGUF model is de-quantized to fp32 when loaded")
    if advise and not est.fits:
        est.advice = advice(info, cfg, targets, device, s, est.total_gb, trained_fraction)
    return est


def advice(info: ModelInfo, cfg: TrainingConfig, targets: ResolvedTargets, device: DeviceInfo,
           seq_len: int, total: float, trained_fraction: float | None = None) -> list[str]:
    """Concrete changes that lower the estimate, each with its new figure, best first."""
    tries: list[tuple[str, dict[str, Any]]] = []
    if device.kind == "cuda" and cfg.method != "qlora":
        tries.append(("Use QLoRA (4-bit base model)", {"method": "qlora"}))
    if cfg.per_device_train_batch_size > 1:
        ga = cfg.gradient_accumulation_steps * cfg.per_device_train_batch_size
        tries.append((f"Batch size 1 with gradient accumulation {ga} (same effective batch)",
                      {"per_device_train_batch_size": 1, "gradient_accumulation_steps": ga}))
    if not cfg.gradient_checkpointing:
        tries.append(("Turn gradient checkpointing on", {"gradient_checkpointing": True}))
    if cfg.max_length > 512:
        tries.append((f"Max sequence length {cfg.max_length // 2}",
                      {"max_length": cfg.max_length // 2}))
    if device.kind == "cuda" and cfg.optim not in ("auto", "paged_adamw_8bit", "adamw_8bit"):
        tries.append(("Paged 8-bit AdamW", {"optim": "paged_adamw_8bit"}))
    out: list[str] = []
    combined = cfg
    for label, change in tries:
        alt = replace_cfg(cfg, change)
        new = estimate_memory(info, alt, targets, device, seq_len=seq_len,
                              trained_fraction=trained_fraction, advise=False).total_gb
        if new < total - 0.05:
            out.append(f"{label}: ~{new:.1f} GB (saves {total - new:.1f} GB)")
            combined = replace_cfg(combined, change)
    if len(out) > 1:
        new = estimate_memory(info, combined, targets, device, seq_len=seq_len,
                              trained_fraction=trained_fraction, advise=False).total_gb
        out.append(f"All of these together: ~{new:.1f} GB")
    floor = estimate_memory(info, replace_cfg(combined, {"max_length": 256}), targets, device,
                            seq_len=256, trained_fraction=trained_fraction, advise=False)
    if not floor.fits:
        what = "a GPU" if device.kind == "cpu" else "a larger GPU"
        out.append(f"Even at its leanest this model needs ~{floor.total_gb:.0f} GB: train it on "
                   f"{what}, or choose a smaller model.")
    return out


def replace_cfg(cfg: TrainingConfig, change: dict[str, Any]) -> TrainingConfig:
    return TrainingConfig.model_validate({**cfg.model_dump(), **change})


__all__ = ["DeviceInfo", "MemoryEstimate", "advice", "detect_device", "estimate_memory"]
