"""Exports for real: the tiny Phi3 through the export script (model builder, training/merge.py,
olive generate-adapter, PyTorch reference) and verification through the inference worker.

Each export is run once per session (`exported`) and shared by the tests that inspect it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixtures.exports import RUN_ID, Done, add_run, app_dirs, og_generate, run_export

from phi4studio.core.export import ExportRefused, ExportService
from phi4studio.core.export.commands import export_script

PROMPT = [1, 200, 300, 400, 500, 600, 700]


@pytest.fixture(scope="session")
def export_ws(tmp_path_factory: pytest.TempPathFactory, tiny_phi3_hf_dir: Path,
              tiny_phi3_lora_dir: Path) -> tuple[Any, Path]:
    root = tmp_path_factory.mktemp("export-home")
    workspace = root / "workspace"
    add_run(workspace, tiny_phi3_hf_dir, tiny_phi3_lora_dir / "peft")
    return app_dirs(root), workspace


@pytest.fixture(scope="session")
def exported(export_ws: tuple[Any, Path], tiny_phi3_hf_dir: Path,
             figures: Any) -> Callable[[str], Done]:
    plans = {
        "int8-run": {"name": "tiny-run-int8", "source": RUN_ID, "precision": "int8"},
        "adapter": {"name": "tiny-run-adapter", "source": RUN_ID, "precision": "fp32",
                    "strategy": "adapter"},
    }
    done: dict[str, Done] = {}

    def get(key: str) -> Done:
        if key not in done:
            plan = {**plans[key], "verify": {"prompts": 3, "max_new_tokens": 16}}
            done[key] = run_export(*export_ws, plan)
            figures(f"export {key}: end to end (s)", done[key].seconds)
        return done[key]

    return get


def test_int8_from_a_run_merges_with_the_train_tabs_merge(exported: Callable[[str], Done],
                                                          tiny_phi3_lora_dir: Path) -> None:
    import onnx

    d = exported("int8-run")
    assert d.state == "succeeded", d.log[-3000:]
    out = Path(d.result["output_dir"])
    assert list(d.result["timings"]) >= ["merge"] and (out / "logs" / "merge.log").exists()
    assert d.record.run_id == RUN_ID and d.record.meta["stages"][0] == "merge"
    ops = {n.op_type for n in onnx.load(str(out / "model.onnx"),
                                        load_external_data=False).graph.node}
    assert "MatMulNBits" in ops  # weight-only quantized
    assert len(og_generate(out, PROMPT, 8)) == 8
    v = d.result["verification"]
    assert v["token_agreement"] >= 0.8, v  # against the merged PyTorch model
    assert v["size_bytes"] < 0.8 * 55_000_000  # smaller than the FP32 build


def test_adapter_strategy_end_to_end(exported: Callable[[str], Done], tiny_phi3_lora_dir: Path,
                                     tiny_phi3_hf_dir: Path) -> None:
    """FP32 base + swappable adapter: the ONNX logits of the prompt's last position match PyTorch
    (base without the adapter, the merged model with it), the greedy tokens too; the adapter
    changes the output."""
    import numpy as np
    import onnxruntime_genai as og
    import torch
    from fixtures.exports import torch_greedy
    from transformers import AutoModelForCausalLM

    d = exported("adapter")
    assert d.state == "succeeded", d.log[-3000:]
    out = Path(d.result["output_dir"])
    adapter = out / "adapters" / "ft.onnx_adapter"
    assert adapter.is_file() and d.record.adapters == {"ft": adapter}
    v = d.result["verification"]
    assert v["status"] == "passed" and v["token_agreement"] == 1.0 and v["exact_prompts"] == 3
    assert v["by_variant"] == {"base": 1.0, "ft": 1.0} and v["base_differs"] is True
    assert v["load_s"] > 0 and v["decode_tokens_per_s"] > 0 and v["provider"] == "cpu"
    # logits straight from onnxruntime-genai, without and with the adapter
    model = og.Model(str(out))
    adapters = og.Adapters(model)
    adapters.load(str(adapter), "ft")
    logits = {}
    for name in ("", "ft"):
        gen = og.Generator(model, og.GeneratorParams(model))
        if name:
            gen.set_active_adapter(adapters, name)
        gen.append_tokens(PROMPT)
        logits[name] = np.asarray(gen.get_output("logits"))[0]
    for name, hf_dir in (("", tiny_phi3_hf_dir), ("ft", tiny_phi3_lora_dir / "merged")):
        hf = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32).eval()
        with torch.no_grad():
            ref = hf(torch.tensor([PROMPT])).logits[0].numpy()
        # the CPU build projects only the last position through the LM head (prune_lm_head)
        assert logits[name].shape == (1, ref.shape[-1]), logits[name].shape
        assert np.abs(logits[name][-1] - ref[-1]).max() < 1e-4, name
    # greedy tokens: the adapter changes the output and matches the merged PyTorch model
    with_adapter = og_generate(out, PROMPT, 12, adapter=(adapter, "ft"))
    assert with_adapter == torch_greedy(tiny_phi3_lora_dir / "merged", PROMPT, 12)
    base = og_generate(out, PROMPT, 12)
    assert base != with_adapter
    assert base == torch_greedy(tiny_phi3_hf_dir, PROMPT, 12)
    # what is kept: files, manifest, catalog row (recipe, sizes, verification)
    for f in ("genai_config.json", "model.onnx", "export_plan.json", "export.json",
              "logs/export.log", "logs/builder.log", "logs/olive-ft.log", "logs/verify.log",
              "verify/reference.json"):
        assert (out / f).exists(), f
    assert not out.with_name(f".{out.name}.work").exists()  # scratch removed
    r = d.record
    assert (r.status, r.precision, r.target, r.strategy) == ("ready", "fp32", "cpu", "adapter")
    assert r.run_id == RUN_ID and r.size_bytes == v["size_bytes"]
    assert r.verification["token_agreement"] == 1.0
    assert r.meta["builder_args"][:2] == ["-m", "onnxruntime_genai.models.builder"]
    assert r.meta["versions"]["onnxruntime-genai"]
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["status"] == "ready" and manifest["verification"]["details"]


def test_refusals_before_anything_runs(export_ws: tuple[Any, Path], tiny_phi3_hf_dir: Path,
                                       tmp_path: Path) -> None:
    import asyncio

    from phi4studio.core.export import ExportPlan
    from phi4studio.core.studio import Studio

    async def refused(**fields: Any) -> set[str]:
        studio = Studio.open(*export_ws)
        try:
            svc = ExportService(studio)
            src = fields.pop("source", RUN_ID)
            plan = ExportPlan.model_validate({"name": "r", "source": svc.source_spec(src),
                                              "output_dir": str(tmp_path / "out"), **fields})
            before = len(studio.queue.jobs)
            with pytest.raises(ExportRefused) as exc:
                svc.submit(plan)
            assert len(studio.queue.jobs) == before and not studio.queue.active()
            return exc.value.findings.codes()
        finally:
            await studio.queue.shutdown()
            studio.close()

    assert "adapter_quantized" in asyncio.run(refused(strategy="adapter", precision="int4"))
    assert "adapter_dml" in asyncio.run(refused(strategy="adapter", precision="fp16",
                                                target="dml"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert "output_not_empty" in asyncio.run(refused())
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    empty = tmp_path / "empty-model"
    empty.mkdir()
    (empty / "config.json").write_text((tiny_phi3_hf_dir / "config.json").read_text())
    assert "source" in asyncio.run(refused(source=str(empty), precision="fp32"))


def script(recipe: dict[str, Any], tmp_path: Path,
           env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]]]:
    import os

    plan = tmp_path / "export_plan.json"
    plan.write_text(json.dumps(recipe))
    # stdin stays open: the script reads a closed stdin as "the app went away" and stops
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen([sys.executable, str(export_script()), "--plan", str(plan)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                env={**os.environ, **(env or {})})
        assert proc.stdout is not None and proc.stdin is not None
        stdout = proc.stdout.read().decode()
        rc = proc.wait(300)
        proc.stdin.close()
    events = [json.loads(x) for x in stdout.splitlines() if x.startswith('{"v": 1')]
    return rc, events


def base_recipe(tmp_path: Path, stages: list[str]) -> dict[str, Any]:
    out = tmp_path / "out"
    return {"output_dir": str(out), "work_dir": str(tmp_path / ".out.work"),
            "logs_dir": str(out / "logs"), "stages": stages, "plan": {"name": "t"}}


def test_the_script_refuses_an_adapter_baked_into_int4(tmp_path: Path) -> None:
    recipe = base_recipe(tmp_path, ["build"])
    recipe["build"] = {"input": str(tmp_path), "args": ["-c", "pass"], "precision": "int4",
                       "adapter_path": str(tmp_path / "adapter")}
    rc, events = script(recipe, tmp_path)
    assert rc == 2
    [err] = [e for e in events if e["type"] == "error"]
    assert err["code"] == "adapter_quantized" and "garbage" in err["message"]


def test_a_missing_onnx_ir_is_explained(tmp_path: Path) -> None:
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'onnx_ir' or name.startswith('onnx_ir.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'onnx_ir'\")\n"
        "sys.meta_path.insert(0, Hide())\n")
    recipe = base_recipe(tmp_path, ["build"])
    recipe["build"] = {"input": str(tmp_path), "args": [], "precision": "fp32"}
    rc, events = script(recipe, tmp_path, {"PYTHONPATH": str(hide)})
    assert rc == 2
    [err] = [e for e in events if e["type"] == "error"]
    assert err["code"] == "missing_package"
    assert "onnx-ir" in err["message"] and "does not declare" in err["message"]
    assert "pip install onnx-ir" in err["hint"]


def test_olive_exiting_0_without_an_adapter_is_caught(tmp_path: Path,
                                                      tiny_phi3_onnx_dir: Path) -> None:
    """olive generate-adapter on a build without LoRA weights says 'Model is saved' and exits
    0, having written no adapter: the script checks the outputs."""
    import shutil

    from phi4studio.core.export.commands import OLIVE_ENV, olive_adapter_args

    recipe = base_recipe(tmp_path, ["adapters"])
    out = Path(recipe["output_dir"])
    shutil.copytree(tiny_phi3_onnx_dir, out)
    olive_out = tmp_path / ".out.work" / "olive-ft"
    recipe["adapters"] = [{"name": "ft", "peft": str(tmp_path), "out": str(olive_out),
                           "args": olive_adapter_args(out, olive_out),
                           "cwd": str(tmp_path / ".out.work" / "olive-cwd"), "env": OLIVE_ENV}]
    rc, events = script(recipe, tmp_path)
    assert rc == 1
    [err] = [e for e in events if e["type"] == "error"]
    assert err["code"] == "olive_no_output"
    assert "exited without error but wrote no adapter" in err["message"]
    assert (out / "logs" / "olive-ft.log").read_text().count("Model is saved") == 1
    assert (out / "model.onnx").exists()  # the build was left as it was


def test_the_probe_reports_the_olive_builder_incompatibility() -> None:
    proc = subprocess.run([sys.executable, str(export_script()), "--probe"],
                          capture_output=True, text=True, timeout=120, check=True)
    [result] = [json.loads(x) for x in proc.stdout.splitlines() if '"result"' in x]
    data = result["data"]
    assert data["ok"] and data["builder"] and data["olive"]
    passed = data["olive_model_builder_pass"]
    assert passed["ok"] is False and "studio's own builder path" in passed["reason"]


def test_cancel_stops_the_build_and_records_it(export_ws: tuple[Any, Path],
                                               tiny_phi3_hf_dir: Path) -> None:
    import asyncio

    import psutil

    from phi4studio.core.export import ExportPlan
    from phi4studio.core.jobs import JobState
    from phi4studio.core.studio import Studio

    async def main() -> None:
        studio = Studio.open(*export_ws)
        try:
            svc = ExportService(studio)
            out = studio.workspace.exports_dir / "cancelled"
            plan = ExportPlan.model_validate({
                "name": "cancelled", "source": svc.source_spec(str(tiny_phi3_hf_dir)),
                "precision": "fp32", "output_dir": str(out)})
            job = svc.submit(plan)
            while job.stage != "build" and not job.state.finished:
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # the builder is running
            child = job._child
            assert child is not None and child.pid is not None
            tree = [child.pid] + [p.pid for p in psutil.Process(child.pid).children(True)]
            studio.queue.cancel(job)
            assert await studio.queue.wait(job) is JobState.CANCELLED
            assert not [p for p in tree if psutil.pid_exists(p) and
                        psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
            record = svc.get(job.export_id)
            assert record is not None and record.status == "cancelled"
            assert not out.with_name(".cancelled.work").exists()
            assert (out / "logs" / "export.log").exists()  # kept for inspection
            assert json.loads((out / "export.json").read_text())["status"] == "cancelled"
        finally:
            await studio.queue.shutdown()
            studio.close()

    asyncio.run(main())


def test_a_build_that_cannot_load_fails_verification(tmp_path: Path,
                                                     tiny_phi3_onnx_dir: Path) -> None:
    import asyncio
    import shutil

    from phi4studio.core.export.verify import verify_export

    broken = tmp_path / "broken"
    shutil.copytree(tiny_phi3_onnx_dir, broken)
    (broken / "model.onnx").write_bytes(b"not a model")
    lines: list[str] = []
    ref = {"variants": [""], "prompts": [{"id": "p", "prompt_ids": PROMPT,
                                          "reference": {"": {"tokens": [5], "eos": False}}}]}
    v = asyncio.run(verify_export(broken, ref, provider="cpu", adapters={}, threshold=0.9,
                                  log=lines.append))
    assert v.status == "failed" and "could not be loaded by onnxruntime-genai" in v.message
    assert lines and v.token_agreement is None
