"""Every branch of the export wizard's navigation, without Qt."""

from __future__ import annotations

from pathlib import Path

import pytest

from phi4studio.core.export import Capabilities, ExportRefused, ExportWizard, Page, WizardEnv
from phi4studio.core.export.plan import SourceSpec, Target
from phi4studio.core.export.wizard import NAV


def wizard(tmp_path: Path, **caps: object) -> ExportWizard:
    return ExportWizard(WizardEnv(Capabilities(**caps), tmp_path / "exports"))  # type: ignore[arg-type]


def from_run(tmp_path: Path, run: Path, **caps: object) -> ExportWizard:
    w = wizard(tmp_path, **caps)
    w.set_source(SourceSpec(kind="run", path=str(run)))
    return w


def to_page(w: ExportWizard, page: Page) -> None:
    while w.page is not page:
        w.next()


def test_every_page_has_a_next_and_only_the_summary_is_last() -> None:
    assert set(NAV) == set(Page)
    assert [p for p, nav in NAV.items() if nav.last] == [Page.SUMMARY]


def test_a_model_folder_skips_the_strategy_page(tmp_path: Path, base: Path) -> None:
    w = wizard(tmp_path)
    w.set_source(SourceSpec(kind="hf_dir", path=str(base)))
    assert w.path() == [Page.SOURCE, Page.TARGET, Page.PRECISION, Page.OUTPUT, Page.SUMMARY]
    assert [w.next() for _ in range(4)] == w.path()[1:]
    assert w.is_last and not w.can_next()
    assert [c.available for c in w.choices(Page.STRATEGY)] == [True, False]
    assert "no LoRA adapter" in w.choices(Page.STRATEGY)[1].reason


def test_a_run_has_the_strategy_page_and_back_walks_the_stack(tmp_path: Path, run: Path) -> None:
    w = from_run(tmp_path, run)
    assert Page.STRATEGY in w.path()
    to_page(w, Page.STRATEGY)
    assert w.stack == [Page.SOURCE, Page.TARGET, Page.PRECISION]
    assert w.back() is Page.PRECISION and w.back() is Page.TARGET and w.back() is Page.SOURCE
    assert not w.can_back
    with pytest.raises(RuntimeError):
        w.back()


def test_no_source_or_missing_weights_block_the_first_page(tmp_path: Path, base: Path) -> None:
    w = wizard(tmp_path)
    assert not w.can_next()
    assert w.page_findings().codes() == {"no_source"}
    (base / "model.safetensors").unlink()
    w.set_source(SourceSpec(kind="hf_dir", path=str(base)))
    assert not w.can_next()
    with pytest.raises(ExportRefused, match="missing source weights"):
        w.next()
    assert w.page is Page.SOURCE


def test_int4_and_int8_hide_the_adapter_strategy_with_the_reason(tmp_path: Path,
                                                                 run: Path) -> None:
    w = from_run(tmp_path, run)
    for precision in ("int4", "int8"):
        w.set_precision(precision)
        merged, adapter = w.choices(Page.STRATEGY)
        assert merged.available and not adapter.available
        assert "INT4/INT8" in adapter.reason and "garbage" in adapter.reason
        with pytest.raises(ValueError, match="garbage"):
            w.set_strategy("adapter")
    w.set_precision("fp32")
    assert all(c.available for c in w.choices(Page.STRATEGY))
    w.set_strategy("adapter")
    assert w.plan().strategy == "adapter"


def test_choosing_int4_after_the_adapter_goes_back_to_merged(tmp_path: Path, run: Path) -> None:
    w = from_run(tmp_path, run)
    w.set_precision("fp32")
    w.set_strategy("adapter")
    w.set_precision("int4")
    assert w.draft.strategy == "merged"
    assert any("merged" in n for n in w.notes)


def test_directml_hides_adapters_with_the_reason(tmp_path: Path, run: Path) -> None:
    w = from_run(tmp_path, run)
    w.set_target("dml")
    assert [c.value for c in w.choices(Page.PRECISION) if c.available] == ["int4", "fp16"]
    w.set_precision("fp16")
    adapter = w.choices(Page.STRATEGY)[1]
    assert not adapter.available and "DirectML does not support" in adapter.reason
    w2 = from_run(tmp_path, run)
    w2.set_precision("fp16")
    w2.set_target("cuda")
    w2.set_strategy("adapter")
    w2.set_target("dml")  # now impossible: reset, with a note
    assert w2.draft.strategy == "merged" and w2.notes


def test_a_target_resets_a_precision_it_cannot_build(tmp_path: Path, base: Path) -> None:
    w = wizard(tmp_path)
    w.set_source(SourceSpec(kind="hf_dir", path=str(base)))
    w.set_precision("int8")
    w.set_target("dml")
    assert w.draft.precision == "int4" and "INT8" in w.notes[-1]
    cpu = {c.value: c for c in precision_on(w, "cpu")}
    assert not cpu["bf16"].available and "BF16" in cpu["bf16"].reason
    assert cpu["fp16"].available and "slowly" in cpu["fp16"].note
    assert all(c.available for c in precision_on(w, "cuda"))


