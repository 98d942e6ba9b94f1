"""MCP server configurations: the mcp_servers.json file, edits, damaged and newer files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phi4studio.core.mcp import McpConfigError, McpServerConfig, McpServerStore
from phi4studio.core.mcp.catalog import ToolCatalog, ToolSource, source_from_file
from phi4studio.core.mcp.config import parse_servers
from phi4studio.core.paths import resource


def test_servers_round_trip_in_the_common_mcpservers_shape(tmp_path: Path) -> None:
    store = McpServerStore.in_config_dir(tmp_path)
    assert store.servers == [] and store.message is None
    store.put(McpServerConfig("notes", "uvx", ["mcp-server-notes", "--dir", "a b"],
                              env={"TOKEN": "x"}, timeout_s=30))
    store.put(McpServerConfig.from_command_line("fs", 'npx -y "@scope/fs server" .'))
    doc = json.loads((tmp_path / "mcp_servers.json").read_text())
    assert doc["mcpServers"]["notes"] == {"command": "uvx", "args": ["mcp-server-notes", "--dir",
                                                                      "a b"],
                                         "env": {"TOKEN": "x"}, "timeout_s": 30}
    assert doc["mcpServers"]["fs"]["args"] == ["-y", "@scope/fs server", "."]
    again = McpServerStore.in_config_dir(tmp_path)
    assert again.servers == store.servers
    assert again.get("fs").command_line == "npx -y '@scope/fs server' ."  # type: ignore[union-attr]
    # edit with a rename, refuse a taken name, remove
    edited = McpServerConfig("notes2", "uvx", ["mcp-server-notes"])
    again.put(edited, replace="notes")
    assert [s.name for s in again.servers] == ["notes2", "fs"]
    with pytest.raises(McpConfigError, match="already exists"):
        again.put(McpServerConfig("fs", "x"), replace="notes2")
    with pytest.raises(McpConfigError, match="already exists"):
        again.put(McpServerConfig("fs", "x"))
    assert again.remove("fs") and not again.remove("fs")
    assert [s.name for s in McpServerStore.in_config_dir(tmp_path).servers] == ["notes2"]


def test_claude_desktop_blocks_and_unknown_keys_are_kept(tmp_path: Path) -> None:
    raw = {"mcpServers": {"time": {"command": "uvx", "args": ["mcp-server-time"],
                                   "autoApprove": ["get_time"]}}}
    (tmp_path / "mcp_servers.json").write_text(json.dumps(raw))
    store = McpServerStore.in_config_dir(tmp_path)
    assert store.servers[0].extra == {"autoApprove": ["get_time"]}
    store.save()
    saved = json.loads((tmp_path / "mcp_servers.json").read_text())["mcpServers"]["time"]
    assert saved["autoApprove"] == ["get_time"]  # kept, never acted upon


@pytest.mark.parametrize(("entry", "message"), [
    ({"url": "http://x"}, "no 'command'"),
    ({"command": "x", "args": "a b"}, "'args'"),
    ({"command": "x", "env": ["A=1"]}, "'env'"),
    ({"command": "x", "timeout_s": 0}, "timeout"),
    ({"command": " "}, "needs a command"),
])
def test_bad_entries_name_the_field(entry: dict[str, object], message: str) -> None:
    with pytest.raises(McpConfigError, match=message):
        parse_servers({"mcpServers": {"s": entry}})


def test_a_damaged_file_is_moved_aside_and_a_newer_one_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "mcp_servers.json"
    path.write_text("{not json")
    store = McpServerStore.in_config_dir(tmp_path)
    assert store.servers == [] and "could not be read" in (store.message or "")
    assert not path.exists() and len(list(tmp_path.glob("mcp_servers.corrupt-*.json"))) == 1
    path.write_text(json.dumps({"schema_version": 99, "mcpServers": {}}))
    newer = McpServerStore.in_config_dir(tmp_path)
    assert newer.read_only and "newer" in (newer.message or "")
    with pytest.raises(McpConfigError, match="newer"):
        newer.put(McpServerConfig("a", "b"))
    assert json.loads(path.read_text())["schema_version"] == 99


def test_catalog_merges_sources_first_name_wins_and_tools_can_be_switched_off(
    tmp_path: Path,
) -> None:
    sample = source_from_file(resource("samples", "tools.json"))
    assert sample.error is None and len(sample.tools) >= 5
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    broken = source_from_file(bad)
    assert broken.tools == [] and "not valid JSON" in (broken.error or "")
    live = ToolSource("mcp", "weather", [{"name": "get_weather", "description": "live",
                                          "inputSchema": {"type": "object"}},
                                         {"name": "get_time", "description": "t",
                                          "inputSchema": {"type": "object"}}])
    cat = ToolCatalog()
    changes: list[int] = []
    cat.add_listener(lambda: changes.append(1))
    cat.add(live)
    cat.add(sample)
    cat.add(broken)
    names = [t["name"] for t in cat.tools()]
    assert names[:2] == ["get_weather", "get_time"] and len(names) == len(set(names))
    assert cat.tool("get_weather")["description"] == "live"  # type: ignore[index]
    assert cat.server_of("get_weather") == "weather" and cat.server_of("search_web") is None
    assert cat.conflicts() == ["get_weather"]
    cat.set_tool_enabled("get_time", False)
    assert "get_time" not in [t["name"] for t in cat.tools()]
    assert cat.server_of("get_time") == "weather"  # still known (a call to it can run)
    cat.set_enabled(live.key, False)
    assert cat.tool("get_weather")["description"] != "live"  # type: ignore[index]
    cat.add(ToolSource("mcp", "weather", []))  # re-listed: replaces in place, stays disabled
    assert cat.get(live.key).enabled is False  # type: ignore[union-attr]
    assert cat.remove(live.key) and not cat.remove(live.key)
    assert len(changes) == 7
    tools = cat.tools()
    tools[0]["name"] = "changed"
    assert cat.tools()[0]["name"] != "changed"  # copies
