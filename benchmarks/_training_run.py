"""What the training benchmarks share: a run folder's base model, its rendered examples, a
LoRA model built on them, and a timed pass of training steps as the trainer computes them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))  # the trainer's modules: import this module first


class TrainingRun:
    """RUN_DIR's `config.json` (base model, rank, trained modules) and the first `examples`
    rows of `data/train.jsonl`, tokenized as the trainer does."""

    def __init__(self, run: Path, examples: int) -> None:
        from sft_data import read_rows, tokenize_rows
        from transformers import AutoTokenizer

        self.cfg: dict[str, Any] = json.loads((run / "config.json").read_text(encoding="utf-8"))
        self.kw: dict[str, Any] = ({"gguf_file": self.cfg["gguf_file"]}
                                   if self.cfg.get("gguf_file") else {})
        tok = AutoTokenizer.from_pretrained(self.cfg["base_model"], **self.kw)
        self.rows = read_rows(str(run / "data" / "train.jsonl"))[:examples]
        self.data, _ = tokenize_rows(tok, self.rows, int(self.cfg.get("max_length") or 1024))
        self.n_tokens = sum(len(x) for x in self.data["input_ids"])

    def model(self, targets: list[str] | None = None) -> Any:
        """The base in FP32 with LoRA (the run's rank, no dropout) on `targets` (default: the
        run's modules)."""
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(self.cfg["base_model"],
                                                     dtype=torch.float32, **self.kw)
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        model.config.use_cache = False
        return get_peft_model(model, LoraConfig(
            r=int(self.cfg["lora_r"]), lora_alpha=int(self.cfg["lora_alpha"]), lora_dropout=0.0,
            target_modules=targets if targets is not None else self.cfg["target_modules"],
            task_type="CAUSAL_LM"))

    def one_pass(self, model: Any) -> tuple[float, list[float]]:
        """One forward and backward per example, the loss on the trained positions only (as
        the trainer does): (seconds, losses)."""
        import torch

        losses, t0 = [], time.perf_counter()
        for ids, labels in zip(self.data["input_ids"], self.data["labels"], strict=True):
            model.zero_grad()
            x, y = torch.tensor([ids]), torch.tensor([labels])
            keep = (y[0, 1:] != -100).nonzero().flatten()
            logits = model(input_ids=x, logits_to_keep=keep).logits[0]
            loss = torch.nn.functional.cross_entropy(logits, y[0, 1:][keep])
            loss.backward()
            losses.append(float(loss.detach()))
        return time.perf_counter() - t0, losses
