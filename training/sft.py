"""Supervised fine-tuning with LoRA / DoRA / QLoRA (TRL SFTTrainer + PEFT), as a subprocess.

    python training/sft.py --config runs/r1/config.json            # train
    python training/sft.py --config runs/r1/config.json --resume   # go on from the last checkpoint
    python training/sft.py --config runs/r1/config.json --plan     # no training: resolved target
                                                                   # modules, trainable parameters,
                                                                   # token lengths (model on `meta`)
    accelerate launch --multi_gpu --num_processes 2 training/sft.py --config runs/r1/config.json

The config (JSON or YAML; paths relative to its folder) is written by Phi-4 Studio into the run
folder, so a run folder alone re-runs. The data files hold one rendered conversation a line,
`{"text": str, "spans": [[start, end], ...]}`: `spans` are the character ranges trained on (the
assistant turns, as the chat-format registry rendered them). The text is tokenized as it is (no
special tokens added, with offsets) and every token whose first character lies outside the spans
gets the label -100, so the loss is on assistant turns only and the text is exactly what the
playground will feed the model.

Events (stdout, JSON lines; see README.md): start, progress, eval, checkpoint, artifact, result,
error, log. stdin `{"cmd": "cancel"}` (or stdin closing) saves a checkpoint and exits 0.
Exit codes: 0 done or cancelled, 1 error, 2 refused (bad config, QLoRA without CUDA, missing
model), 3 out of memory, 4 disk full, 5 loss became NaN/inf.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol as proto
from _protocol import emit
from sft_data import Refused, read_rows, tokenize_rows

DEFAULTS: dict[str, Any] = {
    "base_model": None, "gguf_file": None, "revision": None, "trust_remote_code": False,
    "train_file": "data/train.jsonl", "validation_file": None, "output_dir": ".",
    "method": "lora", "use_dora": False, "target_modules": "attention-mlp",
    "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
    "num_train_epochs": 2.0, "max_steps": 0, "learning_rate": 2e-4, "lr_scheduler_type": "cosine",
    "warmup_ratio": 0.03, "weight_decay": 0.0, "per_device_train_batch_size": 1,
    "per_device_eval_batch_size": 1, "gradient_accumulation_steps": 16, "max_grad_norm": 0.3,
    "max_length": 2048, "packing": False, "gradient_checkpointing": True, "precision": "auto",
    "optim": "auto", "seed": 42, "logging_steps": 1, "eval_steps": 50, "save_steps": 100,
    "save_total_limit": 2, "early_stopping_patience": 0, "early_stopping_min_delta": 0.0,
    "cpu_threads": 0, "num_gpus": 1, "distributed": "ddp", "resume_from_checkpoint": None,
}
ATTENTION_HINTS = ("attn", "attention")
MLP_HINTS = ("mlp", "ffn", "feed_forward")
# Names that other architectures split and Phi-3/Phi-4 fuse: asking for one trains the fused one.
FUSED = {"q_proj": "qkv_proj", "k_proj": "qkv_proj", "v_proj": "qkv_proj",
         "gate_proj": "gate_up_proj", "up_proj": "gate_up_proj"}


# --- config and model source ----------------------------------------------------------------


def resolve_config(path: Path) -> dict[str, Any]:
    raw = proto.load_config(path)
    unknown = sorted(k for k in raw if k not in DEFAULTS)
    cfg = {**DEFAULTS, **raw}
    cfg["_unknown_keys"] = unknown  # app-only keys (dataset id, hashes...) are kept, not used
    base = path.resolve().parent
    for key in ("train_file", "validation_file", "output_dir"):
        if cfg.get(key):
            cfg[key] = str((base / str(cfg[key])).resolve())
    if not cfg.get("base_model"):
        raise Refused(f"{path}: `base_model` is not set")
    bm = str(cfg["base_model"])
    if not cfg.get("gguf_file") and bm.lower().endswith(".gguf"):
        p = Path(bm) if Path(bm).is_absolute() else base / bm
        cfg["base_model"], cfg["gguf_file"] = str(p.parent), p.name
    elif (base / bm).exists():
        cfg["base_model"] = str((base / bm).resolve())
    if cfg["method"] not in ("lora", "qlora"):
        raise Refused(f"unknown method {cfg['method']!r}: use lora or qlora")
    return cfg


def hf_token() -> str | None:
    """The Hugging Face token from the OS keyring (never from a file we wrote); else None, and
    huggingface_hub uses HF_TOKEN or its own login."""
    try:
        import keyring

        return keyring.get_password("phi4studio", "huggingface") or None
    except Exception:  # noqa: BLE001 - no keyring backend: fall back quietly
        return None


def model_folder(cfg: dict[str, Any]) -> str:
    """A local folder for the base model, downloading a Hub id (resumable) when needed."""
    bm = str(cfg["base_model"])
    if Path(bm).exists():
        return bm
    if looks_like_path(bm):
        raise Refused(f"the base model {bm} does not exist (no such folder or file)")
    from huggingface_hub import snapshot_download

    emit("progress", message=f"downloading {bm}", fraction=None)
    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
    if cfg["trust_remote_code"]:
        patterns.append("*.py")
    try:
        return str(snapshot_download(bm, revision=cfg.get("revision"), token=hf_token(),
                                     allow_patterns=patterns, tqdm_class=_download_bar(bm)))
    except Exception as exc:
        raise Refused(f"{bm} is neither a local folder nor downloadable from the Hugging Face "
                      f"Hub: {type(exc).__name__}: {exc}. Check the id, your network, and for "
                      "gated models (microsoft/phi-4 is not gated) your token.") from exc


def looks_like_path(name: str) -> bool:
    """A Hub id is `name` or `org/name`; anything else is meant as a local path."""
    return (name.count("/") > 1 or "\\" in name or name.startswith((".", "~", "/"))
            or name.lower().endswith(".gguf") or (len(name) > 1 and name[1] == ":"))


def _download_bar(name: str) -> Any:
    from tqdm.auto import tqdm

    class EmitBar(tqdm):  # type: ignore[misc]
        _last = 0.0

        def __init__(self, *a: Any, **k: Any) -> None:
            k["disable"] = False
            k["file"] = open(os.devnull, "w")  # noqa: SIM115
            super().__init__(*a, **k)

        def update(self, n: float | None = 1) -> bool | None:
            out = super().update(n)
            now = time.time()
            if self.total and (now - EmitBar._last > 0.5 or self.n >= self.total):
                EmitBar._last = now
                gb = self.n / 2**30
                emit("progress", message=f"downloading {name}: {gb:.2f} GB",
                     fraction=min(1.0, self.n / self.total))
            return out

    return EmitBar


def device_and_precision(cfg: dict[str, Any]) -> tuple[str, str]:
    import torch

    cuda = torch.cuda.is_available()
    if cfg["method"] == "qlora":
        if not cuda:
            raise Refused("QLoRA needs an NVIDIA GPU with CUDA (bitsandbytes 4-bit); this "
                          "machine has none. Choose LoRA (it trains on the CPU, slowly) or run "
                          "on a CUDA machine.")
        import importlib.util

        if importlib.util.find_spec("bitsandbytes") is None:
            raise Refused("QLoRA needs the bitsandbytes package in the training runtime: "
                          "pip install bitsandbytes")
    prec = cfg["precision"]
    if prec == "auto":
        prec = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    if prec == "bf16" and not cuda and cpu_bf16():
        emit.log("training in bf16 on the CPU (native bf16 instructions: about twice as fast)")
    elif prec in ("bf16", "fp16") and not cuda:
        emit.log(f"{prec} mixed precision needs a GPU here; training in fp32 on the CPU", "warning")
        prec = "fp32"
    return ("cuda" if cuda else "cpu"), prec


def cpu_bf16() -> bool:
    """The CPU multiplies bf16 natively (AVX512-BF16 or AMX): bf16 training is worth it there."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


