"""A real MCP server over stdio (the official SDK's MCPServer) for the Playground's MCP tests.

    python notes_server.py [--crash-on-start] [--only NAME,NAME]

Tools, one per approval case and failure mode:
- get_forecast   readOnlyHint: may be always-allowed
- list_notes     readOnlyHint
- add_note       no annotations: asks every time (writes NOTES_FILE when set, proving it ran)
- delete_note    destructiveHint: always asks
- broken_tool    raises: the result comes back with isError
- slow_tool      sleeps: timeouts and cancel
- crash_server   the server process dies mid-call
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

app = MCPServer("notes-test")
NOTES = os.environ.get("NOTES_FILE")


def _load() -> list[str]:
    if NOTES and os.path.exists(NOTES):
        with open(NOTES, encoding="utf-8") as fh:
            return list(json.load(fh))
    return []


def _save(notes: list[str]) -> None:
    if NOTES:
        with open(NOTES, "w", encoding="utf-8") as fh:
            json.dump(notes, fh)


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


@app.tool(annotations=ToolAnnotations(readOnlyHint=True))
def list_notes() -> list[str]:
    """List the user's notes."""
    return _load()


@app.tool()
def add_note(text: str) -> str:
    """Add a note."""
    notes = _load()
    notes.append(text)
    _save(notes)
    return f"added note {len(notes)}"


@app.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True))
def delete_note(index: int) -> str:
    """Delete a note by its position (1 is the first)."""
    notes = _load()
    if not 1 <= index <= len(notes):
        raise ToolError(f"there is no note {index}")
    notes.pop(index - 1)
    _save(notes)
    return f"deleted note {index}"


@app.tool(annotations=ToolAnnotations(readOnlyHint=True))
def broken_tool(reason: str = "boom") -> str:
    """Always fails."""
    raise ToolError(f"broken_tool failed: {reason}")


@app.tool(annotations=ToolAnnotations(readOnlyHint=True))
def slow_tool(seconds: float = 5.0) -> str:
    """Sleeps, then answers."""
    time.sleep(seconds)
    return "slept"


@app.tool(annotations=ToolAnnotations(readOnlyHint=True))
def crash_server() -> str:
    """The server dies while answering."""
    print("notes-test: crashing on purpose", file=sys.stderr, flush=True)
    os._exit(7)


if __name__ == "__main__":
    if "--only" in sys.argv:  # serve only these tools
        keep = set(sys.argv[sys.argv.index("--only") + 1].split(","))
        for tool in app._tool_manager.list_tools():
            if tool.name not in keep:
                app.remove_tool(tool.name)
    if "--crash-on-start" in sys.argv:
        print("notes-test: cannot open /nonexistent/notes.db", file=sys.stderr)
        sys.exit(3)
    app.run()
