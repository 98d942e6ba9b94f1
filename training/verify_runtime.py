"""Verify a training runtime for real: import the stack, then one tiny LoRA training step.

    python training/verify_runtime.py

Run by Phi-4 Studio with the runtime's interpreter after it sets the runtime up, and when the
user points the app at an existing environment. Builds a 2-layer Llama-style model from a config
(nothing is downloaded), wraps it with a LoRA adapter (peft), runs a forward and a backward pass
on CPU, and on the GPU too when torch sees CUDA. Emits `progress` events and one `result`:

    {"ok": true, "python": ..., "python_version": ..., "packages": {...}, "missing": [],
     "missing_export": [], "cuda": {"available": ..., "devices": [...]},
     "forward": {"cpu": {"loss": 4.85, "seconds": 0.02}, "cuda": ...}, "seconds": 6.1}

Standalone (never imports phi4studio). Exit code 0 when the runtime can train, 1 otherwise.
"""

from __future__ import annotations

import importlib
import json
import math
import platform
import sys
import time

TRAIN = ("torch", "transformers", "peft", "trl", "accelerate", "datasets")
EXPORT = ("onnxruntime_genai", "onnx", "onnx_ir", "olive")
OTHER = ("gguf", "huggingface_hub")


def emit(type_: str, **fields: object) -> None:
    print(json.dumps({"v": 1, "type": type_, **fields}, default=str), flush=True)


def import_version(name: str, errors: dict[str, str]) -> str | None:
    try:
        mod = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - report every failure, never raise
        errors[name] = f"{type(exc).__name__}: {exc}"[:300]
        return None
    return str(getattr(mod, "__version__", "unknown"))


def tiny_step(device: str) -> dict[str, float]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    model = get_peft_model(LlamaForCausalLM(cfg),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                      task_type="CAUSAL_LM"))
    model.to(device)
    ids = torch.randint(0, cfg.vocab_size, (2, 16), device=device)
    t0 = time.perf_counter()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_" in n and p.grad is not None]
    if device == "cuda":
        torch.cuda.synchronize()
    loss = float(out.loss.detach().cpu())
    if not math.isfinite(loss) or not grads:
        raise RuntimeError(f"the training step on {device} gave loss {loss} and "
                           f"{len(grads)} LoRA gradients")
    return {"loss": round(loss, 4), "seconds": round(time.perf_counter() - t0, 3)}


def main() -> int:
    t0 = time.perf_counter()
    emit("start", message="verifying the training runtime")
    errors: dict[str, str] = {}
    packages: dict[str, str | None] = {}
    names = (*TRAIN, *EXPORT, *OTHER)
    for i, name in enumerate(names):
        emit("progress", fraction=round(0.7 * i / len(names), 3), message=f"importing {name}")
        packages[name] = import_version(name, errors)
    missing = [n for n in TRAIN if not packages[n]]
    missing_export = [n for n in EXPORT if not packages[n]]
    cuda: dict[str, object] = {"available": False, "devices": []}
    forward: dict[str, object] = {}
    ok = not missing
    if packages["torch"]:
        import torch

        if torch.cuda.is_available():
            cuda = {"available": True, "version": torch.version.cuda, "devices": [
                {"name": torch.cuda.get_device_properties(i).name,
                 "memory_gb": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1)}
                for i in range(torch.cuda.device_count())]}
    if ok:
        for device in ["cpu", *(["cuda"] if cuda["available"] else [])]:
            emit("progress", fraction=0.75 if device == "cpu" else 0.9,
                 message=f"a tiny LoRA training step on {device}")
            try:
                forward[device] = tiny_step(device)
            except Exception as exc:  # noqa: BLE001 - reported in the result
                errors[f"step-{device}"] = f"{type(exc).__name__}: {exc}"[:500]
                ok = False
    data = {
        "ok": ok,
        "python": sys.executable,
        "python_version": platform.python_version(),
        "packages": packages,
        "missing": missing,
        "missing_export": missing_export,
        "errors": errors,
        "cuda": cuda,
        "forward": forward,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if not ok:
        why = ("missing " + ", ".join(missing)) if missing else "; ".join(errors.values())
        emit("error", message=f"the runtime cannot train: {why}")
    summary = (f"torch {packages['torch']} ({'CUDA' if cuda['available'] else 'CPU'}), "
               f"one LoRA step in {data['seconds']} s") if ok else "not usable"
    emit("result", message=summary, data=data)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
