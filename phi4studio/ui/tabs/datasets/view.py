"""Datasets tab."""

from __future__ import annotations

from phi4studio.ui.tabs.placeholder import PlaceholderView


class DatasetsView(PlaceholderView):
    title = "Datasets"
    summary = (
        "Import tool-calling conversations (OpenAI, ShareGPT/Hermes, Glaive, xLAM, BFCL, Claude "
        "Agent SDK transcripts, a live MCP server's tools), edit them, validate every call against "
        "its JSON Schema, see scenario coverage, synthesize examples and split them."
    )
