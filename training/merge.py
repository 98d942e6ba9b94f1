"""Merge a LoRA/DoRA adapter into its base model and save a plain Hugging Face folder (for export).

    python training/merge.py --adapter runs/r1/adapter --out exports/r1-merged --dtype fp16
    python training/merge.py --adapter runs/r1/adapter --out merged --base path/to/base --dtype bf16

The base model comes from `--base`, else from `studio_training.json` that sft.py writes into the
adapter folder (which also knows a GGUF base's file name), else from the adapter's own
`adapter_config.json`. The tokenizer (and its chat template) is taken from the adapter folder when
it has one, so the merged model renders prompts exactly as training did.

Events: start, progress (phases), artifact (kind "merged-model"), result, error. stdin `cancel`
stops between phases (exit 0, nothing written). Exit codes as sft.py: 0 done/cancelled, 1 error,
2 refused, 3 out of memory, 4 disk full.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _protocol as proto
from _protocol import emit

DTYPES = ("fp32", "fp16", "bf16")


def base_of(adapter: Path, override: str | None) -> tuple[str, str | None, bool]:
    """(model folder or id, gguf file name or None, trust_remote_code) of the adapter's base."""
    studio = adapter / "studio_training.json"
    if override:
        p = Path(override)
        if p.suffix == ".gguf":
            return str(p.parent), p.name, False
        return override, None, False
    if studio.exists():
        info = json.loads(studio.read_text(encoding="utf-8"))
        return str(info["base_model"]), info.get("gguf_file"), bool(info.get("trust_remote_code"))
    cfg = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    return str(cfg["base_model_name_or_path"]), None, False


def main(adapter: Path, out: Path, dtype_name: str = "fp16", base: str | None = None,
         stop: proto.StopFlag | None = None) -> int:
    stop = stop or proto.StopFlag()
    if dtype_name not in DTYPES:
        emit("error", message=f"unknown dtype {dtype_name!r}: use one of {', '.join(DTYPES)}")
        return proto.EXIT_REFUSED
    if not (adapter / "adapter_config.json").exists():
        emit("error", message=f"{adapter} is not a LoRA adapter folder (no adapter_config.json)")
        return proto.EXIT_REFUSED
    folder, gguf, trust = base_of(adapter, base)
    emit("start", message=f"merging {adapter.name} into {Path(gguf or folder).name} "
         f"({dtype_name})", total=4, adapter=str(adapter), base=folder, gguf_file=gguf,
         dtype=dtype_name)
    t0 = time.time()
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype_name]
    kw: dict[str, Any] = {"trust_remote_code": trust}
    if gguf:
        kw["gguf_file"] = gguf
    emit("progress", step=1, total=4, message="loading the base model")
    # Merge in fp32 (exact), then cast: fp16/bf16 rounding happens once, on the merged weights.
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kw)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and gguf:
        quantizer.remove_quantization_config(model)
    if stop.is_set():
        emit("result", message="cancelled", data={"stopped": "cancelled"})
        return proto.EXIT_OK
    emit("progress", step=2, total=4, message="applying and merging the adapter")
    model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    model = model.to(dtype)
    if stop.is_set():
        emit("result", message="cancelled", data={"stopped": "cancelled"})
        return proto.EXIT_OK
    emit("progress", step=3, total=4, message=f"saving to {out}")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tok_src = adapter if (adapter / "tokenizer_config.json").exists() else Path(folder)
    tok_kw = {} if tok_src == adapter else kw
    AutoTokenizer.from_pretrained(str(tok_src), **tok_kw).save_pretrained(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    emit("progress", step=4, total=4, message="done")
    emit("artifact", path=str(out), kind="merged-model")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    emit("result", message=f"merged model saved to {out}",
         data={"path": str(out), "dtype": dtype_name, "size_gb": round(size / 2**30, 3),
               "seconds": round(time.time() - t0, 1), **proto.memory_now()})
    return proto.EXIT_OK


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--adapter", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--dtype", default="fp16", choices=DTYPES)
    ap.add_argument("--base", default=None, help="base model (folder, .gguf file or Hub id)")
    args = ap.parse_args(argv)
    stop = proto.StopFlag()
    stop.start_reader()
    try:
        return main(args.adapter, args.out, args.dtype, args.base, stop)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure becomes an error event
        traceback.print_exc(file=sys.stderr)
        if proto.is_oom(exc):
            emit("error", message=f"Out of memory while merging ({exc}): merging needs the whole "
                 "model in fp32 in RAM; close other programs or merge on a larger machine.")
            return proto.EXIT_OOM
        if proto.is_disk_full(exc):
            emit("error", message=f"The disk holding {args.out} is full "
                 f"({proto.free_gb(args.out)} GB free): {exc}")
            return proto.EXIT_DISK_FULL
        emit("error", message=f"{type(exc).__name__}: {exc}")
        return proto.EXIT_ERROR


if __name__ == "__main__":
    sys.exit(cli())
