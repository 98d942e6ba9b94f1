"""Playground tab."""

from __future__ import annotations

from phi4studio.ui.tabs.placeholder import PlaceholderView


class PlaygroundView(PlaceholderView):
    title = "Playground"
    summary = (
        "Chat with an exported model, see every tool call parsed and schema-checked, constrain "
        "calls with guided decoding, and run them on real MCP servers after your approval."
    )
