"""Target modules resolved from the actual model: tiny Phi-3 (fused qkv/gate_up), Llama, GPT-2.

The app side reads the model files without torch; the script side (training/sft.py) resolves on
the loaded model. Both must agree, layer for layer and parameter for parameter.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.training import inspect_model, resolve_targets
from phi4studio.core.training.models import KNOWN_CONFIGS, looks_like_path, preset_models
from phi4studio.core.training.modules import TargetModuleError

SPLIT_NAMES = ["q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"]


@pytest.fixture(scope="module")
def sft(training_scripts: Path) -> Any:
    return importlib.import_module("sft")


@pytest.fixture
def models(tiny_phi3_hf_dir: Path, tiny_llama_hf_dir: Path, tiny_gpt2_hf_dir: Path
           ) -> dict[str, Path]:
    return {"phi3": tiny_phi3_hf_dir, "llama": tiny_llama_hf_dir, "gpt2": tiny_gpt2_hf_dir}


def test_phi3_fused_layers(tiny_phi3_hf_dir: Path) -> None:
    info = inspect_model(str(tiny_phi3_hf_dir))
    assert info.kind == "folder" and info.source == "safetensors"
    r = resolve_targets("attention-mlp", info.linear)
    assert r.names == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert len(r.layers) == 8  # 4 per layer, 2 layers
    # The usual split list matches nothing fused; it is mapped, with a note, never silently lost.
    mapped = resolve_targets(SPLIT_NAMES, info.linear)
    assert mapped.names == ["qkv_proj", "gate_up_proj"]
    assert any("fused into qkv_proj" in n for n in mapped.notes)
    with pytest.raises(TargetModuleError, match="its Linear layers are down_proj, gate_up_proj"):
        resolve_targets(["query_key_value"], info.linear)
    assert resolve_targets("attention", info.linear).names == ["qkv_proj", "o_proj"]
    # r x (in + out) per layer: qkv 128->384, o 128->128, gate_up 128->512, down 256->128
    assert r.trainable_params(16) == 16 * 2 * ((128 + 384) + (128 + 128) + (128 + 512)
                                                + (256 + 128))
    assert r.trainable_params(16, dora=True) == r.trainable_params(16) + 2 * (384 + 128 + 512
                                                                               + 128)


def test_llama_and_gpt2(tiny_llama_hf_dir: Path, tiny_gpt2_hf_dir: Path) -> None:
    llama = inspect_model(str(tiny_llama_hf_dir))
    assert resolve_targets("attention-mlp", llama.linear).names == [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert resolve_targets(SPLIT_NAMES, llama.linear).notes == []  # split names exist here
    gpt2 = inspect_model(str(tiny_gpt2_hf_dir))
    assert resolve_targets("attention-mlp", gpt2.linear).names == ["c_attn", "c_proj", "c_fc"]
    # c_proj sits in attention and MLP: "attention" narrows it to the attention one
    att = resolve_targets("attention", gpt2.linear)
    assert att.names == ["c_attn", "attn.c_proj"] and len(att.layers) == 4
    assert not any(la.name.endswith("mlp.c_proj") for la in att.layers)


@pytest.mark.parametrize("spec", ["attention", "attention-mlp", "all-linear", SPLIT_NAMES[:1]])
def test_app_and_script_agree(sft: Any, models: dict[str, Path], spec: Any) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    for kind, folder in models.items():
        info = inspect_model(str(folder))
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(folder)))
        layers = sft.linear_layers(model)
        if kind == "gpt2" and isinstance(spec, list):
            with pytest.raises(TargetModuleError):
                resolve_targets(spec, info.linear)
            with pytest.raises(sft.Refused):
                sft.resolve_targets(spec, layers)
            continue
        app = resolve_targets(spec, info.linear)
        script, _notes = sft.resolve_targets(spec, layers)
        assert set(app.names) == set(script), (kind, spec)
        # the same layers, hence the same trainable parameter count as PEFT will report
        script_in_out = sum(e["lora_in_out"] for leaf, e in layers.items()
                            if any(n == leaf or n.endswith("." + leaf) for n in script)
                            and not (kind == "gpt2" and spec == "attention" and leaf == "c_proj"))
        if not (kind == "gpt2" and spec == "attention"):
            assert app.trainable_params(1) == script_in_out, (kind, spec)
        assert info.n_params == sum(p.numel() for p in model.parameters()), kind


def test_known_hub_models_without_download() -> None:
    for repo in KNOWN_CONFIGS:
        info = inspect_model(repo)
        assert info.kind == "hub" and info.source == "config" and info.local_path is None
        r = resolve_targets("attention-mlp", info.linear)
        assert r.names == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert round(inspect_model("microsoft/phi-4").n_params / 1e9, 1) == 14.7
    assert round(inspect_model("microsoft/Phi-4-mini-instruct").n_params / 1e9, 2) == 3.84
    refs = [m.ref for m in preset_models()]
    assert refs[:2] == ["microsoft/phi-4", "microsoft/Phi-4-mini-instruct"]
    assert refs[2].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert looks_like_path("/x/y") and looks_like_path("m.gguf") and not looks_like_path("a/b")
    with pytest.raises(FileNotFoundError):
        inspect_model("/no/such/model")


def test_script_refuses_qlora_without_cuda(sft: Any) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine may run QLoRA")
    cfg = {**sft.DEFAULTS, "method": "qlora"}
    with pytest.raises(sft.Refused, match="QLoRA needs an NVIDIA GPU with CUDA"):
        sft.device_and_precision(cfg)
    assert sft.device_and_precision({**sft.DEFAULTS}) == ("cpu", "fp32")
    bf16 = "bf16" if sft.cpu_bf16() else "fp32"  # kept where the CPU multiplies bf16 natively
    assert sft.device_and_precision({**sft.DEFAULTS, "precision": "bf16"}) == ("cpu", bf16)
    assert sft.device_and_precision({**sft.DEFAULTS, "precision": "fp16"}) == ("cpu", "fp32")
