"""Export: ONNX Runtime GenAI conversion and quantization, with verification (no Qt).

    plan.py      ExportPlan and which choices go together (with the reason when not)
    source.py    what an export starts from: a run, a merged folder, an HF folder, a GGUF file
    checks.py    refusals, questions, warnings; size estimate; summary text
    wizard.py    the wizard's navigation: page -> next/accept/last, back stack
    commands.py  model builder and Olive command lines, the recipe file for the export script
    verify.py    prompts, PyTorch-vs-export token agreement through the inference worker
    job.py       ExportJob: the export script (training runtime), then verification
    service.py   ExportService: plan, submit, list, open in playground, delete
    bench.py     `phi4studio bench export`

See docs/export.md.
"""

from phi4studio.core.export.checks import estimate_size, human_bytes, summary_lines
from phi4studio.core.export.job import ExportJob
from phi4studio.core.export.plan import (
    Capabilities,
    Choice,
    ExportPlan,
    Finding,
    Findings,
    Int4Options,
    SourceSpec,
    VerifyOptions,
)
from phi4studio.core.export.service import ExportRecord, ExportService
from phi4studio.core.export.source import SourceInfo, inspect_source
from phi4studio.core.export.wizard import ExportRefused, ExportWizard, Page, WizardEnv

__all__ = [
    "Capabilities",
    "Choice",
    "ExportJob",
    "ExportPlan",
    "ExportRecord",
    "ExportRefused",
    "ExportService",
    "ExportWizard",
    "Finding",
    "Findings",
    "Int4Options",
    "Page",
    "SourceInfo",
    "SourceSpec",
    "VerifyOptions",
    "WizardEnv",
    "estimate_size",
    "human_bytes",
    "inspect_source",
    "summary_lines",
]
