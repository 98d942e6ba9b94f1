"""Plan checks (refusals, questions, warnings), sources, size estimates, summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from exportfixtures import hf_dir, run_dir
from pydantic import ValidationError

from phi4studio.core.export import Capabilities, ExportPlan, SourceSpec, inspect_source
from phi4studio.core.export.checks import (
    check_plan,
    estimate_size,
    human_bytes,
    suggest_free_folder,
    summary_lines,
)
from phi4studio.core.export.source import guess_kind, safetensors_params


def plan(source: Path, out: Path, kind: str = "run", **kw: Any) -> ExportPlan:
    return ExportPlan.model_validate({"name": "x", "source": {"kind": kind, "path": str(source)},
                                      "output_dir": str(out), **kw})


def codes(p: ExportPlan, caps: Capabilities | None = None) -> set[str]:
    return check_plan(p, inspect_source(p.source), caps or Capabilities()).codes()


def test_refusals_name_the_reason(tmp_path: Path, run: Path) -> None:
    out = tmp_path / "out"
    int4_adapter = plan(run, out, strategy="adapter", precision="int4")
    f = check_plan(int4_adapter, inspect_source(int4_adapter.source), Capabilities())
    [refusal] = [x for x in f.blocking if x.code == "adapter_quantized"]
    assert "garbage" in refusal.message and refusal.level == "refuse"
    assert "adapter_dml" in codes(plan(run, out, strategy="adapter", precision="fp16",
                                       target="dml"))
    assert "adapter_precision" in codes(plan(run, out, strategy="adapter", precision="bf16",
                                             target="cuda"))
    assert "combo" in codes(plan(run, out, precision="bf16"))
    assert "combo" in codes(plan(run, out, precision="int8", target="dml"))
    assert "no_runtime" in codes(plan(run, out), Capabilities(runtime=False))
    assert "disk" in codes(plan(run, out, precision="fp32"), Capabilities(free_bytes=1000))
    gptq = plan(run, out, int4={"algo": "gptq"})
    assert {"gpu_algo", "no_calibration"} <= codes(gptq)
    assert "gpu_algo" not in codes(gptq, Capabilities(gpu=True))
    assert not check_plan(plan(run, out), inspect_source(plan(run, out).source),
                          Capabilities()).blocking


def test_a_source_without_an_adapter_cannot_keep_one(tmp_path: Path, base: Path) -> None:
    assert "no_adapter" in codes(plan(base, tmp_path / "o", "hf_dir", strategy="adapter",
                                      precision="fp32"))


def test_missing_weights_are_refused(tmp_path: Path, base: Path) -> None:
    (base / "model.safetensors").unlink()
    info = inspect_source(SourceSpec(kind="hf_dir", path=str(base)))
    assert any("missing source weights" in p for p in info.problems)
    run = run_dir(tmp_path / "runs", base, "r2")
    (run / "adapter" / "adapter_model.safetensors").unlink()
    assert any("no adapter weights" in p for p in
               inspect_source(SourceSpec(kind="run", path=str(run))).problems)
    no_adapter = run_dir(tmp_path / "runs", base, "r3", adapter=False)
    assert any("has no adapter yet" in p for p in
               inspect_source(SourceSpec(kind="run", path=str(no_adapter))).problems)
    gone = run_dir(tmp_path / "runs", tmp_path / "nowhere", "r4")
    assert any("not on this disk" in p for p in
               inspect_source(SourceSpec(kind="run", path=str(gone))).problems)
    unsupported = hf_dir(tmp_path, "odd", {"architectures": ["FancyForCausalLM"]})
    assert any("cannot convert FancyForCausalLM" in p for p in
               inspect_source(SourceSpec(kind="hf_dir", path=str(unsupported))).problems)


def test_a_non_empty_output_is_a_question_with_a_free_name(tmp_path: Path, run: Path) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (tmp_path / "out-2").mkdir()
    (tmp_path / "out-2" / "f").write_text("x")
    p = plan(run, out)
    [ask] = [f for f in check_plan(p, inspect_source(p.source), Capabilities()).blocking]
    assert ask.level == "ask" and ask.code == "output_not_empty"
    assert ask.suggestion == str(tmp_path / "out-3")
    assert suggest_free_folder(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert suggest_free_folder(tmp_path / "empty") == tmp_path / "empty"


def test_run_sources(tmp_path: Path, base: Path, run: Path) -> None:
    info = inspect_source(SourceSpec(kind="run", path=str(run)))
    assert info.problems == [] and info.has_adapter and info.base_dir == base
    assert info.architecture == "Phi3ForCausalLM"
    assert guess_kind(run) == "run" and guess_kind(base) == "hf_dir"
    assert guess_kind(hf_dir(tmp_path, "merged-r1")) == "merged"
    # the base named only by the adapter's config
    (run / "config.json").unlink()
    assert inspect_source(SourceSpec(kind="run", path=str(run))).base_dir == base


def test_a_hub_base_is_read_from_the_local_cache(tmp_path: Path, base: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    cache = tmp_path / "hub"
    snap = cache / "models--microsoft--Phi-4-mini-instruct" / "snapshots" / "abc123"
    shutil.copytree(base, snap)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    run = run_dir(tmp_path / "runs", None, "hubrun")
    (run / "config.json").write_text(json.dumps({"base_model": "microsoft/Phi-4-mini-instruct"}))
    info = inspect_source(SourceSpec(kind="run", path=str(run)))
    assert info.problems == [] and info.base_dir == snap
    assert any("Hugging Face cache" in n for n in info.notes)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert any("not on this disk" in p for p in
               inspect_source(SourceSpec(kind="run", path=str(run))).problems)


def test_parameters_come_from_safetensors_headers(tmp_path: Path, base: Path) -> None:
    n = safetensors_params(base / "model.safetensors")
    # embed + head 2*1000*64, per layer qkv 3*64*64 + o 64*64 + gate_up 2*128*64 + down 64*128
    assert n == 2 * 64000 + 2 * (12288 + 4096 + 16384 + 8192)
    assert inspect_source(SourceSpec(kind="hf_dir", path=str(base))).n_params == n
    (tmp_path / "bad.safetensors").write_bytes(b"\x01")
    assert safetensors_params(tmp_path / "bad.safetensors") is None


def test_gguf_sources_read_only_the_header() -> None:
    from fixtures.tiny_models import smollm2_gguf

    gguf = smollm2_gguf()
    info = inspect_source(SourceSpec(kind="hf_dir", path=str(gguf)))
    assert info.problems == [] and info.gguf_file == gguf.name
    assert info.config["hidden_size"] == 576 and info.config["vocab_size"] == 49152
    assert 120e6 < (info.n_params or 0) < 150e6  # SmolLM2-135M
    assert any("de-quantized" in n for n in info.notes)


SMOLLM2 = {"architectures": ["LlamaForCausalLM"], "vocab_size": 49152, "hidden_size": 576,
           "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
           "num_key_value_heads": 3, "head_dim": 64, "tie_word_embeddings": True}


@pytest.mark.parametrize(("precision", "algo", "measured_mb"), [
    # `phi4studio bench export` on SmolLM2-135M (onnxruntime-genai 0.18, CPU)
    ("int8", "k_quant_mixed", 258), ("fp32", "k_quant_mixed", 519), ("int4", "rtn", 86),
    ("int4", "k_quant_mixed", 112),
])
def test_size_estimates_are_close_to_measured_builds(tmp_path: Path, precision: str, algo: str,
                                                     measured_mb: int) -> None:
    cfg_dir = tmp_path / "smol"
    cfg_dir.mkdir()
    (cfg_dir / "config.json").write_text(json.dumps(SMOLLM2))
    (cfg_dir / "model.bin").write_bytes(b"0")
    info = inspect_source(SourceSpec(kind="hf_dir", path=str(cfg_dir)))
    p = plan(cfg_dir, tmp_path / "o", "hf_dir", precision=precision, int4={"algo": algo})
    est = estimate_size(p, info)
    assert est is not None
    assert abs(est.model_bytes / 2**20 - measured_mb) / measured_mb < 0.12


def test_summary_says_what_will_run(tmp_path: Path, run: Path) -> None:
    p = plan(run, tmp_path / "o", strategy="adapter", precision="fp32",
             verify={"prompts": 4, "max_new_tokens": 20, "dataset": "tools"})
    text = "\n".join(summary_lines(p, inspect_source(p.source), Capabilities()))
    assert "adapters/ft.onnx_adapter" in text
    assert "build -> adapters -> reference -> verify" in text
    assert "4 prompts from the test split of dataset tools, 20 tokens each" in text
    assert "Precision: FP32 for CPU" in text


def test_plan_fields_are_validated(tmp_path: Path, run: Path) -> None:
    with pytest.raises(ValidationError, match="block size"):
        plan(run, tmp_path, int4={"block_size": 48})
    with pytest.raises(ValidationError, match="accuracy level"):
        plan(run, tmp_path, int4={"accuracy_level": 7})
    with pytest.raises(ValidationError):
        plan(run, tmp_path, name="a/b")
    with pytest.raises(ValidationError):
        plan(run, tmp_path, adapter_name="my adapter")
    with pytest.raises(ValidationError):
        plan(run, tmp_path, precision="int3")
    assert plan(run, tmp_path).recipe_label() == "INT4 k_quant_mixed b32 · cpu · merged"
    assert human_bytes(3 * 2**30) == "3.0 GB" and human_bytes(None) == "?"
