"""What an export starts from: a training run, a merged folder, an HF model folder or a GGUF file.

`inspect_source()` reads only small files (config.json, adapter_config.json, safetensors headers):
nothing heavy is imported, so the wizard can call it on every change of the source field.

A training run folder (written by the Train tab) holds `config.json` (its resolved training
config: `base_model`, optionally `gguf_file`) and `adapter/` (the PEFT adapter); `adapter-best/`
is used when `adapter/` is missing.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phi4studio.core.export.plan import SourceKind, SourceSpec

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")
TOKENIZER_FILES = ("tokenizer", "vocab", "merges", "special_tokens_map", "added_tokens",
                   "chat_template")
ADAPTER_DIRS = ("adapter", "adapter-best")

# Architectures the onnxruntime-genai model builder (0.18) converts.
BUILDER_ARCHITECTURES = frozenset({
    "ChatGLMForConditionalGeneration", "ChatGLMModel", "Ernie4_5ForCausalLM", "GemmaForCausalLM",
    "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Gemma3ForConditionalGeneration",
    "GptOssForCausalLM", "GraniteForCausalLM", "InternLM2ForCausalLM", "LlamaForCausalLM",
    "MistralForCausalLM", "NemotronForCausalLM", "OlmoForCausalLM", "PhiForCausalLM",
    "Phi3ForCausalLM", "Phi3SmallForCausalLM", "PhiMoEForCausalLM", "Qwen2ForCausalLM",
    "Qwen3ForCausalLM", "SmolLM3ForCausalLM",
})


@dataclass
class SourceInfo:
    """A resolved source. `problems` are refusals (missing weights...), `notes` are facts."""

    kind: SourceKind
    path: Path
    label: str
    run_id: str | None = None
    base_dir: Path | None = None  # HF folder of the base (or the model itself)
    gguf_file: str | None = None  # the base is this GGUF file inside base_dir (de-quantized)
    adapter_dir: Path | None = None  # PEFT adapter (runs)
    config: dict[str, Any] = field(default_factory=dict)  # the model's config.json
    n_params: int | None = None
    weights_bytes: int | None = None
    tokenizer_bytes: int = 0  # tokenizer and chat template files, copied into the export
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def has_adapter(self) -> bool:
        return self.adapter_dir is not None

    @property
    def architecture(self) -> str | None:
        archs = self.config.get("architectures")
        return str(archs[0]) if isinstance(archs, list) and archs else None

    @property
    def embed_params(self) -> int | None:
        v, h = self.config.get("vocab_size"), self.config.get("hidden_size")
        return int(v) * int(h) if isinstance(v, int) and isinstance(h, int) else None

    @property
    def tied_embeddings(self) -> bool:
        return bool(self.config.get("tie_word_embeddings", False))

    @property
    def template_dir(self) -> Path | None:
        """Where the chat template is: the adapter folder (training saves the tokenizer there)
        when it has one, else the base folder."""
        if self.adapter_dir is not None and (self.adapter_dir / "tokenizer_config.json").exists():
            return self.adapter_dir
        return self.base_dir

    def describe(self) -> str:
        parts = [self.label]
        if self.base_dir is not None:
            base = self.base_dir / self.gguf_file if self.gguf_file else self.base_dir
            parts.append(f"base {base}")
        if self.adapter_dir is not None:
            parts.append(f"adapter {self.adapter_dir}")
        if self.n_params:
            parts.append(f"{self.n_params / 1e6:,.0f}M parameters")
        return " · ".join(parts)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def safetensors_params(path: Path) -> int | None:
    """Parameter count from a .safetensors header (8-byte length + JSON), without the tensors."""
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > 100 * 1024 * 1024:
                return None
            header = json.loads(fh.read(n))
    except (OSError, ValueError, struct.error):
        return None
    total = 0
    for name, meta in header.items():
        if name == "__metadata__" or not isinstance(meta, dict):
            continue
        count = 1
        for d in meta.get("shape", []):
            count *= int(d)
        total += count
    return total


def weight_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir()
                      if p.is_file() and p.suffix in WEIGHT_SUFFIXES and "adapter" not in p.name
                      and not p.name.startswith("training_args"))
    except OSError:
        return []


def _params_from_config(cfg: dict[str, Any]) -> int | None:
    """Approximate parameters of a decoder-only transformer from its config."""
    try:
        v, h = int(cfg["vocab_size"]), int(cfg["hidden_size"])
        n_layers, inter = int(cfg["num_hidden_layers"]), int(cfg["intermediate_size"])
        heads = int(cfg["num_attention_heads"])
        kv = int(cfg.get("num_key_value_heads") or heads)
        hd = int(cfg.get("head_dim") or h // heads)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    attn = h * hd * (heads + 2 * kv) + heads * hd * h
    mlp = 3 * h * inter
    embed = v * h * (1 if cfg.get("tie_word_embeddings") else 2)
    return embed + n_layers * (attn + mlp + 2 * h) + h


def _inspect_model_dir(info: SourceInfo, folder: Path, gguf_file: str | None) -> None:
    info.base_dir = folder
    info.gguf_file = gguf_file
    if gguf_file:
        gguf = folder / gguf_file
        if not gguf.is_file():
            info.problems.append(f"The GGUF file {gguf} does not exist.")
            return
        info.weights_bytes = gguf.stat().st_size
        info.notes.append("The GGUF weights are de-quantized to FP32 first (this needs "
                          "transformers and gguf in the training runtime).")
        info.config = _gguf_config(gguf)
        info.n_params = _params_from_config(info.config)
        return
    if not folder.is_dir():
        info.problems.append(f"The model folder {folder} does not exist.")
        return
    info.config = _read_json(folder / "config.json")
    if not info.config:
        info.problems.append(f"{folder} has no readable config.json: it is not a Hugging Face "
                             "model folder.")
    weights = weight_files(folder)
    if not weights:
        info.problems.append(f"No model weights in {folder} (no *.safetensors or *.bin files): "
                             "missing source weights.")
        return
    info.weights_bytes = sum(p.stat().st_size for p in weights)
    info.tokenizer_bytes = sum(p.stat().st_size for p in folder.iterdir() if p.is_file() and (
        p.name.startswith(TOKENIZER_FILES) or p.suffix == ".jinja"))
    counts = [safetensors_params(p) for p in weights if p.suffix == ".safetensors"]
    if counts and all(c is not None for c in counts):
        info.n_params = sum(c for c in counts if c is not None)
    else:
        info.n_params = _params_from_config(info.config)
    arch = info.architecture
    if arch and arch not in BUILDER_ARCHITECTURES:
        info.problems.append(f"The model builder cannot convert {arch} models.")


def _gguf_config(gguf: Path) -> dict[str, Any]:
    """A config-like dict from a GGUF header (architecture sizes), for estimates only."""
    from phi4studio.core.chatformats.gguf_meta import read_metadata

    keys = ("embedding_length", "feed_forward_length", "block_count", "attention.head_count",
            "attention.head_count_kv")
    try:
        arch = str(read_metadata(gguf, frozenset({"general.architecture"}))
                   .get("general.architecture", ""))
        meta = read_metadata(gguf, frozenset({*(f"{arch}.{k}" for k in keys),
                                              "tokenizer.ggml.tokens"}))
    except Exception:  # noqa: BLE001 - an estimate only
        return {}
    names = {"llama": "LlamaForCausalLM", "phi3": "Phi3ForCausalLM", "qwen2": "Qwen2ForCausalLM"}
    cfg: dict[str, Any] = {"architectures": [names.get(arch, arch)], "tie_word_embeddings": True}
    for key, ours in zip(keys, ("hidden_size", "intermediate_size", "num_hidden_layers",
                                "num_attention_heads", "num_key_value_heads"), strict=True):
        if meta.get(f"{arch}.{key}") is not None:
            cfg[ours] = meta[f"{arch}.{key}"]
    tokens = meta.get("tokenizer.ggml.tokens")
    if isinstance(tokens, list):
        cfg["vocab_size"] = len(tokens)
    return cfg


def _run_config(folder: Path) -> dict[str, Any]:
    for name in ("config.json", "train_config.json", "run.json"):
        cfg = _read_json(folder / name)
        if cfg.get("base_model"):
            return cfg
    return {}


def find_adapter(run_dir: Path) -> Path | None:
    for name in ADAPTER_DIRS:
        d = run_dir / name
        if (d / "adapter_config.json").exists():
            return d
    return None


def is_run_folder(folder: Path) -> bool:
    return folder.is_dir() and (find_adapter(folder) is not None or bool(_run_config(folder)))


def _inspect_run(info: SourceInfo, folder: Path) -> None:
    if not folder.is_dir():
        info.problems.append(f"The run folder {folder} does not exist.")
        return
    adapter = find_adapter(folder)
    if adapter is None:
        info.problems.append(f"The run {folder.name} has no adapter yet (no adapter/ with an "
                             "adapter_config.json): train it to the end first.")
    else:
        info.adapter_dir = adapter
        if not any(adapter.glob("adapter_model.*")):
            info.problems.append(f"{adapter} has no adapter weights (adapter_model.safetensors): "
                                 "missing source weights.")
    cfg = _run_config(folder)
    base = str(cfg.get("base_model") or "")
    gguf = cfg.get("gguf_file")
    if not base and adapter is not None:
        base = str(_read_json(adapter / "adapter_config.json").get("base_model_name_or_path", ""))
    if not base:
        info.problems.append(f"The run {folder.name} does not say which base model it trained.")
        return
    base_path = Path(base).expanduser()
    if not base_path.is_absolute():
        base_path = (folder / base_path).resolve() if (folder / base_path).exists() else base_path
    if not base_path.exists():
        cached = hub_cache_snapshot(base)
        if cached is not None:
            info.notes.append(f"The base {base} is read from the Hugging Face cache ({cached}).")
            base_path = cached
    if not base_path.exists():
        info.problems.append(
            f"The base model {base} of this run is not on this disk: the export needs its "
            "weights locally (the Hugging Face Hub is never contacted).")
        return
    if base_path.is_file() and base_path.suffix == ".gguf":
        _inspect_model_dir(info, base_path.parent, base_path.name)
    else:
        _inspect_model_dir(info, base_path, str(gguf) if gguf else None)


def hub_cache_snapshot(repo_id: str) -> Path | None:
    """The local snapshot of a Hub model id in the Hugging Face cache (the layout
    `models--ORG--NAME/refs/main` -> `snapshots/<rev>/`), or None. Read from disk only: the
    export never downloads."""
    import os

    if repo_id.count("/") != 1 or repo_id.startswith((".", "/", "~")):
        return None
    roots = [os.environ.get("HF_HUB_CACHE"),
             os.path.join(os.environ["HF_HOME"], "hub") if os.environ.get("HF_HOME") else None,
             str(Path.home() / ".cache" / "huggingface" / "hub")]
    name = "models--" + repo_id.replace("/", "--")
    for root in (r for r in roots if r):
        repo = Path(root) / name
        try:
            rev = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        snap = repo / "snapshots" / rev
        if (snap / "config.json").exists():
            return snap
    return None


def inspect_source(spec: SourceSpec, run_label: str | None = None) -> SourceInfo:
    path = Path(spec.path).expanduser()
    info = SourceInfo(kind=spec.kind, path=path, label=run_label or path.name, run_id=spec.run_id)
    if spec.kind == "run":
        info.label = f"run {run_label or path.name}"
        _inspect_run(info, path)
    elif path.is_file() and path.suffix == ".gguf":
        _inspect_model_dir(info, path.parent, path.name)
    else:
        _inspect_model_dir(info, path, None)
    return info


def guess_kind(path: Path) -> SourceKind:
    """run (a run folder), merged (a folder called merged*) or hf_dir."""
    if is_run_folder(path):
        return "run"
    if path.name.startswith("merged"):
        return "merged"
    return "hf_dir"
