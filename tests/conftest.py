"""Shared fixtures: real tiny models (built locally, cached between runs) and measured figures.

Models are cached under PHI4STUDIO_TEST_MODELS, else pytest's cache folder
(.pytest_cache/d/phi4studio-models), keyed by a hash of what they are built from: the first run
builds them (about 15 s for the tiny Phi3), later runs reuse them.

`figures` records measurements (build times, start-up, tokens/s); they are printed at the end of
the run, never asserted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures import tiny_models

_FIGURES = pytest.StashKey[list[tuple[str, str]]]()

Figures = Callable[[str, object], None]


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_FIGURES] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    figures = terminalreporter.config.stash.get(_FIGURES, [])
    if not figures:
        return
    grouped: dict[str, list[str]] = {}
    for name, value in figures:
        grouped.setdefault(name, []).append(value)
    terminalreporter.section("measured figures")
    width = max(len(name) for name in grouped) + 2
    for name, values in grouped.items():
        text = values[0]
        if len(values) > 1:
            try:
                nums = sorted(float(v) for v in values)
                text = (f"median {nums[len(nums) // 2]:.4g} (min {nums[0]:.4g}, "
                        f"max {nums[-1]:.4g}, n={len(nums)})")
            except ValueError:
                text = ", ".join(values)
        terminalreporter.write_line(f"{name:<{width}} {text}")


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> Figures:
    """`figures(name, value)`: a measurement printed in the run's summary."""
    store = pytestconfig.stash[_FIGURES]

    def record(name: str, value: object) -> None:
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        store.append((name, text))
        print(f"[figure] {name}: {text}")

    return record


@pytest.fixture(scope="session")
def model_cache_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("PHI4STUDIO_TEST_MODELS")
    if env:
        return Path(env)
    if getattr(pytestconfig, "cache", None) is not None:
        return Path(pytestconfig.cache.mkdir("phi4studio-models"))
    return tmp_path_factory.getbasetemp().parent / "phi4studio-models"


def _timed(figures: Figures, name: str, build: Callable[[], Path]) -> Path:
    t0 = time.perf_counter()
    folder = build()
    built = tiny_models.build_seconds(folder)
    figures(f"{name}: fixture ready (s)", time.perf_counter() - t0)
    if built is not None:
        figures(f"{name}: build time when built (s)", built)
    return folder


@pytest.fixture(scope="session")
def tiny_phi3_hf_dir(model_cache_dir: Path, figures: Figures) -> Path:
    """A random Phi3ForCausalLM (hidden 128, 2 layers, head_dim 64) + SmolLM2 tokenizer, fp32."""
    return _timed(figures, "tiny Phi3 HF", lambda: tiny_models.tiny_phi3_hf_dir(model_cache_dir))


@pytest.fixture(scope="session")
def tiny_phi3_onnx_dir(model_cache_dir: Path, tiny_phi3_hf_dir: Path, figures: Figures) -> Path:
    """The tiny Phi3 built with the ORT GenAI model builder, fp32, cpu."""
    return _timed(figures, "tiny Phi3 ONNX fp32",
                  lambda: tiny_models.build_onnx(model_cache_dir, tiny_phi3_hf_dir, "fp32"))


@pytest.fixture(scope="session")
def tiny_phi3_onnx_factory(
    model_cache_dir: Path, tiny_phi3_hf_dir: Path, figures: Figures
) -> Callable[[str], Path]:
    """`factory("int8")`: the tiny Phi3 at another precision (fp32, fp16, int8, int4)."""

    def build(precision: str) -> Path:
        return _timed(figures, f"tiny Phi3 ONNX {precision}",
                      lambda: tiny_models.build_onnx(model_cache_dir, tiny_phi3_hf_dir, precision))

    return build


@pytest.fixture(scope="session")
def smollm2_hf_dir(model_cache_dir: Path, figures: Figures) -> Path:
    """SmolLM2-135M-Instruct de-quantized from its GGUF into an HF folder (for slow tests)."""
    return _timed(figures, "SmolLM2 HF", lambda: tiny_models.smollm2_hf_dir(model_cache_dir))


@pytest.fixture(scope="session")
def smollm2_onnx_dir(model_cache_dir: Path, smollm2_hf_dir: Path, figures: Figures) -> Path:
    """SmolLM2-135M-Instruct built with the ORT GenAI model builder, int8, cpu (slow tests)."""
    return _timed(figures, "SmolLM2 ONNX int8",
                  lambda: tiny_models.build_onnx(model_cache_dir, smollm2_hf_dir, "int8"))


@pytest.fixture(scope="session")
def tiny_phi3_lora_dir(model_cache_dir: Path, tiny_phi3_hf_dir: Path, figures: Figures) -> Path:
    """A random LoRA on the tiny Phi3: `peft/` (PEFT adapter) and `merged/` (HF, merged)."""
    return _timed(figures, "tiny Phi3 LoRA (PEFT + merged)",
                  lambda: tiny_models.tiny_phi3_lora(model_cache_dir, tiny_phi3_hf_dir))


@pytest.fixture(scope="session")
def tiny_phi3_adapter_onnx_dir(
    model_cache_dir: Path, tiny_phi3_hf_dir: Path, tiny_phi3_lora_dir: Path, figures: Figures
) -> Path:
    """The tiny Phi3 (fp32) with LoRA inputs, and `adapters/ft.onnx_adapter` (the LoRA) and
    `adapters/neg.onnx_adapter` (another one), built with the model builder + Olive."""
    return _timed(figures, "tiny Phi3 ONNX fp32 + adapters (builder + Olive)",
                  lambda: tiny_models.build_adapter_model(model_cache_dir, tiny_phi3_hf_dir,
                                                          tiny_phi3_lora_dir))