# --- target modules ---------------------------------------------------------------------------


def linear_layers(model: Any) -> dict[str, dict[str, Any]]:
    """Leaf name -> {group, count, full names, lora_in_out} for every Linear-like layer except the
    output head. group: attention, mlp or other (from the layer's path)."""
    import torch

    try:
        from transformers.pytorch_utils import Conv1D
        kinds: tuple[type, ...] = (torch.nn.Linear, Conv1D)
    except ImportError:
        kinds = (torch.nn.Linear,)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    out: dict[str, dict[str, Any]] = {}
    for name, mod in model.named_modules():
        if not isinstance(mod, kinds) or mod is head or "lora_" in name:
            continue
        parts = name.split(".")
        path = ".".join(parts[:-1]).lower()
        group = ("attention" if any(h in path for h in ATTENTION_HINTS)
                 else "mlp" if any(h in path for h in MLP_HINTS) else "other")
        w = mod.weight
        dims = (int(getattr(mod, "in_features", 0) or w.shape[-1]),
                int(getattr(mod, "out_features", 0) or w.shape[0]))
        entry = out.setdefault(parts[-1], {"groups": set(), "count": 0, "names": [],
                                           "lora_in_out": 0})
        entry["groups"].add(group)
        entry["count"] += 1
        entry["names"].append(name)
        entry["lora_in_out"] += dims[0] + dims[1]
    return out


