"""The services a quick start chains: the dataset library, training, export and evaluation.

The app hands the tabs' own instances (so a run started by the quick start shows live in the
Train tab); the command line builds them from a Studio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from phi4studio.core.datasets.library import DatasetLibrary
    from phi4studio.core.evaluation.service import EvaluationService
    from phi4studio.core.export.service import ExportService
    from phi4studio.core.studio import Studio
    from phi4studio.core.training.service import TrainingService


@dataclass
class Services:
    studio: Studio
    training: TrainingService
    exports: ExportService
    evaluations: EvaluationService

    @property
    def library(self) -> DatasetLibrary:
        return self.studio.library

    @classmethod
    def for_studio(cls, studio: Studio, *, training: TrainingService | None = None,
                   exports: ExportService | None = None,
                   evaluations: EvaluationService | None = None,
                   benchmarks_root: Path | None = None) -> Services:
        from phi4studio.core.evaluation.service import EvaluationService
        from phi4studio.core.export.service import ExportService
        from phi4studio.core.training.service import TrainingService

        return cls(
            studio,
            training or TrainingService(studio),
            exports or ExportService(studio),
            evaluations or EvaluationService(
                lambda: studio.workspace, studio.queue, benchmarks_root=benchmarks_root,
                cancel_grace_s=lambda: studio.settings.cancel_grace_s),
        )