def precision_on(w: ExportWizard, target: Target) -> list:  # type: ignore[type-arg]
    w.set_target(target)
    return w.choices(Page.PRECISION)


def test_gpu_quantizers_appear_only_with_a_gpu(tmp_path: Path, base: Path) -> None:
    cpu_only = wizard(tmp_path)
    assert [c.value for c in cpu_only.int4_algos()] == ["rtn", "k_quant", "k_quant_mixed"]
    with pytest.raises(ValueError):
        cpu_only.set_int4(algo="gptq")
    gpu = wizard(tmp_path, gpu=True)
    algos = {c.value: c for c in gpu.int4_algos()}
    assert algos["gptq"].available
    assert not algos["awq"].available and "autoawq" in algos["awq"].reason
    assert {c.value: c for c in wizard(tmp_path, gpu=True, awq=True).int4_algos()}[
        "awq"].available
    gpu.set_source(SourceSpec(kind="hf_dir", path=str(base)))
    gpu.set_target("dml")
    assert not {c.value: c for c in gpu.int4_algos()}["gptq"].available


def test_gptq_needs_a_calibration_dataset_before_next(tmp_path: Path, base: Path) -> None:
    w = wizard(tmp_path, gpu=True)
    w.set_source(SourceSpec(kind="hf_dir", path=str(base)))
    to_page(w, Page.PRECISION)
    w.set_int4(algo="gptq")
    assert not w.can_next() and w.page_findings().codes() == {"no_calibration"}
    w.set_int4(calibration_dataset="my-data")
    assert w.can_next()
    w.set_target("dml")  # GPTQ is impossible there: back to k_quant_mixed
    assert w.draft.int4.algo == "k_quant_mixed"


def test_a_non_empty_output_folder_asks_and_offers_a_free_name(tmp_path: Path,
                                                               base: Path) -> None:
    w = wizard(tmp_path)
    w.set_source(SourceSpec(kind="hf_dir", path=str(base)))
    to_page(w, Page.OUTPUT)
    taken = Path(w.draft.output_dir)
    taken.mkdir(parents=True)
    (taken / "model.onnx").write_text("x")
    findings = w.page_findings()
    assert [f.code for f in findings.blocking] == ["output_not_empty"]
    assert findings.blocking[0].level == "ask"
    assert findings.blocking[0].suggestion == str(taken.with_name(taken.name + "-2"))
    assert not w.can_next()
    assert w.use_suggested_output().endswith("-2")
    assert w.can_next()
    assert (taken / "model.onnx").read_text() == "x"  # never touched


def test_the_output_must_not_be_inside_the_source(tmp_path: Path, base: Path) -> None:
    w = wizard(tmp_path)
    w.set_source(SourceSpec(kind="hf_dir", path=str(base)))
    w.set_output(base / "onnx")
    assert "output_inside_source" in w.page_findings(Page.OUTPUT).codes()


def test_names_follow_the_choices_until_the_user_sets_one(tmp_path: Path, run: Path) -> None:
    w = from_run(tmp_path, run)
    assert w.draft.name == "run1-int4-k_quant_mixed-cpu"
    w.set_precision("fp32")
    w.set_strategy("adapter")
    assert w.draft.name == "run1-fp32-cpu-adapter"
    assert w.draft.output_dir == str(tmp_path / "exports" / "run1-fp32-cpu-adapter")
    w.set_name("My export")
    w.set_precision("fp16")
    assert w.draft.name == "My export"
    assert w.draft.output_dir.endswith("My-export")
    w.set_name("bad/name")
    assert "bad_name" in w.page_findings(Page.OUTPUT).codes()


def test_finish_gives_the_plan_on_the_summary_and_refuses_what_cannot_run(
        tmp_path: Path, run: Path) -> None:
    w = from_run(tmp_path, run)
    with pytest.raises(RuntimeError):
        w.finish()
    to_page(w, Page.SUMMARY)
    plan = w.finish()
    assert (plan.precision, plan.strategy, plan.int4.algo) == ("int4", "merged", "k_quant_mixed")
    text = "\n".join(w.summary())
    assert "merge -> build -> reference -> verify" in text
    assert "Estimated size: about" in text
    no_runtime = from_run(tmp_path, run, runtime=False)
    to_page(no_runtime, Page.SUMMARY)
    assert not no_runtime.can_finish()
    with pytest.raises(ExportRefused, match="No training runtime"):
        no_runtime.finish()


def test_rtn_and_verification_off_are_warnings_on_the_summary(tmp_path: Path, base: Path) -> None:
    w = wizard(tmp_path)
    w.set_source(SourceSpec(kind="hf_dir", path=str(base)))
    w.set_int4(algo="rtn", block_size=128)
    w.set_verify(enabled=False)
    to_page(w, Page.SUMMARY)
    codes = {f.code for f in w.page_findings().warnings}
    assert {"int4_rtn", "block_size", "no_verify"} <= codes
    assert w.can_finish()
    assert any(line.startswith("Warning: Round-to-nearest") for line in w.summary())
