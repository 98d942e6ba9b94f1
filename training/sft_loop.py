"""The training loop of sft.py: TRL SFTTrainer with a callback that speaks the protocol.

Not run on its own: `training/sft.py` prepares the model and data and calls `train_loop`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import _protocol as proto
from _protocol import emit, finite
from transformers import TrainerCallback

HIDDEN_KEYS = ("_unknown_keys",)


def sft_args(cfg: dict[str, Any], *, device: str, prec: str, has_eval: bool) -> Any:
    import importlib.util

    from trl import SFTConfig

    optim = cfg["optim"]
    if optim == "auto":
        bnb = importlib.util.find_spec("bitsandbytes") is not None
        optim = "paged_adamw_8bit" if device == "cuda" and bnb else "adamw_torch"
    extra: dict[str, Any] = {}
    if proto.world_size() > 1:
        extra["ddp_find_unused_parameters"] = False
        if cfg.get("distributed") == "fsdp":
            extra["fsdp"] = "full_shard auto_wrap"
    save_steps = max(1, int(cfg["save_steps"] or 1))
    return SFTConfig(
        output_dir=str(Path(cfg["output_dir"]) / "checkpoints"),
        run_name=str(cfg.get("run_name") or Path(cfg["output_dir"]).name),
        num_train_epochs=float(cfg["num_train_epochs"]),
        max_steps=int(cfg["max_steps"]) if int(cfg["max_steps"] or 0) > 0 else -1,
        per_device_train_batch_size=int(cfg["per_device_train_batch_size"]),
        per_device_eval_batch_size=int(cfg["per_device_eval_batch_size"]),
        gradient_accumulation_steps=int(cfg["gradient_accumulation_steps"]),
        learning_rate=float(cfg["learning_rate"]),
        lr_scheduler_type=str(cfg["lr_scheduler_type"]),
        warmup_steps=float(cfg["warmup_ratio"]),  # a float below 1 is a ratio of the total steps
        weight_decay=float(cfg["weight_decay"]),
        max_grad_norm=float(cfg["max_grad_norm"]),
        optim=optim,
        bf16=prec == "bf16", fp16=prec == "fp16", use_cpu=device == "cpu",
        gradient_checkpointing=bool(cfg["gradient_checkpointing"]),
        gradient_checkpointing_kwargs={"use_reentrant": False},
        max_length=int(cfg["max_length"]),
        packing=bool(cfg["packing"]), packing_strategy="bfd",
        include_num_input_tokens_seen="all" if cfg["packing"] else "non_padding",
        logging_steps=max(1, int(cfg["logging_steps"])), logging_first_step=True,
        logging_nan_inf_filter=False,  # a NaN loss must be seen, not averaged away
        eval_strategy="steps" if has_eval else "no",
        eval_steps=max(1, int(cfg["eval_steps"] or save_steps)),
        save_strategy="steps", save_steps=save_steps,
        save_total_limit=int(cfg["save_total_limit"]) or None,
        seed=int(cfg["seed"]), report_to="none", disable_tqdm=True, dataloader_num_workers=0,
        **extra,
    )


class ProtocolCallback(TrainerCallback):  # type: ignore[misc]
    """Turns the Trainer's events into protocol events; obeys the stop flag; early-stops."""

    def __init__(self, cfg: dict[str, Any], info: dict[str, Any], stop: proto.StopFlag,
                 resumed: dict[str, Any] | None) -> None:
        self.cfg, self.info, self.stop, self.resumed = cfg, info, stop, resumed
        out = Path(cfg["output_dir"])
        self.metrics = None
        if proto.is_main():
            self.metrics = open(out / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self.best_dir = out / "adapter-best"
        self.stopped: str | None = None
        self.nan_step: int | None = None
        self.first_step_s: float | None = None
        self.t_first: float | None = None
        self.t_last: float | None = None  # end of the latest optimizer step
        self.start_step = 0
        self.tokens0 = 0
        self.last_t = self.last_emit = 0.0
        self.last_tokens = 0
        self.last_loss: float | None = None
        self.last_eval: float | None = None
        self.last_eval_step = -1
        self.best_eval: float | None = None
        self.bad_evals = 0

    # --- helpers ---------------------------------------------------------------------------
    def _write(self, record: dict[str, Any]) -> None:
        if self.metrics is not None:
            self.metrics.write(json.dumps({"t": round(time.time(), 3), **record}) + "\n")
            self.metrics.flush()

    def _stop_requested(self) -> bool:
        flag = self.stop.is_set()
        if proto.world_size() > 1:
            import torch
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dev = "cuda" if torch.cuda.is_available() else "cpu"
                t = torch.tensor([1.0 if flag else 0.0], device=dev)
                dist.all_reduce(t, op=dist.ReduceOp.MAX)
                flag = bool(t.item() > 0)
        return flag

    def _progress(self, state: Any, logs: dict[str, Any]) -> None:
        now = time.time()
        tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
        dt = now - self.last_t
        done = state.global_step - self.start_step
        ev: dict[str, Any] = {
            "step": state.global_step, "total": state.max_steps,
            "epoch": round(float(state.epoch or 0.0), 4),
            "loss": finite(logs.get("loss")), "lr": finite(logs.get("learning_rate")),
            "grad_norm": finite(logs.get("grad_norm")),
            "tokens_per_s": round((tokens - self.last_tokens) / dt, 1) if dt > 0 else None,
            "eta_s": round((now - (self.t_first or now)) / done * (state.max_steps
                           - state.global_step), 1) if done > 0 else None,
            **proto.memory_now(),
        }
        if self.first_step_s is not None and self.last_emit == 0.0:
            ev["first_step_s"] = round(self.first_step_s, 2)
        ev = {k: v for k, v in ev.items() if v is not None}
        self.last_t, self.last_tokens, self.last_emit = now, tokens, now
        emit("progress", **ev)
        self._write({"type": "progress", **ev})

    # --- Trainer events --------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        cfg = {k: v for k, v in self.cfg.items() if k not in HIDDEN_KEYS}
        i = self.info
        pct = 100.0 * i["trainable_params"] / max(1, i["total_params"])
        method = "QLoRA" if cfg["method"] == "qlora" else "DoRA" if cfg["use_dora"] else "LoRA"
        name = Path(str(cfg.get("gguf_file") or cfg["base_model"])).name
        emit("start", message=(f"{method} r={cfg['lora_r']} on {name}: {i['trainable_params']:,}"
                               f" trainable parameters ({pct:.2f}%)"),
             total=state.max_steps, config=cfg, resumed_from=self.resumed, **i)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.t_first is None:
            self.t_first = self.last_t = time.time()
            self.start_step = state.global_step
            self.tokens0 = self.last_tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.t_last = time.time()
        if self.first_step_s is None:
            self.first_step_s = self.t_last - proto.T0
        if self.stopped is None and self._stop_requested():
            self.stopped = "cancelled"
            control.should_save = True
            control.should_training_stop = True
            emit.log(f"{self.stop.reason or 'cancel requested'}: saving a checkpoint at step "
                     f"{state.global_step}")
        if control.should_log:
            return  # on_log reports this step, with its loss
        now = time.time()
        if self.stopped or now - self.last_emit >= 0.5 or state.global_step >= state.max_steps:
            self._progress(state, {})

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kw: Any) -> None:
        if not logs or "loss" not in logs:
            return
        for key in ("loss", "grad_norm"):
            if key in logs and logs[key] is not None and finite(logs[key]) is None \
                    and self.nan_step is None:
                self.nan_step = state.global_step
                self.stopped = "nan"
                control.should_training_stop = True
        if finite(logs.get("loss")) is not None:
            self.last_loss = float(logs["loss"])
        self._progress(state, logs)

    def on_evaluate(self, args: Any, state: Any, control: Any,
                    metrics: dict[str, Any] | None = None, **kw: Any) -> None:
        value = finite((metrics or {}).get("eval_loss"))
        if value is None:
            return
        self.last_eval, self.last_eval_step = value, state.global_step
        ev = {"name": "eval_loss", "value": value, "step": state.global_step,
              "epoch": round(float(state.epoch or 0.0), 4)}
        emit("eval", **ev)
        self._write({"type": "eval", **ev})
        patience = int(self.cfg.get("early_stopping_patience") or 0)
        if self.best_eval is None or value < self.best_eval - float(
                self.cfg.get("early_stopping_min_delta") or 0.0):
            self.best_eval, self.bad_evals = value, 0
            model = kw.get("model")
            if patience > 0 and model is not None and proto.is_main():
                model.save_pretrained(str(self.best_dir))
        else:
            self.bad_evals += 1
            if patience > 0 and self.bad_evals >= patience and self.stopped is None:
                self.stopped = "early-stopping"
                control.should_training_stop = True
                emit.log(f"early stopping: validation loss has not improved for {patience} "
                         f"evaluations (best {self.best_eval:.4f})")

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        emit("checkpoint", step=state.global_step, path=str(path),
             message=f"checkpoint at step {state.global_step}")
        self._write({"type": "checkpoint", "step": state.global_step, "path": str(path)})


