"""Fine-tuning, Qt-free: config, presets, model inspection (no torch), target modules, memory
estimate, pre-flight, run folders, the launcher seam, the live run monitor and the service.

The training itself runs in `training/sft.py` (a subprocess under the training runtime); this
package never imports torch or transformers.
"""

from phi4studio.core.training.config import TrainingConfig, form_fields, script_config
from phi4studio.core.training.launch import LAUNCHERS, choose_launcher, merge_argv, sft_argv
from phi4studio.core.training.memory import (
    DeviceInfo,
    MemoryEstimate,
    detect_device,
    estimate_memory,
)
from phi4studio.core.training.models import ModelInfo, inspect_model, preset_models, smollm2_gguf
from phi4studio.core.training.modules import ResolvedTargets, TargetModuleError, resolve_targets
from phi4studio.core.training.monitor import RunMonitor
from phi4studio.core.training.prepare import PreflightReport, scan
from phi4studio.core.training.presets import PRESETS, apply_preset, matching_preset
from phi4studio.core.training.runs import RunPaths, RunRecord, list_runs, load_metrics
from phi4studio.core.training.service import TrainingPlan, TrainingService

__all__ = [
    "LAUNCHERS", "PRESETS", "DeviceInfo", "MemoryEstimate", "ModelInfo", "PreflightReport",
    "ResolvedTargets", "RunMonitor", "RunPaths", "RunRecord", "TargetModuleError",
    "TrainingConfig", "TrainingPlan", "TrainingService", "apply_preset", "choose_launcher",
    "detect_device", "estimate_memory", "form_fields", "inspect_model", "list_runs",
    "load_metrics", "matching_preset", "merge_argv", "preset_models", "resolve_targets", "scan",
    "script_config", "sft_argv", "smollm2_gguf",
]
