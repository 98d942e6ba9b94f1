"""Export a model to an onnxruntime-genai folder: prepare -> merge -> quantize -> build ->
adapters -> reference, as a subprocess of Phi-4 Studio (run by the training runtime).

    python training/export_model.py --plan exports/my-int4/export_plan.json
    python training/export_model.py --probe                  # what this runtime can do (result)
    python training/export_model.py --materialize M.gguf --out DIR    # GGUF -> FP32 HF folder

The plan file is written by the app (phi4studio/core/export/commands.py `build_recipe`): every
path and every tool argument resolved, so a folder re-runs from it alone. Stages:

- prepare: a GGUF base is de-quantized into an FP32 Hugging Face folder (transformers + gguf).
- merge: base + LoRA adapter -> one FP32 model (training/merge.py, the Train tab's merge; it
  also reads a GGUF base).
- quantize: GPTQ/AWQ with Olive on a CUDA GPU, calibrated on the user's data (local JSON file).
- build: `python -m onnxruntime_genai.models.builder` (with `adapter_path` for swappable
  adapters; never for INT4/INT8, where it produces garbage).
- adapters: `olive generate-adapter`: the LoRA weights become model inputs and
  `adapters/<name>.onnx_adapter`. Its outputs are checked (Olive can exit 0 having written
  nothing): the adapter exists, and its tensors are inputs of the new model.
- reference: greedy answers of the PyTorch source (merged model, or base and base + adapter) to
  the plan's prompts, token ids in `verify/reference.json`; the app compares the export with them.
  For small models it runs while the builder builds (the two use different cores).

Events (stdout, JSON lines, see README.md): start, progress (`stage`, `fraction` of the whole
script), log (tool output, `source`), artifact, result, error (`code`, `hint`). stdin
`{"cmd": "cancel"}` stops at once (the running tool is terminated); the partial output stays for
inspection. Logs: `<output>/logs/export.log` (every event), `builder.log`, `olive-*.log`.
Exit codes: 0 done or cancelled, 1 error, 2 refused (bad plan, missing package), 4 disk full.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _export_tools as tools
from _export_tools import (
    EXIT_DISK_FULL,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REFUSED,
    Cancelled,
    Refused,
    ToolFailed,
    emit,
    stop,
)

WEIGHTS = {"prepare": 2, "merge": 2, "quantize": 6, "build": 6, "adapters": 2, "reference": 2}
CONCURRENT_REFERENCE_BYTES = 1 << 30  # run the reference during the build below this size
NEEDS = {
    "prepare": ["torch", "transformers", "gguf"],
    "merge": ["torch", "transformers", "peft"],
    "quantize": ["torch", "transformers", "olive"],
    "build": ["torch", "transformers", "onnxruntime_genai", "onnx", "onnx_ir"],
    "adapters": ["olive", "onnx"],
    "reference": ["torch", "transformers"],
}


class Progress:
    def __init__(self, stages: list[str]) -> None:
        self.stages = stages
        self.total = sum(WEIGHTS[s] for s in stages) or 1
        self.done = 0.0
        self.lock = threading.Lock()

    def report(self, stage: str, within: float, message: str) -> None:
        with self.lock:
            before = sum(WEIGHTS[s] for s in self.stages[: self.stages.index(stage)])
            frac = (before + WEIGHTS[stage] * min(1.0, max(0.0, within))) / self.total
            self.done = max(self.done, frac)
            emit("progress", stage=stage, fraction=round(self.done, 4), message=message)


# --- stages ---------------------------------------------------------------------------------------
def materialize_gguf(gguf_dir: Path, gguf_file: str, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(gguf_dir), gguf_file=gguf_file,
                                                 dtype=torch.float32)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=gguf_file).save_pretrained(str(out))


def merge(spec: dict[str, Any], logs: Path, progress: Progress) -> None:
    """training/merge.py (the Train tab's merge) in FP32, as its own process: its events are
    passed on (progress within this stage, logs), its output checked."""
    out = Path(spec["out"])
    script = Path(__file__).resolve().parent / "merge.py"

    def on_event(ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "progress" and ev.get("total"):
            progress.report("merge", float(ev.get("step") or 0) / float(ev["total"]),
                            f"merging: {ev.get('message', '')}")
        elif kind in ("log", "error", "start"):
            emit.log(str(ev.get("message", "")), source="merge",
                     level="error" if kind == "error" else "info")

    args = [str(script), "--adapter", spec["adapter"], "--out", str(out), "--dtype", "fp32",
            "--base", spec["base"]]
    tools.run_tool("merge", args, log_path=logs / "merge.log", on_event=on_event)
    stop.check()
    if not (out / "config.json").exists():
        raise ToolFailed("merge_no_output", f"The merge exited without error but wrote no model "
                         f"in {out}.", f"Its log: {logs / 'merge.log'}")


def quantize(spec: dict[str, Any], logs: Path) -> Path:
    """Olive GPTQ/AWQ; returns the folder of the quantized checkpoint."""
    ok, why = tools.olive_model_builder_pass()
    if not ok:
        emit.log(f"Olive's ModelBuilder pass is not used: {why}.")
    cfg_path = Path(spec["config_path"])
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(json.dumps(spec["config"], indent=2), encoding="utf-8")
    tools.run_tool("olive", spec["args"], log_path=logs / "olive-quantize.log",
                   cwd=cfg_path.parent, env=spec.get("env"))
    out = Path(spec["out"])
    found = [p.parent for p in out.rglob("config.json")
             if any(p.parent.glob("*.safetensors"))] if out.exists() else []
    if not found:
        raise ToolFailed("olive_no_output", f"Olive exited without error but wrote no quantized "
                         f"checkpoint under {out}.", f"Its log: {logs / 'olive-quantize.log'}")
    return found[0]


def build(spec: dict[str, Any], out: Path, logs: Path, progress: Progress) -> None:
    if spec.get("adapter_path") and spec.get("precision") in ("int4", "int8"):
        raise Refused("adapter_quantized", "An adapter baked into an INT4/INT8 build produces "
                      "garbage: merge it first (strategy 'merged'), or build FP16/FP32 with a "
                      "swappable adapter.")
    n_layers = _layers(Path(spec["input"]))

    def on_line(line: str) -> None:
        if line.startswith("Reading layer") and n_layers:
            try:
                i = int(line.split()[-1])
            except ValueError:
                return
            progress.report("build", 0.1 + 0.5 * (i + 1) / n_layers, f"building: layer {i + 1}"
                            f"/{n_layers}")
        elif line.startswith("Saving ONNX model"):
            progress.report("build", 0.65, "building: quantizing and saving the ONNX model")
        elif line.startswith("Saving GenAI config"):
            progress.report("build", 0.95, "building: writing genai_config.json")

    tools.run_tool("builder", spec["args"], log_path=logs / "builder.log", env=spec.get("env"),
                   on_line=on_line)
    missing = [n for n in ("genai_config.json", "model.onnx") if not (out / n).exists()]
    if missing:
        raise ToolFailed("builder_no_output", f"The model builder exited without error but "
                         f"wrote no {', '.join(missing)} in {out}.",
                         f"Its log: {logs / 'builder.log'}")


def _layers(hf_dir: Path) -> int | None:
    try:
        return int(json.loads((hf_dir / "config.json").read_text())["num_hidden_layers"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def make_adapter(spec: dict[str, Any], out: Path, logs: Path) -> Path:
    """olive generate-adapter on the build (made with adapter_path): the model with LoRA inputs
    replaces it, and the adapter goes to adapters/<name>.onnx_adapter."""
    name = spec["name"]
    olive_out, cwd = Path(spec["out"]), Path(spec["cwd"])
    shutil.rmtree(olive_out, ignore_errors=True)
    cwd.mkdir(parents=True, exist_ok=True)  # empty: Olive resolves option strings against it
    log = logs / f"olive-{name}.log"
    tools.run_tool("olive", spec["args"], log_path=log, cwd=cwd, env=spec.get("env"))
    produced = olive_out / "adapter_weights.onnx_adapter"
    model = olive_out / "model.onnx"
    if not produced.is_file() or produced.stat().st_size == 0 or not model.is_file():
        raise ToolFailed("olive_no_output", "olive generate-adapter exited without error but "
                         f"wrote no adapter ({produced.name}) or no model in {olive_out}.",
                         f"Its log: {log}")
    _check_adapter_inputs(model, produced)
    for old in list(out.glob("*.onnx")) + list(out.glob("*.onnx.data")):
        old.unlink()
    for f in olive_out.iterdir():
        if f.suffix == ".onnx" or f.name.endswith(".onnx.data") or f.suffix == ".data":
            shutil.move(str(f), str(out / f.name))
    target = out / "adapters" / f"{name}.onnx_adapter"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(produced), str(target))
    shutil.rmtree(olive_out, ignore_errors=True)
    return target


def _check_adapter_inputs(model: Path, adapter: Path) -> None:
    import onnx

    inputs = {i.name for i in onnx.load(str(model), load_external_data=False).graph.input}
    try:
        import onnxruntime as ort

        params = set(ort.AdapterFormat.read_adapter(str(adapter)).get_parameters())
    except ImportError:
        return
    if not params:
        raise ToolFailed("olive_empty_adapter", f"{adapter} holds no LoRA weights: the build "
                         "did not pick up the adapter (adapter_path).")
    stray = sorted(params - inputs)
    if stray:
        raise ToolFailed("olive_adapter_mismatch", f"{len(stray)} adapter tensors are not inputs "
                         f"of the model (e.g. {stray[0]}): the adapter does not fit this build.")


def reference(spec: dict[str, Any]) -> dict[str, Any]:
    """Greedy continuations of every prompt by the PyTorch source, as token ids."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    model_dir = Path(spec["model"])
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model: Any = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    eos = model.generation_config.eos_token_id
    eos_ids = sorted({int(e) for e in (eos if isinstance(eos, list) else [eos]) if e is not None})
    variants = [""]
    if spec.get("adapters"):
        from peft import PeftModel

        items = list(spec["adapters"].items())
        model = PeftModel.from_pretrained(model, items[0][1], adapter_name=items[0][0]).eval()
        for name, path in items[1:]:
            model.load_adapter(path, adapter_name=name)
        variants += [name for name, _ in items]
    load_s = time.perf_counter() - t0
    pad = tok.pad_token_id if tok.pad_token_id is not None else (eos_ids or [0])[0]
    out_prompts, n_tokens, gen_s = [], 0, 0.0
    for p in spec["prompts"]:
        stop.check()
        ids = tok(p["text"], add_special_tokens=False)["input_ids"]
        entry: dict[str, Any] = {"id": p.get("id"), "text": p["text"], "prompt_ids": ids,
                                 "reference": {}}
        for variant in variants:
            t1 = time.perf_counter()
            tokens, ended = _greedy(model, variant, ids, spec["max_new_tokens"], eos_ids, pad)
            gen_s += time.perf_counter() - t1
            n_tokens += len(tokens)
            entry["reference"][variant] = {"tokens": tokens, "eos": ended}
        out_prompts.append(entry)
    return {"model": str(model_dir), "eos_token_ids": eos_ids, "variants": variants,
            "max_new_tokens": spec["max_new_tokens"], "prompts": out_prompts,
            "load_s": round(load_s, 3),
            "tokens_per_s": round(n_tokens / gen_s, 2) if gen_s > 0 else None}


def _greedy(model: Any, variant: str, ids: list[int], max_new: int, eos_ids: list[int],
            pad: int) -> tuple[list[int], bool]:
    import contextlib

    import torch

    x = torch.tensor([ids])
    ctx: Any = contextlib.nullcontext()
    if hasattr(model, "disable_adapter"):
        if variant:
            model.set_adapter(variant)
        else:
            ctx = model.disable_adapter()
    with ctx, torch.no_grad():
        out = model.generate(input_ids=x, attention_mask=torch.ones_like(x),
                             max_new_tokens=max_new, do_sample=False, num_beams=1,
                             repetition_penalty=1.0, temperature=None, top_p=None, top_k=None,
                             eos_token_id=eos_ids or None, pad_token_id=pad)
    new = [int(t) for t in out[0, len(ids):].tolist()]
    for i, t in enumerate(new):
        if t in eos_ids:
            return new[:i], True
    return new, False


# --- main -----------------------------------------------------------------------------------------
def main(recipe: dict[str, Any]) -> dict[str, Any]:
    out, work = Path(recipe["output_dir"]), Path(recipe["work_dir"])
    logs = Path(recipe["logs_dir"])
    stages: list[str] = list(recipe["stages"])
    plan = recipe.get("plan", {})
    emit("start", message=f"exporting {plan.get('name', out.name)}: {' -> '.join(stages)}",
         stages=stages, output_dir=str(out), python=sys.executable)
    tools.require(sorted({m for s in stages for m in NEEDS[s]}))
    work.mkdir(parents=True, exist_ok=True)
    progress = Progress(stages)
    timings: dict[str, float] = {}
    ref_box: dict[str, Any] = {}
    ref_thread: threading.Thread | None = None

    def timed(stage: str, message: str) -> float:
        stop.check()
        progress.report(stage, 0.0, message)
        return time.perf_counter()

    def run_reference(concurrent: bool = False) -> None:
        t = time.perf_counter()
        try:
            if concurrent:
                # Beside the builder, more threads only spin against it (OpenMP busy-waits on
                # oversubscribed cores: 8x slower measured on 2 cores).
                import torch

                torch.set_num_threads(1)
            ref_box["data"] = reference(recipe["reference"])
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            ref_box["error"] = exc
        timings["reference"] = round(time.perf_counter() - t, 3)

    try:
        if "prepare" in stages:
            t = timed("prepare", "de-quantizing the GGUF base")
            p = recipe["prepare"]
            materialize_gguf(Path(p["gguf_dir"]), p["gguf_file"], Path(p["out"]))
            timings["prepare"] = round(time.perf_counter() - t, 3)
        if "merge" in stages:
            t = timed("merge", "merging the adapter into the base")
            merge(recipe["merge"], logs, progress)
            timings["merge"] = round(time.perf_counter() - t, 3)
        build_spec = recipe.get("build", {})
        if "quantize" in stages:
            t = timed("quantize", f"{recipe['quantize']['algo'].upper()} with Olive")
            qdir = quantize(recipe["quantize"], logs)
            build_spec = {**build_spec, "input": str(qdir),
                          "args": _replace_input(build_spec["args"], str(qdir))}
            timings["quantize"] = round(time.perf_counter() - t, 3)
        if "reference" in stages and _small(recipe):
            ref_thread = threading.Thread(target=run_reference, args=(True,), name="reference",
                                          daemon=True)
            ref_thread.start()
        if "build" in stages:
            t = timed("build", "building with the onnxruntime-genai model builder")
            build(build_spec, out, logs, progress)
            timings["build"] = round(time.perf_counter() - t, 3)
        adapters: dict[str, str] = {}
        if "adapters" in stages:
            t = timed("adapters", "making the ONNX adapter with olive generate-adapter")
            for spec in recipe["adapters"]:
                path = make_adapter(spec, out, logs)
                adapters[spec["name"]] = str(path)
                emit("artifact", path=str(path), kind="onnx-adapter", name=spec["name"])
            timings["adapters"] = round(time.perf_counter() - t, 3)
        ref_path = None
        if "reference" in stages:
            t = timed("reference", "greedy answers of the PyTorch source")
            if ref_thread is None:
                run_reference()
            else:
                while ref_thread.is_alive():
                    ref_thread.join(0.2)
                    stop.check()
            if "error" in ref_box:
                raise ref_box["error"]
            ref_path = Path(recipe["reference"]["out"])
            ref_path.parent.mkdir(parents=True, exist_ok=True)
            ref_path.write_text(json.dumps(ref_box["data"]), encoding="utf-8")
            progress.report("reference", 1.0, "reference answers ready")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit("artifact", path=str(out), kind="onnx-model")
    data = {
        "output_dir": str(out),
        "model_bytes": tools.folder_bytes(out, skip=("logs", "verify", "adapters")),
        "adapters": {n: {"path": p, "bytes": Path(p).stat().st_size} for n, p in adapters.items()},
        "timings": timings,
        "reference": str(ref_path) if ref_path else None,
        "reference_figures": ({k: ref_box["data"].get(k) for k in ("load_s", "tokens_per_s")}
                              if "data" in ref_box else None),
        "versions": {d: tools.version_of(d) for d in ("torch", "transformers", "peft",
                                                       "onnxruntime-genai", "onnx", "onnx-ir",
                                                       "olive-ai")},
    }
    return data


def _small(recipe: dict[str, Any]) -> bool:
    model = Path(recipe["reference"]["model"])
    try:
        size = sum(p.stat().st_size for p in model.glob("*.safetensors"))
    except OSError:
        return False
    return 0 < size < CONCURRENT_REFERENCE_BYTES


def _replace_input(args: list[str], new: str) -> list[str]:
    out = list(args)
    if "-i" in out:
        out[out.index("-i") + 1] = new
    return out


def probe() -> dict[str, Any]:
    cuda = False
    if tools.has_module("torch"):
        import torch

        cuda = bool(torch.cuda.is_available())
    ok, why = tools.olive_model_builder_pass()
    missing = [tools.PACKAGES[m][0] for m in tools.PACKAGES if not tools.has_module(m)]
    return {
        "python": sys.executable,
        "versions": {d: tools.version_of(d) for d, _ in tools.PACKAGES.values()},
        "missing": missing,
        "builder": tools.has_module("onnxruntime_genai") and tools.has_module("onnx_ir"),
        "olive": tools.has_module("olive"),
        "olive_model_builder_pass": {"ok": ok, "reason": why},
        "cuda": cuda,
        "awq": tools.has_module("awq"),
        "ok": not ({"torch", "transformers", "onnxruntime-genai", "onnx", "onnx-ir"}
                   & set(missing)),
    }


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", type=Path, help="the export_plan.json the app wrote")
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--materialize", type=Path, metavar="GGUF")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.probe:
        data = probe()
        emit("result", message="export runtime: " + ("ready" if data["ok"] else "missing "
             + ", ".join(data["missing"])), data=data)
        return EXIT_OK
    stop.start_reader()
    if args.materialize:
        if args.out is None:
            ap.error("--materialize needs --out")
        materialize_gguf(args.materialize.parent, args.materialize.name, args.out)
        emit("result", message=f"de-quantized to {args.out}", data={"out": str(args.out)})
        return EXIT_OK
    if args.plan is None:
        ap.error("--plan is required")
    try:
        recipe = json.loads(args.plan.read_text(encoding="utf-8"))
        emit.open_log(Path(recipe["logs_dir"]) / "export.log")
        data = main(recipe)
    except Cancelled:
        emit("result", message="export cancelled; the partial output stays for inspection",
             data={"cancelled": True})
        return EXIT_OK
    except Refused as exc:
        emit("error", message=exc.message, hint=exc.hint, code=exc.code)
        return EXIT_REFUSED
    except ToolFailed as exc:
        emit("error", message=exc.message, hint=exc.hint, code=exc.code)
        return EXIT_DISK_FULL if exc.code == "disk_full" else EXIT_ERROR
    except (OSError, ValueError, KeyError) as exc:
        full = isinstance(exc, OSError) and getattr(exc, "errno", None) == 28
        traceback.print_exc()
        emit("error", message=("The disk is full." if full else
                               f"The export failed: {type(exc).__name__}: {exc}"),
             code="disk_full" if full else "error")
        return EXIT_DISK_FULL if full else EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - reported as an event, traceback on stderr
        traceback.print_exc()
        emit("error", message=f"The export failed: {type(exc).__name__}: {exc}", code="error")
        return EXIT_ERROR
    emit("result", message=f"exported to {data['output_dir']}", data=data)
    emit("done")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(cli())
