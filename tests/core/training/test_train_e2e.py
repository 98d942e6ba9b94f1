"""The real pipeline on a tiny Phi3ForCausalLM: training/sft.py as a subprocess job through the
TrainingService. Cancel mid-run leaves a checkpoint, resume continues from that step with the
optimizer state, the loss goes down, events arrive in order, the catalog follows, the memory
estimate is compared with the measured peak, and the adapter merges into a loadable model.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.jobs import JobState, SubprocessJob
from phi4studio.core.training import (
    DeviceInfo,
    TrainingConfig,
    TrainingService,
    estimate_memory,
    inspect_model,
    merge_argv,
    resolve_targets,
)
from phi4studio.core.training.launch import sft_argv


def tiny_config(model: Path, data: Path, **kw: Any) -> TrainingConfig:
    values: dict[str, Any] = dict(
        base_model=str(model), dataset=str(data), max_steps=6, per_device_train_batch_size=2,
        gradient_accumulation_steps=1, learning_rate=3e-3, warmup_ratio=0.0,
        lr_scheduler_type="constant", logging_steps=1, eval_steps=3, save_steps=3,
        max_length=512, cpu_threads=1, lora_r=8, lora_alpha=16)
    values.update(kw)
    return TrainingConfig(**values)


async def until(cond: Any, timeout: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_train_cancel_resume_merge(studio: Any, tiny_phi3_hf_dir: Path, tool_dataset: Path,
                                         tmp_path: Path, figures: Any) -> None:
    svc = TrainingService(studio)
    cfg = tiny_config(tiny_phi3_hf_dir, tool_dataset)
    plan = svc.plan(cfg)
    assert plan.targets.names == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert not plan.problems

    # --- run, then cancel at step 2 or later ---------------------------------------------------
    m = svc.launch(cfg)
    assert m.status == "preparing" and svc.runs()[0].id == m.run_id
    await until(lambda: m.step >= 2 or not m.active)
    assert m.active, m.error
    assert svc.cancel(m.run_id)
    assert await asyncio.wait_for(svc.wait(m), 120) == "cancelled"
    ck = m.paths.last_checkpoint()
    assert ck is not None, "cancel must leave a checkpoint"
    ck_step = int(ck.name.rsplit("-", 1)[1])
    assert ck_step >= 2 and (ck / "optimizer.pt").exists() and (ck / "scheduler.pt").exists()
    assert m.events.index("start") < m.events.index("checkpoint") < m.events.index("result")
    row = studio.workspace.catalog.get("runs", m.run_id)
    assert row["status"] == "cancelled" and row["metrics"]["checkpoint_step"] == ck_step
    assert row["metrics"]["trainable_params"] == plan.trainable_params  # app == PEFT's count
    # the trainer's token counts are kept (what the maximum length cut is not only in the log)
    n_rows = len((m.paths.data_dir / "train.jsonl").read_text().splitlines())
    tokens = row["metrics"]["tokens"]["train"]
    assert tokens["examples"] == n_rows and tokens["used"] + tokens["dropped_no_trained_tokens"] \
        == n_rows and tokens["max_tokens"] >= tokens["mean_tokens"] > 0
    assert svc.runs()[0].resumable
    one = svc.run_record(m.run_id)  # one run by id: the same record as the list's
    assert one is not None and one == svc.runs()[0] and svc.run_record("no-such-run") is None

    # the run folder alone re-runs: config, prepared data, command
    resolved = json.loads(m.paths.config.read_text())
    assert resolved["train_file"] == "data/train.jsonl" and resolved["output_dir"] == "."
    line = json.loads((m.paths.data_dir / "train.jsonl").read_text().splitlines()[0])
    assert line["spans"] and all(0 <= a < b <= len(line["text"]) for a, b in line["spans"])
    studio_run = json.loads(m.paths.studio.read_text())
    assert studio_run["dataset"]["content_hash"] and studio_run["chat_format"]
    assert "sft.py" in m.paths.command.read_text()

    # --- resume: same step, optimizer state restored, runs to the end ------------------------
    m2 = svc.resume(m.run_id)
    assert await asyncio.wait_for(svc.wait(m2), 180) == "completed", m2.error
    assert m2.resumed_from_step == ck_step and m2.first_step == ck_step + 1
    ev = m2.events
    assert ev.index("start") < ev.index("eval") and ev[-2:] == ["artifact", "result"]
    assert "error" not in ev
    losses = [v for _, v in m2.series["loss"]]
    steps = [s for s, _ in m2.series["loss"]]
    assert steps == sorted(steps) and steps[-1] == 6 and steps[0] == 1  # whole curve, no repeats
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses  # the loss goes down
    assert m2.series["eval_loss"] and m2.series["lr"] and m2.series["tokens_per_s"]
    row = studio.workspace.catalog.get("runs", m.run_id)
    met = row["metrics"]
    assert row["status"] == "completed" and met["steps"] == 6 and met["stopped"] == "completed"
    assert met["final_loss"] == pytest.approx(losses[-1])
    assert isinstance(met["final_eval_loss"], float) and met["duration_s"] > 0
    adapter = Path(met["adapter"])
    assert (adapter / "adapter_config.json").exists()
    assert set(json.loads((adapter / "adapter_config.json").read_text())["target_modules"]) == \
        set(plan.targets.names)

    # --- memory: estimate vs measured peak RSS of the training process (CPU) ------------------
    measured = float(m2.result["peak_memory_gb"]) if m2.result else 0.0
    info = inspect_model(str(tiny_phi3_hf_dir))
    tokens = studio_run["preflight"]["tokens"]
    est = estimate_memory(info, cfg, resolve_targets(cfg.target_modules, info.linear),
                          DeviceInfo("cpu", 24.0), seq_len=tokens["max_tokens"],
                          trained_fraction=tokens["trained_fraction"])
    figures("tiny Phi3 train: measured peak RSS (GB)", measured)
    figures("tiny Phi3 train: estimated peak (GB)", est.total_gb)
    figures("tiny Phi3 train: tokens/s (1 thread)", float(m2.result["tokens_per_s"]))
    figures("tiny Phi3 train: launch to first optimizer step (s)",
            float(m2.result["time_to_first_step_s"]))
    assert 0.7 < est.total_gb / measured < 1.3, est.summary()

    # --- merge -------------------------------------------------------------------------------
    out = tmp_path / "merged"
    job = SubprocessJob("merge", merge_argv(svc.python(), adapter, out, "fp16"))
    studio.queue.submit(job)
    assert await asyncio.wait_for(studio.queue.wait(job), 120) is JobState.SUCCEEDED, job.error
    assert job.result["dtype"] == "fp16" and [a["kind"] for a in job.artifacts] == ["merged-model"]
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(str(out))
    tok = AutoTokenizer.from_pretrained(str(out))
    assert merged.dtype == torch.float16 and tok.chat_template
    assert not any("lora" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        logits = merged.float()(**tok("hello", return_tensors="pt")).logits
    assert torch.isfinite(logits).all()


async def test_plan_refusals(studio: Any, tiny_phi3_hf_dir: Path, tool_dataset: Path) -> None:
    svc = TrainingService(studio)
    studio.runtime_info = {"ok": True, "cuda": {"available": False, "devices": []}}
    bad = svc.plan(tiny_config(tiny_phi3_hf_dir, tool_dataset, method="qlora"))
    assert bad.problems and "QLoRA needs an NVIDIA GPU" in bad.problems[0]
    with pytest.raises(Exception, match="QLoRA"):
        svc.launch(tiny_config(tiny_phi3_hf_dir, tool_dataset, method="qlora"))
    bad = svc.plan(tiny_config(tiny_phi3_hf_dir, tool_dataset, target_modules=["query"]))
    assert bad.problems and "qkv_proj" in bad.problems[0]


@pytest.mark.slow
async def test_script_plan_matches_the_app(studio: Any, tiny_phi3_hf_dir: Path,
                                           tool_dataset: Path, tmp_path: Path) -> None:
    """`sft.py --plan` (model on the meta device) reports what the app computed statically."""
    svc = TrainingService(studio)
    from phi4studio.core.training import scan
    from phi4studio.core.training.data import chat_format_for, resolve_dataset
    from phi4studio.core.training.runs import RunPaths, write_run_files

    cfg = tiny_config(tiny_phi3_hf_dir, tool_dataset)
    info = inspect_model(cfg.base_model)
    ref = resolve_dataset(None, cfg.dataset)
    paths = RunPaths(tmp_path / "run")
    report = scan(cfg, ref, chat_format_for(cfg, info), info, data_dir=paths.data_dir)
    assert report.n_train > 0 and report.n_validation > 0 and not report.blocked
    assert not report.tokens.estimated and report.tokens.max_tokens > 0
    write_run_files(paths, cfg, info, ref, report, run_id="r", name="r")
    planned = SubprocessJob("plan", sft_argv(svc.python(), paths.config, cfg, plan=True))
    studio.queue.submit(planned)
    assert await asyncio.wait_for(studio.queue.wait(planned), 120) is JobState.SUCCEEDED
    expect = svc.plan(cfg)
    assert set(planned.result["resolved_modules"]) == set(expect.targets.names)
    assert planned.result["trainable_params"] == expect.trainable_params
    assert planned.result["tokens"]["train"]["examples"] == report.n_train