def score_trained_tokens_only() -> bool:
    """Project only the trained (label != -100) positions through the LM head on every device.

    TRL's fused LM head does so on CUDA/XPU and scores every position elsewhere (a fixed shape
    avoids recompilation on Neuron/XLA). On the CPU the variable shape costs nothing, and with
    the loss on assistant turns only most positions are prompt: skipping them saves most of the
    LM head's work (the head is 15-50% of a small model's compute). Same loss, same gradients.
    """
    try:
        import trl.trainer.utils as trl_utils
    except ImportError:
        return False
    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        return False

    def compact(device: Any) -> bool:
        return getattr(device, "type", "") in ("cpu", "mps") or bool(original(device))

    trl_utils._use_triton = compact
    return True


def _file_logging(out: Path) -> None:
    if not proto.is_main():
        return
    handler = logging.FileHandler(out / "logs" / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    for name in ("", "transformers", "trl", "peft"):
        logging.getLogger(name).addHandler(handler)
    logging.getLogger("transformers").setLevel(logging.INFO)


def train_loop(cfg: dict[str, Any], model: Any, tok: Any, train: dict[str, Any],
               val: dict[str, Any], info: dict[str, Any], *, device: str, prec: str,
               resume_from: Path | None, stop: proto.StopFlag) -> int:
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import SFTTrainer

    out = Path(cfg["output_dir"])
    _file_logging(out)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    has_eval = bool(val["input_ids"])
    resumed = None
    if resume_from is not None:
        state = json.loads((resume_from / "trainer_state.json").read_text(encoding="utf-8"))
        resumed = {"path": str(resume_from), "step": int(state.get("global_step", 0))}
    info = {**info, "n_train": len(train["input_ids"]), "n_validation": len(val["input_ids"])}
    info["lm_head_trained_tokens_only"] = score_trained_tokens_only()
    prefix = None
    if device == "cpu":  # see frozen_prefix.py; on a GPU the cache would take its memory
        from frozen_prefix import FrozenPrefixCache

        prefix, why = FrozenPrefixCache.attach(
            model, gradient_checkpointing=bool(cfg["gradient_checkpointing"]),
            world_size=proto.world_size())
        info["frozen_prefix"] = prefix.stats() if prefix else {"off": why}
        emit.log(f"the frozen layers' output is reused: layers 0-{prefix.first - 1}, when an "
                 "example comes back (the second epoch, each evaluation)" if prefix else
                 f"the frozen layers' output is not reused: {why}")
    cb = ProtocolCallback(cfg, info, stop, resumed)
    callbacks: list[Any] = [cb]
    if int(cfg.get("cpu_threads") or 0) == -1 and device == "cpu":
        from cpu_follow import FollowFreeCores

        callbacks.append(FollowFreeCores(emit.log))
    trainer = SFTTrainer(
        model=model, args=sft_args(cfg, device=device, prec=prec, has_eval=has_eval),
        train_dataset=Dataset.from_dict(train),
        eval_dataset=Dataset.from_dict(val) if has_eval else None,
        processing_class=tok, callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    state = trainer.state
    ckpt = sorted((out / "checkpoints").glob("checkpoint-*"),
                  key=lambda p: int(p.name.split("-")[-1]) if p.name[11:].isdigit() else -1)
    runtime = (cb.t_last or time.time()) - (cb.t_first or time.time())  # the steps themselves
    tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0) - cb.tokens0
    summary = {
        "steps": state.global_step, "total_steps": state.max_steps,
        "epoch": round(float(state.epoch or 0.0), 4), "final_loss": cb.last_loss,
        "train_runtime_s": round(runtime, 2),
        "tokens_per_s": round(tokens / runtime, 1) if runtime > 0 else None,
        "time_to_first_step_s": round(cb.first_step_s, 2) if cb.first_step_s else None,
        "checkpoint": str(ckpt[-1]) if ckpt else None, **proto.memory_now(),
    }
    if prefix is not None:
        summary["frozen_prefix"] = prefix.stats()
    if cb.nan_step is not None:
        emit("error", message=(
            f"The training loss became NaN or infinite at step {cb.nan_step}; the run was "
            "stopped. Lower the learning rate (e.g. 1e-4), keep max grad norm at 0.3, or train "
            "in bf16/fp32 rather than fp16."), kind="nan", step=cb.nan_step)
        return proto.EXIT_NAN
    if cb.stopped == "cancelled":
        emit("result", message=f"cancelled at step {state.global_step}; resumable",
             data={**summary, "stopped": "cancelled"})
        return proto.EXIT_OK
    if has_eval and cb.last_eval_step != state.global_step:
        trainer.evaluate()
    if prefix is not None:
        summary["frozen_prefix"] = prefix.stats()
        prefix.detach()
    adapter = out / "adapter"
    trainer.save_model(str(adapter))
    if proto.is_main():
        base = {k: cfg[k] for k in ("base_model", "gguf_file", "revision", "trust_remote_code")}
        (adapter / "studio_training.json").write_text(
            json.dumps({**base, "precision": prec, "method": cfg["method"]}, indent=2),
            encoding="utf-8")
    emit("artifact", path=str(adapter), kind="lora-adapter")
    if cb.best_dir.exists():
        emit("artifact", path=str(cb.best_dir), kind="lora-adapter-best")
    data = {**summary, "adapter": str(adapter), "final_eval_loss": cb.last_eval,
            "best_eval_loss": cb.best_eval, "stopped": cb.stopped or "completed"}
    emit("result", message=f"done: {state.global_step} steps, final loss "
         f"{cb.last_loss if cb.last_loss is not None else float('nan'):.4f}", data=data)
    return proto.EXIT_OK
