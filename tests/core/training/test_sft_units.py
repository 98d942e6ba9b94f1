"""training/sft.py's pieces in-process: the assistant-only label mask, the protocol callback
(cancel -> checkpoint, NaN stop, early stopping), failure explanations (OOM, disk full) and the
refusals that need no model."""

from __future__ import annotations

import errno
import importlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest


@pytest.fixture(scope="module")
def scripts(training_scripts: Path) -> Any:
    return SimpleNamespace(sft=importlib.import_module("sft"),
                           loop=importlib.import_module("sft_loop"),
                           proto=importlib.import_module("_protocol"))


def events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"v"')]


def test_labels_only_on_trained_spans(scripts: Any, tiny_phi3_hf_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_phi3_hf_dir))
    prompt = "<|im_start|>user\nWeather in Oslo?<|im_end|>\n<|im_start|>assistant\n"
    answer = 'It is sunny.<|im_end|>'
    text = prompt + answer + "\n"
    rows = [{"text": text, "spans": [(len(prompt), len(prompt) + len(answer))]},
            {"text": "no trained text here", "spans": []}]
    data, stats = scripts.sft.tokenize_rows(tok, rows, max_length=512)
    assert stats["used"] == 1 and stats["dropped_no_trained_tokens"] == 1
    ids, labels = data["input_ids"][0], data["labels"][0]
    trained = [t for t, lab in zip(ids, labels, strict=True) if lab != -100]
    assert tok.decode(trained) == answer  # exactly the assistant turn, end-of-turn included
    assert labels[-1] == -100  # the newline after the turn is not trained
    _, stats = scripts.sft.tokenize_rows(tok, rows[:1], max_length=8)
    assert stats["truncated"] == 1 and stats["used"] == 0  # truncation left no trained token


def test_prepared_rows_accept_both_span_forms(scripts: Any, tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"text": "abcdef", "spans": [[0, 2, False, "user"],
                                                         [2, 6, True, "assistant"]]}) + "\n"
                 + json.dumps({"text": "xy", "spans": [[0, 2]]}) + "\n")
    rows = scripts.sft.read_rows(str(f))
    assert rows == [{"text": "abcdef", "spans": [(2, 6)]}, {"text": "xy", "spans": [(0, 2)]}]
    f.write_text("{not json\n")
    with pytest.raises(scripts.sft.Refused, match=":1: not a prepared example"):
        scripts.sft.read_rows(str(f))


def _cb(scripts: Any, tmp_path: Path, **cfg: Any) -> Any:
    stop = scripts.proto.StopFlag()
    full = {**scripts.sft.DEFAULTS, "output_dir": str(tmp_path), **cfg}
    info = {"trainable_params": 1, "total_params": 10}
    return scripts.loop.ProtocolCallback(full, info, stop, None), stop


def _state(step: int, total: int = 10) -> Any:
    return SimpleNamespace(global_step=step, max_steps=total, epoch=step / total,
                           num_input_tokens_seen=100 * step)


def _control() -> Any:
    return SimpleNamespace(should_save=False, should_training_stop=False, should_log=False)


def test_cancel_saves_a_checkpoint_and_stops(scripts: Any, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cb, stop = _cb(scripts, tmp_path)
    ctl = _control()
    cb.on_step_begin(None, _state(0), ctl)
    cb.on_step_end(None, _state(1), ctl)
    assert not ctl.should_save and not ctl.should_training_stop
    stop.set("cancelled")
    cb.on_step_end(None, _state(2), ctl)
    assert ctl.should_save and ctl.should_training_stop and cb.stopped == "cancelled"
    evs = events(capsys)
    assert [e["type"] for e in evs] == ["progress", "log", "progress"]
    assert evs[-1]["step"] == 2 and "saving a checkpoint at step 2" in evs[1]["message"]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]


