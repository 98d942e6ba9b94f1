"""training/frozen_prefix.py on real tiny models: a repeated batch skips the frozen layers and
gives the same loss and LoRA gradients as the full forward; where reuse would be wrong (a trained
lower layer, dropout, another model type) it does not attach."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def fp(training_scripts: Path) -> Any:
    return importlib.import_module("frozen_prefix")


def lora(hf_dir: Path, layers: list[int], **config: Any) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32, **config)
    n = model.config.num_hidden_layers
    assert max(layers) < n
    # B initialised at random too, so the adapter changes the output and every gradient is live
    return get_peft_model(model, LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "down_proj"],
        layers_to_transform=layers, init_lora_weights="gaussian", task_type="CAUSAL_LM"))


def step(model: Any, ids: list[int], mask: list[int] | None = None) -> tuple[float, Any]:
    import torch

    model.zero_grad()
    t = torch.tensor([ids])
    kw = {"attention_mask": torch.tensor([mask])} if mask is not None else {}
    out = model(input_ids=t, labels=t, **kw)
    out.loss.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])
    return float(out.loss.detach()), grads.clone()


def test_a_repeated_batch_skips_the_frozen_layers_with_the_same_loss_and_gradients(
        fp: Any, tiny_phi3_hf_dir: Path) -> None:
    import torch

    model = lora(tiny_phi3_hf_dir, [1])
    batches = [[5, 17, 42, 99, 7, 3, 250, 11], [8, 9, 10, 11, 12], [5, 17, 42, 99, 7, 3, 250, 12]]
    reference = [step(model, b) for b in batches]
    cache, why = fp.FrozenPrefixCache.attach(model, gradient_checkpointing=False)
    assert cache is not None, why
    assert cache.first == 1
    lower = model.get_base_model().model.layers[0]
    calls: list[int] = []
    lower.self_attn.register_forward_hook(lambda *a: calls.append(1))
    for _ in range(2):  # the first pass fills the cache, the second reads it
        got = [step(model, b) for b in batches]
        for (loss, grads), (ref_loss, ref_grads) in zip(got, reference, strict=True):
            assert loss == pytest.approx(ref_loss, abs=1e-6)
            assert torch.allclose(grads, ref_grads, atol=1e-6)
    stats = cache.stats()
    assert stats["misses"] == 3 and stats["hits"] == 3 and stats["cached"] == 3
    assert len(calls) == 3  # the frozen layer ran on the misses only
    # a different attention mask over the same tokens is another batch
    step(model, batches[0], mask=[0, 1, 1, 1, 1, 1, 1, 1])
    assert cache.stats()["misses"] == 4
    # evaluation (no grad, eval mode) reads the same entries
    model.eval()
    with torch.no_grad():
        model(input_ids=torch.tensor([batches[1]]))
    assert cache.stats()["hits"] == 4
    model.train()
    cache.detach()
    assert "forward" not in vars(lower)  # the class's own forward again
    step(model, batches[0])
    assert len(calls) == 5 and cache.stats()["cached"] == 0


def test_the_budget_bounds_what_is_kept(fp: Any, tiny_phi3_hf_dir: Path) -> None:
    model = lora(tiny_phi3_hf_dir, [1])
    cache, _ = fp.FrozenPrefixCache.attach(model, gradient_checkpointing=False, budget=1)
    assert cache is not None
    step(model, [1, 2, 3])
    step(model, [1, 2, 3])
    s = cache.stats()
    assert s["cached"] == 0 and s["over_budget"] == 2 and s["hits"] == 0


def test_it_does_not_attach_where_reuse_would_be_wrong(
        fp: Any, tiny_phi3_hf_dir: Path, tiny_gpt2_hf_dir: Path) -> None:
    attach = fp.FrozenPrefixCache.attach
    cache, why = attach(lora(tiny_phi3_hf_dir, [0, 1]), gradient_checkpointing=False)
    assert cache is None and "first decoder layer" in why
    cache, why = attach(lora(tiny_phi3_hf_dir, [1]), gradient_checkpointing=True)
    assert cache is None and "checkpointing" in why
    cache, why = attach(lora(tiny_phi3_hf_dir, [1]), gradient_checkpointing=False, world_size=2)
    assert cache is None and "process" in why
    cache, why = attach(lora(tiny_phi3_hf_dir, [1], resid_pdrop=0.1),
                        gradient_checkpointing=False)
    assert cache is None and "resid_pdrop" in why
    model = lora(tiny_phi3_hf_dir, [1])
    model.get_base_model().model.embed_tokens.weight.requires_grad_(True)
    cache, why = attach(model, gradient_checkpointing=False)
    assert cache is None and "embed_tokens" in why
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    gpt2 = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_gpt2_hf_dir)),
                          LoraConfig(r=4, target_modules=["c_attn"], task_type="CAUSAL_LM"))
    cache, why = attach(gpt2, gradient_checkpointing=False)
    assert cache is None and why
