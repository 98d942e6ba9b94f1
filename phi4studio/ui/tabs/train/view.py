"""Train tab."""

from __future__ import annotations

from phi4studio.ui.tabs.placeholder import PlaceholderView


class TrainView(PlaceholderView):
    title = "Train"
    summary = (
        "LoRA / QLoRA fine-tuning with PEFT and TRL as a subprocess: presets, memory estimate, "
        "live loss chart, cancel and resume."
    )