def test_nan_loss_stops_the_run(scripts: Any, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    cb, _ = _cb(scripts, tmp_path)
    ctl = _control()
    cb.on_log(None, _state(3), ctl, logs={"loss": 2.0, "learning_rate": 1e-4})
    assert not ctl.should_training_stop and cb.last_loss == 2.0
    cb.on_log(None, _state(4), ctl, logs={"loss": float("nan"), "grad_norm": 1.0})
    assert ctl.should_training_stop and cb.nan_step == 4 and cb.stopped == "nan"
    evs = events(capsys)
    assert "loss" not in evs[-1] and evs[-1]["step"] == 4  # NaN never goes into JSON


def test_early_stopping_on_validation_loss(scripts: Any, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    cb, _ = _cb(scripts, tmp_path, early_stopping_patience=2, early_stopping_min_delta=0.01)
    ctl = _control()
    saved: list[str] = []
    model = SimpleNamespace(save_pretrained=saved.append)
    for step, loss in ((10, 1.0), (20, 0.8), (30, 0.795), (40, 0.81)):
        cb.on_evaluate(None, _state(step, 100), ctl, metrics={"eval_loss": loss}, model=model)
    assert ctl.should_training_stop and cb.stopped == "early-stopping"
    assert cb.best_eval == 0.8 and len(saved) == 2  # the best adapter was kept each time
    evs = events(capsys)
    assert [e["value"] for e in evs if e["type"] == "eval"] == [1.0, 0.8, 0.795, 0.81]
    assert "early stopping" in evs[-1]["message"]


def test_failures_are_explained(scripts: Any, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    sft, proto = scripts.sft, scripts.proto
    cfg = {"per_device_train_batch_size": 8, "max_length": 4096, "output_dir": str(tmp_path)}
    oom = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert sft.explain_failure(oom, cfg) == proto.EXIT_OOM
    msg = events(capsys)[-1]
    assert msg["type"] == "error" and msg["kind"] == "oom"
    assert "batch size 8 x 4096 tokens" in msg["message"] and "QLoRA" in msg["message"]
    assert sft.explain_failure(MemoryError(), cfg) == proto.EXIT_OOM
    full = OSError(errno.ENOSPC, "No space left on device")
    wrapped = RuntimeError("safetensors: write failed")
    wrapped.__cause__ = full
    assert sft.explain_failure(wrapped, cfg) == proto.EXIT_DISK_FULL
    msg = events(capsys)[-1]
    assert msg["kind"] == "disk-full" and str(tmp_path) in msg["message"] and "GB free" in \
        msg["message"]
    assert sft.explain_failure(ValueError("bad"), cfg) == proto.EXIT_ERROR
    assert events(capsys)[-1]["message"] == "ValueError: bad"


def test_refusals_without_a_model(scripts: Any, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sft = scripts.sft
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps({"base_model": "/no/such/model", "method": "lora"}))
    cfg = sft.resolve_config(cfg_file)
    with pytest.raises(sft.Refused, match="does not exist"):
        sft.model_folder(cfg)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(sft.Refused, match="neither a local folder nor downloadable"):
        sft.model_folder({**cfg, "base_model": "microsoft/phi-4"})
    cfg_file.write_text(json.dumps({"base_model": "x", "method": "full"}))
    with pytest.raises(sft.Refused, match="unknown method"):
        sft.resolve_config(cfg_file)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    cfg_file.write_text("base_model: m.gguf\ntrain_file: data/t.jsonl\n")
    yaml_cfg = sft.resolve_config(cfg_file.rename(tmp_path / "config.yaml"))
    assert yaml_cfg["gguf_file"] == "m.gguf" and yaml_cfg["base_model"] == str(tmp_path)
    assert yaml_cfg["train_file"] == str(tmp_path / "data" / "t.jsonl")
    empty = tmp_path / "run"
    (empty / "checkpoints").mkdir(parents=True)
    with pytest.raises(sft.Refused, match="no checkpoint to resume from"):
        sft.main({**sft.DEFAULTS, "base_model": "x", "output_dir": str(empty)}, resume=True,
                 plan=True)


def test_cpu_threads_follow_the_free_cores(scripts: Any) -> None:
    """`cpu_threads` -1: the threads are the free cores, measured again between steps at most
    every `every_s` seconds; each change is logged."""
    import torch

    follow = importlib.import_module("cpu_follow")
    cores = follow.free_cores()  # the real measurement: psutil over a fifth of a second
    assert cores is not None and 1 <= cores <= 1024
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    before = 2
    logged: list[str] = []
    free = iter([1, 1, 2])
    cb = follow.FollowFreeCores(logged.append, every_s=0.0, measure=lambda: next(free))
    state = SimpleNamespace(global_step=7)
    try:
        cb.on_step_end(None, state, None)
        assert torch.get_num_threads() == 1
        cb.on_step_end(None, state, None)  # the same count: nothing to change or log
        cb.on_step_end(None, SimpleNamespace(global_step=9), None)
        assert torch.get_num_threads() == 2
        assert logged == [f"CPU threads {before} -> 1 (the cores other processes leave free) "
                          "at step 7",
                          "CPU threads 1 -> 2 (the cores other processes leave free) at step 9"]
        slow = follow.FollowFreeCores(logged.append, every_s=3600.0, measure=lambda: 1)
        slow.on_step_end(None, state, None)  # within its period: not measured
        assert torch.get_num_threads() == 2 and len(logged) == 2
        assert follow.threads_now(lambda: None) is None and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)
