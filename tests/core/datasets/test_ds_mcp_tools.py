"""Tool catalogs from a REAL stdio MCP server (mcp_demo_server.py, the official SDK)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from phi4studio.core.datasets.catalog import load_tool_catalog, save_tool_catalog
from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.importers.mcp_tools import list_server_tools
from phi4studio.core.datasets.validation import check_tool_schema, validate_arguments

SERVER = str(Path(__file__).with_name("mcp_demo_server.py"))


async def test_lists_a_real_servers_tools_and_saves_a_catalog(tmp_path: Path) -> None:
    result = await list_server_tools(sys.executable, [SERVER], timeout=60)
    assert result.server_name == "demo-notes"
    by_name = {t["name"]: t for t in result.tools}
    assert list(by_name) == ["get_forecast", "delete_note", "search_notes"]
    fc = by_name["get_forecast"]
    assert fc["description"] == "Get the weather forecast for a city."
    props = fc["inputSchema"]["properties"]
    assert fc["inputSchema"]["required"] == ["city"]
    assert props["days"]["minimum"] == 1 and props["days"]["maximum"] == 7
    assert props["units"]["enum"] == ["metric", "imperial"]
    assert fc["annotations"] == {"readOnlyHint": True, "openWorldHint": True}
    assert fc["outputSchema"]["required"] == ["city", "temp_c", "conditions"]
    assert by_name["delete_note"]["annotations"]["destructiveHint"] is True
    for t in result.tools:
        assert check_tool_schema(t["inputSchema"]) is None
    assert validate_arguments(fc, {"city": "Lisbon", "days": 3}) == []
    assert [i.path for i in validate_arguments(fc, {"days": 9})] == ["$.city", "$.days"]

    path = tmp_path / "catalogs" / "demo.json"
    save_tool_catalog(path, result.tools, server=result.server, name="Demo notes")
    doc = json.loads(path.read_text())
    assert doc["server"]["command"] == sys.executable and doc["server"]["args"] == [SERVER]
    assert load_tool_catalog(path) == result.tools


async def test_a_server_that_dies_is_reported_with_its_stderr() -> None:
    with pytest.raises(DatasetError) as exc:
        await list_server_tools(sys.executable, [SERVER, "--crash"], timeout=60)
    assert "cannot open notes database" in (exc.value.hint or "")


async def test_a_missing_command_is_reported() -> None:
    with pytest.raises(DatasetError, match="Cannot start the MCP server"):
        await list_server_tools("/nonexistent/mcp-server-xyz", timeout=30)
