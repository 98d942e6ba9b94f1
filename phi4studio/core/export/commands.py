"""Command lines and configs for the tools an export runs, and the resolved recipe file.

The recipe (`<output>/export_plan.json`) is everything `training/export_model.py` needs: paths,
the model builder's and Olive's arguments (without the interpreter: the script runs them with its
own Python, the training runtime's), the prompts for the PyTorch reference. An export can be re-run
from that file alone:

    python training/export_model.py --plan exports/NAME/export_plan.json

Notes on the tools, checked with onnxruntime-genai 0.18 and olive-ai 0.13:
- The model builder is run as `python -m onnxruntime_genai.models.builder` with arguments built
  here from its source (its `--help` crashes, so it is never asked). It needs `onnx_ir`, which
  onnxruntime-genai does not declare: the script checks for it first and says so.
- `hf_token=false`: the builder never contacts the Hugging Face Hub.
- Olive: `generate-adapter` turns the LoRA weights of a build made with `adapter_path` into model
  inputs plus an `.onnx_adapter` file. Olive sends a telemetry heartbeat before it reads
  `--disable_telemetry`, and without a network its exporter holds the exit ~10 s: `CI=1` in its
  environment stops the heartbeat. Options naming existing paths are resolved against its working
  directory, so it runs in an empty folder.
- Olive's ModelBuilder pass patches `onnxruntime_genai.models.quantized_model`, which
  onnxruntime-genai 0.18 no longer has: GPTQ/AWQ run as Olive PyTorch passes only, and the studio's
  own builder converts their checkpoint (the builder reads Olive/GPTQ/AWQ checkpoints).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from phi4studio.core.export.checks import stages
from phi4studio.core.export.plan import ExportPlan
from phi4studio.core.export.source import SourceInfo
from phi4studio.core.paths import training_scripts_dir

RECIPE_VERSION = 1
RECIPE_FILE = "export_plan.json"
MANIFEST_FILE = "export.json"
SCRIPT = "export_model.py"

OLIVE_ENV = {
    "CI": "1",  # Olive skips its telemetry heartbeat (see the module docstring)
    "OLIVE_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}
LAST_TOKEN_LOGITS_TARGETS = ("cpu", "cuda")
BUILDER_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONIOENCODING": "utf-8"}


# --- the model builder ----------------------------------------------------------------------------
def builder_extra_options(plan: ExportPlan, *, adapter_path: Path | None = None,
                          prequantized: bool = False) -> dict[str, str]:
    """`--extra_options` for the builder. INT4/INT8: block size, algorithm (INT4), accuracy level.
    A checkpoint quantized by Olive (GPTQ/AWQ) brings its own quantization.

    CPU and CUDA builds project only the last position through the LM head (`prune_lm_head`):
    the runtime reads no other logits, and a prompt's prefill otherwise multiplies every
    position by the vocabulary (about a fifth of a small model's prefill time). DirectML keeps
    the full head: its runtime (last 0.14.1) predates the option."""
    opts: dict[str, str] = {"hf_token": "false"}
    if plan.target in LAST_TOKEN_LOGITS_TARGETS:
        opts["prune_lm_head"] = "true"
    if plan.quantized and not prequantized:
        opts["block_size"] = str(plan.int4.block_size)
        if plan.precision == "int4":
            opts["algo_config"] = plan.int4.algo
        if plan.int4.accuracy_level:
            opts["accuracy_level"] = str(plan.int4.accuracy_level)
    if adapter_path is not None:
        opts["adapter_path"] = str(adapter_path)
    return opts


def builder_args(input_dir: Path, output_dir: Path, precision: str, target: str,
                 cache_dir: Path, extra_options: dict[str, str] | None = None) -> list[str]:
    """Arguments after the interpreter: `python <these>`."""
    args = ["-m", "onnxruntime_genai.models.builder", "-i", str(input_dir), "-o", str(output_dir),
            "-p", precision, "-e", target, "-c", str(cache_dir)]
    if extra_options:
        args += ["--extra_options", *(f"{k}={v}" for k, v in extra_options.items())]
    return args


def builder_argv(python: str, *args: Any, **kw: Any) -> list[str]:
    return [python, *builder_args(*args, **kw)]


# --- Olive ----------------------------------------------------------------------------------------
def olive_adapter_args(model_dir: Path, output_dir: Path) -> list[str]:
    return ["-m", "olive", "generate-adapter", "-m", str(model_dir), "-o", str(output_dir),
            "--adapter_format", "onnx_adapter", "--log_level", "3", "--disable_telemetry"]


def olive_run_args(config_path: Path) -> list[str]:
    return ["-m", "olive", "run", "--config", str(config_path), "--log_level", "3",
            "--disable_telemetry"]


def olive_quantize_config(algo: str, hf_dir: Path, calibration_file: Path, output_dir: Path, *,
                          block_size: int = 32, samples: int = 128,
                          max_seq_len: int = 512) -> dict[str, Any]:
    """An Olive workflow: GPTQ (Olive's own pass) or AWQ (AutoAWQ) on the CUDA GPU, calibrated on
    `calibration_file` (JSON lines, one {"text": ...} each, written from the user's dataset), to
    a quantized Hugging Face checkpoint. No ModelBuilder pass (see the module docstring), and no
    data from the Hub: the data config names a local JSON file."""
    if algo not in ("gptq", "awq"):
        raise ValueError(f"Olive quantization is for gptq or awq, not {algo!r}")
    data = {
        "name": "calibration",
        "type": "HuggingfaceContainer",
        "load_dataset_config": {"data_name": "json", "data_files": [str(calibration_file)],
                                "split": "train"},
        "pre_process_data_config": {"text_cols": "text", "max_seq_len": max_seq_len,
                                    "max_samples": samples, "add_special_tokens": False},
        "dataloader_config": {"batch_size": 1},
    }
    if algo == "gptq":
        pass_cfg: dict[str, Any] = {"type": "Gptq", "bits": 4, "group_size": block_size,
                                    "data_config": "calibration"}
    else:
        pass_cfg = {"type": "AutoAWQQuantizer", "bits": 4, "q_group_size": block_size,
                    "data_config": "calibration"}
    return {
        "input_model": {"type": "HfModel", "model_path": str(hf_dir),
                        "load_kwargs": {"trust_remote_code": False}},
        "systems": {"local_system": {"type": "LocalSystem", "accelerators": [
            {"device": "gpu", "execution_providers": ["CUDAExecutionProvider"]}]}},
        "data_configs": [data],
        "passes": {algo: pass_cfg},
        "host": "local_system",
        "target": "local_system",
        "output_dir": str(output_dir),
        "no_artifacts": True,
        "log_severity_level": 3,
    }


# --- the export script ----------------------------------------------------------------------------
def export_script() -> Path:
    return training_scripts_dir() / SCRIPT


def export_script_argv(python: str, recipe_file: Path) -> list[str]:
    return [python, str(export_script()), "--plan", str(recipe_file)]


def probe_argv(python: str) -> list[str]:
    return [python, str(export_script()), "--probe"]


def work_dir_for(output_dir: Path) -> Path:
    """Scratch space beside the output (same disk), removed when the export ends."""
    return output_dir.with_name(f".{output_dir.name}.work")


def build_recipe(plan: ExportPlan, source: SourceInfo, *, prompts: list[dict[str, Any]],
                 calibration_file: Path | None = None,
                 python: str | None = None) -> dict[str, Any]:
    """Everything the export script does, resolved to paths and arguments."""
    out = Path(plan.output_dir).expanduser().resolve()
    work = work_dir_for(out)
    steps = stages(plan, source)
    assert source.base_dir is not None, "a source without a model folder is refused earlier"
    recipe: dict[str, Any] = {
        "recipe_version": RECIPE_VERSION,
        "plan": plan.model_dump(mode="json"),
        "output_dir": str(out),
        "work_dir": str(work),
        "logs_dir": str(out / "logs"),
        "stages": [s for s in steps if s != "verify"],  # verify runs in the app
        "python": python or sys.executable,
    }
    base_hf = source.base_dir
    if "prepare" in steps:
        base_hf = work / "base-hf"
        recipe["prepare"] = {"gguf_dir": str(source.base_dir), "gguf_file": source.gguf_file,
                             "out": str(base_hf)}
    model_hf = base_hf
    if "merge" in steps:
        assert source.adapter_dir is not None
        model_hf = work / "merged"
        base = source.base_dir / source.gguf_file if source.gguf_file else base_hf
        recipe["merge"] = {"base": str(base), "adapter": str(source.adapter_dir),
                           "out": str(model_hf)}
    build_input = model_hf
    if "quantize" in steps:
        if calibration_file is None:
            raise ValueError("GPTQ/AWQ need a calibration file")
        qout = work / "quantized"
        cfg_path = work / "olive-quantize.json"
        recipe["quantize"] = {
            "algo": plan.int4.algo,
            "config_path": str(cfg_path),
            "config": olive_quantize_config(plan.int4.algo, model_hf, calibration_file, qout,
                                            block_size=plan.int4.block_size,
                                            samples=plan.int4.calibration_samples),
            "args": olive_run_args(cfg_path),
            "out": str(qout),
            "env": OLIVE_ENV,
        }
        build_input = qout
    adapter_path = source.adapter_dir if plan.strategy == "adapter" else None
    extra = builder_extra_options(plan, adapter_path=adapter_path,
                                  prequantized="quantize" in steps)
    recipe["build"] = {
        "input": str(build_input),
        "args": builder_args(build_input, out, plan.precision, plan.target,
                             work / "builder-cache", extra),
        "env": BUILDER_ENV,
        "precision": plan.precision,
        "adapter_path": str(adapter_path) if adapter_path else None,
    }
    if "adapters" in steps:
        assert source.adapter_dir is not None
        olive_out = work / f"olive-{plan.adapter_name}"
        recipe["adapters"] = [{
            "name": plan.adapter_name,
            "peft": str(source.adapter_dir),
            "args": olive_adapter_args(out, olive_out),
            "out": str(olive_out),
            "cwd": str(work / "olive-cwd"),
            "env": OLIVE_ENV,
        }]
    if "reference" in steps:
        recipe["reference"] = {
            "model": str(model_hf if plan.strategy == "merged" else base_hf),
            "adapters": ({plan.adapter_name: str(source.adapter_dir)}
                         if plan.strategy == "adapter" and source.adapter_dir else {}),
            "prompts": prompts,
            "max_new_tokens": plan.verify.max_new_tokens,
            "out": str(out / "verify" / "reference.json"),
        }
    return recipe