def resolve_targets(spec: Any, layers: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """PEFT target names for `spec` (attention | attention-mlp | all-linear | list of names)."""
    notes: list[str] = []
    if not layers:
        raise Refused("the model has no Linear layers that LoRA could adapt")
    if isinstance(spec, str) and spec in ("attention", "attention-mlp", "all-linear"):
        want = {"attention"} if spec == "attention" else {"attention", "mlp"}
        if spec == "all-linear":
            want |= {"other"}
        chosen = [n for n, e in layers.items() if e["groups"] & want]
        if not chosen:
            notes.append(f"no {spec} layers recognised by name: all Linear layers are targeted")
            chosen = list(layers)
        out: list[str] = []
        for n in chosen:  # a name shared by an unwanted group (GPT-2 c_proj) is narrowed
            extra = layers[n]["groups"] - want
            if extra:
                parents = sorted({full.split(".")[-2] for full in layers[n]["names"]
                                  if _group_of(full) in want})
                out += [f"{p}.{n}" for p in parents]
            else:
                out.append(n)
        return out, notes
    names = [spec] if isinstance(spec, str) else list(spec)
    out = []
    full = [f for e in layers.values() for f in e["names"]]
    for n in names:
        if n in layers or any(f == n or f.endswith("." + n) for f in full):
            out.append(n)
        elif FUSED.get(n) in layers:
            if FUSED[n] not in out:
                out.append(FUSED[n])
            notes.append(f"{n} is fused into {FUSED[n]} in this model: {FUSED[n]} is targeted")
        else:
            raise Refused(f"target module {n!r} is not in this model; its Linear layers are "
                          f"{', '.join(sorted(layers))}")
    return list(dict.fromkeys(out)), notes


def _group_of(full: str) -> str:
    path = ".".join(full.split(".")[:-1]).lower()
    if any(h in path for h in ATTENTION_HINTS):
        return "attention"
    return "mlp" if any(h in path for h in MLP_HINTS) else "other"


def peft_config(cfg: dict[str, Any], targets: list[str]) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=int(cfg["lora_r"]), lora_alpha=int(cfg["lora_alpha"]),
                      lora_dropout=float(cfg["lora_dropout"]), target_modules=targets,
                      use_dora=bool(cfg["use_dora"]), bias="none", task_type="CAUSAL_LM")


def load_tokenizer(cfg: dict[str, Any], folder: str) -> Any:
    from transformers import AutoTokenizer

    kw: dict[str, Any] = {"trust_remote_code": bool(cfg["trust_remote_code"])}
    if cfg.get("gguf_file"):
        kw["gguf_file"] = cfg["gguf_file"]
    tok = AutoTokenizer.from_pretrained(folder, **kw)
    if not getattr(tok, "is_fast", False):
        raise Refused("this model's tokenizer has no fast (Rust) version, which the trained-span "
                      "mask needs (character offsets)")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


# --- the run --------------------------------------------------------------------------------------


def load_model(cfg: dict[str, Any], folder: str, device: str, prec: str, *, meta: bool) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    kw: dict[str, Any] = {"trust_remote_code": bool(cfg["trust_remote_code"])}
    if cfg.get("gguf_file"):
        kw["gguf_file"] = cfg["gguf_file"]
    if meta:
        config = AutoConfig.from_pretrained(folder, **kw)
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(
                config, trust_remote_code=kw["trust_remote_code"])
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec, torch.float32)
    if cfg["method"] == "qlora":
        from transformers import BitsAndBytesConfig

        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype if dtype != torch.float32 else torch.bfloat16)
        kw["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0") or 0)}
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **kw)
    quantizer = getattr(model, "hf_quantizer", None)
    if cfg.get("gguf_file") and quantizer is not None:
        quantizer.remove_quantization_config(model)  # GGUF weights are de-quantized on load
    model.config.use_cache = False
    if cfg["method"] == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=bool(cfg["gradient_checkpointing"]))
    return model


