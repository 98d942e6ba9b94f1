"""Small on-disk sources for the export tests: HF folders, run folders, without torch.

The weights are real safetensors files (a header and zero bytes) of a tiny Llama-like model, so
parameter counts and size estimates are computed as for real models.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

CONFIG = {
    "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "vocab_size": 1000,
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 2, "num_key_value_heads": 2, "tie_word_embeddings": False,
    "max_position_embeddings": 512, "original_max_position_embeddings": 512,
}


def write_safetensors(path: Path, tensors: dict[str, list[int]]) -> int:
    header: dict[str, object] = {}
    offset = 0
    for name, shape in tensors.items():
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * n]}
        offset += 4 * n
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + b"\0" * offset)
    return offset // 4


def hf_dir(root: Path, name: str = "model", config: dict | None = None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    cfg = {**CONFIG, **(config or {})}
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "tokenizer_config.json").write_text(json.dumps({"chat_template": (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")}))
    v, h, i = cfg["vocab_size"], cfg["hidden_size"], cfg["intermediate_size"]
    tensors = {"model.embed_tokens.weight": [v, h], "lm_head.weight": [v, h]}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        tensors |= {p + "self_attn.qkv_proj.weight": [3 * h, h], p + "self_attn.o_proj.weight":
                    [h, h], p + "mlp.gate_up_proj.weight": [2 * i, h],
                    p + "mlp.down_proj.weight": [h, i]}
    write_safetensors(d / "model.safetensors", tensors)
    return d


def run_dir(root: Path, base: Path | None, name: str = "run1", *, adapter: bool = True) -> Path:
    d = root / name
    d.mkdir(parents=True)
    if base is not None:
        (d / "config.json").write_text(json.dumps({"base_model": str(base), "lora_r": 4}))
    if adapter:
        a = d / "adapter"
        a.mkdir()
        (a / "adapter_config.json").write_text(json.dumps({
            "base_model_name_or_path": str(base) if base else "", "r": 4, "peft_type": "LORA"}))
        write_safetensors(a / "adapter_model.safetensors", {"lora_A": [4, 64]})
    return d
