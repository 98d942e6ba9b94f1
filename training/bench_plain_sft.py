"""A plain TRL SFTTrainer script: the baseline `phi4studio bench train` compares sft.py against.

    python training/bench_plain_sft.py --config bench/config.json

It reads the same config and prepared data as sft.py but does what a TRL example script does:
the `text` column as a language-modeling dataset (TRL tokenizes it), a PEFT LoraConfig on the
same target modules, the same batch size, steps, learning rate, max length and precision, no
packing. Prints one `result` event with the train runtime, tokens seen (non-padding), tokens/s,
the time from process start to the first optimizer step, and the peak memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

T0 = time.time()


def peak_rss_gb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 2**20, 3)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, required=True)
    cfg = json.loads(ap.parse_args().config.read_text(encoding="utf-8"))
    base = Path(ap.parse_args().config).resolve().parent

    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    if cfg.get("cpu_threads"):
        torch.set_num_threads(int(cfg["cpu_threads"]))
    kw = {"gguf_file": cfg["gguf_file"]} if cfg.get("gguf_file") else {}
    model = AutoModelForCausalLM.from_pretrained(cfg["base_model"], dtype=torch.float32, **kw)
    if kw and getattr(model, "hf_quantizer", None) is not None:  # GGUF: de-quantized on load,
        model.hf_quantizer.remove_quantization_config(model)  # but marked as quantized
    tok = AutoTokenizer.from_pretrained(cfg["base_model"], **kw)
    data = load_dataset("json", data_files=str(base / cfg["train_file"]), split="train")
    data = data.remove_columns([c for c in data.column_names if c != "text"])

    times: dict[str, float] = {}

    class StepTimes(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            times.setdefault("begin", time.time())

        def on_step_end(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            times.setdefault("first", time.time() - T0)
            times["end"] = time.time()

    args = SFTConfig(
        output_dir=str(base / "plain-out"), max_steps=int(cfg["max_steps"]),
        per_device_train_batch_size=int(cfg["per_device_train_batch_size"]),
        gradient_accumulation_steps=int(cfg["gradient_accumulation_steps"]),
        learning_rate=float(cfg["learning_rate"]), lr_scheduler_type=cfg["lr_scheduler_type"],
        max_length=int(cfg["max_length"]), gradient_checkpointing=bool(
            cfg["gradient_checkpointing"]),
        bf16=False, fp16=False, use_cpu=not torch.cuda.is_available(), logging_steps=1,
        save_strategy="no", report_to="none", disable_tqdm=True, seed=int(cfg["seed"]),
        include_num_input_tokens_seen="non_padding",
    )
    peft = LoraConfig(r=int(cfg["lora_r"]), lora_alpha=int(cfg["lora_alpha"]),
                      lora_dropout=float(cfg["lora_dropout"]),
                      target_modules=cfg["target_modules"], task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok,
                         peft_config=peft, callbacks=[StepTimes()])
    out = trainer.train()
    runtime = times["end"] - times["begin"]  # the steps themselves, as sft.py measures them
    tokens = int(trainer.state.num_input_tokens_seen)
    print(json.dumps({"v": 1, "type": "result", "data": {
        "train_runtime_s": round(runtime, 2), "tokens": tokens,
        "tokens_per_s": round(tokens / runtime, 1), "steps": trainer.state.global_step,
        "final_loss": out.training_loss, "time_to_first_step_s": round(times["first"], 2),
        "peak_memory_gb": peak_rss_gb()}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
