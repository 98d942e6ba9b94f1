"""Export tab."""

from __future__ import annotations

from phi4studio.ui.tabs.placeholder import PlaceholderView


class ExportView(PlaceholderView):
    title = "Export"
    summary = (
        "Merge, convert and quantize to ONNX Runtime GenAI (INT4/INT8/FP16/FP32) for CPU, CUDA "
        "and DirectML, with ONNX LoRA adapters and a verification step."
    )
