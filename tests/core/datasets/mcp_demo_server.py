"""A small real MCP server over stdio (the official SDK's MCPServer), for the tool-list import.

    python mcp_demo_server.py            serve three tools
    python mcp_demo_server.py --crash    write a reason to stderr and exit before answering
"""

from __future__ import annotations

import sys
from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

app = MCPServer("demo-notes")


class Forecast(BaseModel):
    city: str
    temp_c: float
    conditions: str


@app.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=True))
def get_forecast(
    city: str = Field(description="City name, e.g. Lisbon"),
    days: int = Field(default=1, ge=1, le=7, description="Days ahead"),
    units: Literal["metric", "imperial"] = "metric",
) -> Forecast:
    """Get the weather forecast for a city."""
    return Forecast(city=city, temp_c=21.5, conditions="sunny")


@app.tool(annotations=ToolAnnotations(destructiveHint=True, readOnlyHint=False))
def delete_note(note_id: str) -> str:
    """Delete a note by its id."""
    return f"deleted {note_id}"


@app.tool()
def search_notes(query: str, tags: list[str] | None = None, limit: int = 10) -> list[str]:
    """Full-text search over the user's notes."""
    return []


if __name__ == "__main__":
    if "--crash" in sys.argv:
        print("demo-notes: cannot open notes database /nonexistent/notes.db", file=sys.stderr)
        sys.exit(3)
    app.run()
