"""Model builder and Olive command lines, and the recipe the export script runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phi4studio.core.export import ExportPlan, SourceSpec, inspect_source
from phi4studio.core.export.commands import (
    OLIVE_ENV,
    build_recipe,
    builder_argv,
    builder_extra_options,
    export_script_argv,
    olive_quantize_config,
    work_dir_for,
)

PROMPTS = [{"id": "p1", "text": "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"}]


def plan(source: Path, out: Path, kind: str = "run", **kw: Any) -> ExportPlan:
    return ExportPlan.model_validate({"name": "x", "source": {"kind": kind, "path": str(source)},
                                      "output_dir": str(out), **kw})


def options(args: list[str]) -> dict[str, str]:
    i = args.index("--extra_options")
    return dict(a.split("=", 1) for a in args[i + 1:])


def test_builder_arguments_per_precision(tmp_path: Path, base: Path) -> None:
    p = plan(base, tmp_path / "o", "hf_dir")
    argv = builder_argv("py", base, tmp_path / "o", "int4", "cpu", tmp_path / "c",
                        builder_extra_options(p))
    assert argv[:3] == ["py", "-m", "onnxruntime_genai.models.builder"]
    assert argv[argv.index("-p") + 1] == "int4" and argv[argv.index("-e") + 1] == "cpu"
    assert "--help" not in argv and "-h" not in argv  # the builder's --help crashes
    assert options(argv) == {"hf_token": "false", "prune_lm_head": "true", "block_size": "32",
                             "algo_config": "k_quant_mixed"}
    int8 = builder_extra_options(plan(base, tmp_path, "hf_dir", precision="int8",
                                      int4={"block_size": 64, "accuracy_level": 4}))
    assert int8 == {"hf_token": "false", "prune_lm_head": "true", "block_size": "64",
                    "accuracy_level": "4"}
    fp16 = builder_extra_options(plan(base, tmp_path, "hf_dir", precision="fp16",
                                      target="cuda"))
    assert fp16 == {"hf_token": "false", "prune_lm_head": "true"}
    # DirectML's runtime predates the pruned head: it keeps every position's logits
    dml = builder_extra_options(plan(base, tmp_path, "hf_dir", precision="fp16", target="dml"))
    assert dml == {"hf_token": "false"}
    adapter = builder_extra_options(plan(base, tmp_path, "hf_dir", precision="fp32"),
                                    adapter_path=tmp_path / "a")
    assert adapter["adapter_path"] == str(tmp_path / "a")
    assert "algo_config" not in builder_extra_options(
        plan(base, tmp_path, "hf_dir", int4={"algo": "gptq"}), prequantized=True)


def test_recipe_for_a_merged_run(tmp_path: Path, run: Path, base: Path) -> None:
    p = plan(run, tmp_path / "exports" / "m")
    r = build_recipe(p, inspect_source(p.source), prompts=PROMPTS, python="py")
    out, work = tmp_path / "exports" / "m", work_dir_for(tmp_path / "exports" / "m")
    assert r["stages"] == ["merge", "build", "reference"]
    assert r["merge"] == {"base": str(base), "adapter": str(run / "adapter"),
                          "out": str(work / "merged")}
    args = r["build"]["args"]
    assert args[args.index("-i") + 1] == str(work / "merged")
    assert args[args.index("-o") + 1] == str(out)
    assert "adapter_path" not in options(args)
    assert r["reference"]["model"] == str(work / "merged") and r["reference"]["adapters"] == {}
    assert r["reference"]["prompts"] == PROMPTS
    assert work.parent == out.parent and work.name.startswith(".")


def test_recipe_for_a_swappable_adapter(tmp_path: Path, run: Path, base: Path) -> None:
    p = plan(run, tmp_path / "a", strategy="adapter", precision="fp32", adapter_name="tools")
    r = build_recipe(p, inspect_source(p.source), prompts=PROMPTS, python="py")
    assert r["stages"] == ["build", "adapters", "reference"]
    assert options(r["build"]["args"])["adapter_path"] == str(run / "adapter")
    [a] = r["adapters"]
    assert a["name"] == "tools" and a["args"][:3] == ["-m", "olive", "generate-adapter"]
    assert a["args"][a["args"].index("-m", 2) + 1] == str(tmp_path / "a")
    assert "--disable_telemetry" in a["args"] and a["env"] == OLIVE_ENV
    assert a["env"]["CI"] == "1"  # no telemetry heartbeat: no 10 s wait at exit offline
    assert Path(a["cwd"]).name == "olive-cwd"
    assert r["reference"]["model"] == str(base)
    assert r["reference"]["adapters"] == {"tools": str(run / "adapter")}


def test_recipe_for_a_gguf_source_de_quantizes_first(tmp_path: Path) -> None:
    from fixtures.tiny_models import smollm2_gguf

    gguf = smollm2_gguf()
    p = plan(gguf, tmp_path / "g", "hf_dir", precision="int8", verify={"enabled": False})
    r = build_recipe(p, inspect_source(p.source), prompts=[], python="py")
    assert r["stages"] == ["prepare", "build"]
    assert r["prepare"]["gguf_file"] == gguf.name
    args = r["build"]["args"]
    assert args[args.index("-i") + 1] == r["prepare"]["out"]
    assert "reference" not in r


def test_gptq_runs_olive_on_the_gpu_with_local_calibration_data(tmp_path: Path,
                                                                base: Path) -> None:
    p = plan(base, tmp_path / "q", "hf_dir", int4={"algo": "gptq", "calibration_dataset": "d",
                                                   "block_size": 128})
    calib = tmp_path / "q" / "calibration.jsonl"
    r = build_recipe(p, inspect_source(p.source), prompts=PROMPTS, calibration_file=calib,
                     python="py")
    assert r["stages"] == ["quantize", "build", "reference"]
    q = r["quantize"]
    assert q["args"][:3] == ["-m", "olive", "run"]
    cfg = q["config"]
    assert list(cfg["passes"]) == ["gptq"]
    assert cfg["passes"]["gptq"] == {"type": "Gptq", "bits": 4, "group_size": 128,
                                     "data_config": "calibration"}
    assert "ModelBuilder" not in str(cfg)  # that pass is broken with onnxruntime-genai 0.18
    [data] = cfg["data_configs"]
    assert data["load_dataset_config"] == {"data_name": "json", "data_files": [str(calib)],
                                           "split": "train"}
    accel = cfg["systems"]["local_system"]["accelerators"][0]
    assert accel == {"device": "gpu", "execution_providers": ["CUDAExecutionProvider"]}
    build = r["build"]["args"]
    assert build[build.index("-i") + 1] == q["out"]
    assert "algo_config" not in options(build)  # the checkpoint brings its quantization
    awq = olive_quantize_config("awq", base, calib, tmp_path, block_size=64)
    assert awq["passes"]["awq"]["type"] == "AutoAWQQuantizer"
    assert awq["passes"]["awq"]["q_group_size"] == 64


def test_the_script_is_run_by_the_training_runtime(tmp_path: Path) -> None:
    argv = export_script_argv("/rt/bin/python", tmp_path / "export_plan.json")
    assert argv[0] == "/rt/bin/python"
    assert Path(argv[1]).name == "export_model.py" and Path(argv[1]).parent.name == "training"
    assert argv[2:] == ["--plan", str(tmp_path / "export_plan.json")]


def test_source_spec_round_trip() -> None:
    s = SourceSpec(kind="run", path="/x", run_id="r1")
    assert SourceSpec.model_validate(s.model_dump()) == s