def last_checkpoint(ckpt_dir: Path) -> Path | None:
    found = [(int(p.name.split("-")[-1]), p) for p in ckpt_dir.glob("checkpoint-*")
             if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").exists()]
    return max(found)[1] if found else None


def main(cfg: dict[str, Any], *, resume: bool = False, plan: bool = False,
         stop: proto.StopFlag | None = None) -> int:
    """Run (or plan) one fine-tuning run as configured; returns the exit code."""
    stop = stop or proto.StopFlag()
    out_dir = Path(cfg["output_dir"])
    ckpt_dir = out_dir / "checkpoints"
    if not plan:
        emit.open_log(out_dir / "logs" / "train.log")
    resume_from = None
    if resume or cfg.get("resume_from_checkpoint"):
        want = cfg.get("resume_from_checkpoint")
        resume_from = Path(want) if want and want != "latest" else last_checkpoint(ckpt_dir)
        if resume_from is None or not resume_from.exists():
            raise Refused(f"no checkpoint to resume from in {ckpt_dir}")
    import torch

    device, prec = device_and_precision(cfg)
    if int(cfg.get("cpu_threads") or 0) > 0:
        torch.set_num_threads(int(cfg["cpu_threads"]))
    elif int(cfg.get("cpu_threads") or 0) == -1 and device == "cpu":  # follow the free cores
        from cpu_follow import threads_now

        emit.log(f"CPU threads: {threads_now() or torch.get_num_threads()} (the free cores, "
                 "measured again during training)")
    emit("progress", message=f"loading {Path(str(cfg['gguf_file'] or cfg['base_model'])).name}")
    folder = model_folder(cfg)
    tok = load_tokenizer(cfg, folder)
    emit("progress", message="tokenizing the data")
    train, train_stats = tokenize_rows(tok, read_rows(cfg["train_file"]), int(cfg["max_length"]))
    val, val_stats = tokenize_rows(tok, read_rows(cfg.get("validation_file")),
                                   int(cfg["max_length"]))
    if not train["input_ids"]:
        raise Refused("the training data has no example with trained (assistant) tokens")
    if stop.is_set():
        return _cancelled_early(stop)
    model = load_model(cfg, folder, device, prec, meta=plan)
    layers = linear_layers(model)
    targets, notes = resolve_targets(cfg["target_modules"], layers)
    for n in notes:
        emit.log(n, "warning")
    from peft import get_peft_model

    with torch.device("meta") if plan else contextlib.nullcontext():
        model = get_peft_model(model, peft_config(cfg, targets))
    trainable, total = model.get_nb_trainable_parameters()
    info = {"resolved_modules": targets, "module_notes": notes, "trainable_params": int(trainable),
            "total_params": int(total), "device": device, "precision": prec,
            "linear_layers": {k: {"groups": sorted(v["groups"]), "count": v["count"]}
                              for k, v in layers.items()},
            "tokens": {"train": train_stats, "validation": val_stats}}
    if plan:
        emit("result", message=f"{trainable:,} trainable parameters in {', '.join(targets)}",
             data=info)
        return proto.EXIT_OK
    if stop.is_set():
        return _cancelled_early(stop)
    from sft_loop import train_loop

    return train_loop(cfg, model, tok, train, val, info, device=device, prec=prec,
                      resume_from=resume_from, stop=stop)


def _cancelled_early(stop: proto.StopFlag) -> int:
    emit("result", message=f"stopped before training ({stop.reason})",
         data={"stopped": "cancelled", "steps": 0})
    return proto.EXIT_OK


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True, help="run config (JSON or YAML)")
    ap.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    ap.add_argument("--plan", action="store_true", help="resolve and count, do not train")
    args = ap.parse_args(argv)
    stop = proto.StopFlag()
    cfg: dict[str, Any] = {}
    try:
        cfg = resolve_config(args.config)
        if not args.plan:
            stop.start_reader()
        return main(cfg, resume=args.resume, plan=args.plan, stop=stop)
    except Refused as exc:
        emit("error", message=str(exc))
        return proto.EXIT_REFUSED
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure becomes an error event + exit code
        return explain_failure(exc, cfg)


def explain_failure(exc: BaseException, cfg: dict[str, Any]) -> int:
    traceback.print_exc(file=sys.stderr)
    if proto.is_oom(exc):
        b, n = cfg.get("per_device_train_batch_size"), cfg.get("max_length")
        emit("error", message=(
            f"Out of memory ({type(exc).__name__}) with batch size {b} x {n} tokens. Try: batch "
            "size 1 with more gradient accumulation, gradient checkpointing on, a shorter max "
            "length (e.g. 1024), or QLoRA on a CUDA GPU."), kind="oom", **proto.memory_now())
        return proto.EXIT_OOM
    if proto.is_disk_full(exc):
        out = Path(str(cfg.get("output_dir") or "."))
        emit("error", message=(
            f"The disk holding {out} is full ({proto.free_gb(out)} GB free): {exc}. Free some "
            "space or lower 'checkpoints kept', then resume the run."), kind="disk-full")
        return proto.EXIT_DISK_FULL
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else 1
        if code:
            emit("error", message=f"the training stopped (exit {code})")
        return code
    emit("error", message=f"{type(exc).__name__}: {exc}")
    return proto.EXIT_ERROR


if __name__ == "__main__":
    sys.exit(cli())
