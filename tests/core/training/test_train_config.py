"""TrainingConfig validation, presets, form metadata and the app <-> script config contract."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from phi4studio.core.training import PRESETS, TrainingConfig, apply_preset, matching_preset
from phi4studio.core.training.config import SCRIPT_KEYS, form_fields, script_config
from phi4studio.core.training.launch import LAUNCHERS, choose_launcher, merge_argv, sft_argv
from phi4studio.core.training.presets import preset_values

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_follow_practice() -> None:
    c = TrainingConfig(base_model="microsoft/phi-4")
    assert (c.lora_r, c.lora_alpha, c.lora_dropout) == (16, 32, 0.05)
    assert (c.learning_rate, c.num_train_epochs, c.lr_scheduler_type) == (2e-4, 2.0, "cosine")
    assert (c.warmup_ratio, c.gradient_accumulation_steps, c.max_grad_norm) == (0.03, 16, 0.3)
    assert c.gradient_checkpointing and c.max_length == 2048
    assert c.precision == "auto" and c.optim == "auto"  # bf16 where supported, paged 8-bit on CUDA
    assert c.target_modules == "attention-mlp" and not c.trust_remote_code
    assert c.method_label() == "LoRA r=16"
    assert c.model_copy(update={"use_dora": True}).method_label() == "DoRA r=16"


@pytest.mark.parametrize("bad", [
    {"lora_r": 0}, {"lora_dropout": 1.0}, {"learning_rate": 0}, {"warmup_ratio": 1.0},
    {"per_device_train_batch_size": 0}, {"method": "full"}, {"precision": "int8"},
    {"target_modules": []}, {"target_modules": "q_proj, 1bad"}, {"max_length": 8},
    {"train_split": "train", "validation_split": "train"}, {"unknown_field": 1},
])
def test_invalid_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TrainingConfig.model_validate({"base_model": "x", **bad})


def test_target_modules_forms() -> None:
    assert TrainingConfig(target_modules="all-linear").target_modules == "all-linear"
    assert TrainingConfig(target_modules="q_proj, v_proj;q_proj").target_modules == [
        "q_proj", "v_proj"]
    assert TrainingConfig(target_modules=["attn.c_proj"]).target_modules == ["attn.c_proj"]


def test_presets() -> None:
    assert set(PRESETS) == {"budget", "recommended", "accuracy", "research"}
    ranks = {n: (preset_values(n)["lora_r"], preset_values(n)["lora_alpha"]) for n in PRESETS}
    assert ranks == {"budget": (8, 16), "recommended": (16, 32), "accuracy": (32, 64),
                     "research": (64, 128)}
    base = TrainingConfig(base_model="m", dataset="d", lora_r=4, learning_rate=1e-3)
    acc = apply_preset(base, "accuracy")
    assert (acc.lora_r, acc.lora_alpha, acc.learning_rate) == (32, 64, 2e-4)
    assert (acc.base_model, acc.dataset) == ("m", "d")  # model and data are kept
    assert matching_preset(acc) == "accuracy"
    assert matching_preset(TrainingConfig()) == "recommended"
    assert matching_preset(acc.model_copy(update={"lora_r": 12})) is None
    with pytest.raises(KeyError):
        preset_values("huge")


def test_every_field_explained_for_the_form() -> None:
    fields = form_fields()
    assert len(fields) > 30
    for f in fields:
        assert f["title"] and f["description"], f["name"]
        assert len(f["description"]) <= 100, f"{f['name']}: one line, please"
        assert f["ui"] and f["group"] in {"model", "data", "method", "training", "monitoring",
                                          "hardware"}


def _script_defaults() -> set[str]:
    tree = ast.parse((ROOT / "training" / "sft.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "DEFAULTS":
            assert isinstance(node.value, ast.Dict)
            return {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    raise AssertionError("DEFAULTS not found in training/sft.py")


def test_script_config_is_what_sft_reads() -> None:
    """Every key the app writes is one training/sft.py knows (checked without importing it)."""
    cfg = TrainingConfig(base_model="m", dataset="d", use_dora=True, packing=True)
    out = script_config(cfg, base_model="/models/m", gguf_file=None, train_file="data/train.jsonl",
                        validation_file=None, run_name="r")
    known = _script_defaults() | {"schema", "run_name"}
    assert set(out) <= known, set(out) - known
    assert set(SCRIPT_KEYS) <= set(out)
    assert out["use_dora"] is True and out["packing"] is True and out["output_dir"] == "."


def test_launcher_seam() -> None:
    one = TrainingConfig(base_model="m")
    argv = sft_argv("/py", Path("/runs/r1/config.json"), one)
    assert argv[0] == "/py" and argv[1].endswith("sft.py") and argv[2:] == [
        "--config", "/runs/r1/config.json"]
    assert choose_launcher(one) is LAUNCHERS["local"]
    many = one.model_copy(update={"num_gpus": 4})
    argv = sft_argv("/py", Path("c.json"), many, resume=True)
    assert argv[:3] == ["/py", "-m", "accelerate.commands.launch"]
    assert "--multi_gpu" in argv and argv[argv.index("--num_processes") + 1] == "4"
    assert argv[-4].endswith("sft.py") and argv[-3:] == ["--config", "c.json", "--resume"]
    fsdp = sft_argv("/py", Path("c.json"), many.model_copy(update={"distributed": "fsdp"}))
    assert "--use_fsdp" in fsdp and "--multi_gpu" not in fsdp
    # planning never needs more than one process
    assert sft_argv("/py", Path("c.json"), many, plan=True)[2:] == ["--config", "c.json", "--plan"]
    m = merge_argv("/py", Path("a"), Path("o"), "bf16", base="b")
    assert m[1].endswith("merge.py") and m[-6:] == ["--out", "o", "--dtype", "bf16", "--base", "b"]
