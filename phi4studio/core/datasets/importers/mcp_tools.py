"""Tools from a live MCP server: start it over stdio with the official `mcp` SDK, list its tools.

    result = await list_server_tools("npx", ["-y", "@modelcontextprotocol/server-filesystem", "."])
    save_tool_catalog(path, result.tools, server=result.server)

Runs as a coroutine job. The server process is stopped when listing ends, fails or is cancelled
(the SDK's stdio client owns the process). Whatever the server wrote to stderr is kept for the
error message when it fails to start or answer.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.importers.common import RecordError, tool_from_function

MAX_PAGES = 100


@dataclass
class ServerTools:
    tools: list[dict[str, Any]]
    server_name: str = ""
    server_version: str = ""
    command: str = ""
    args: list[str] = field(default_factory=list)

    @property
    def server(self) -> dict[str, Any]:
        """Where the tools came from, as saved in a catalog file."""
        return {
            "name": self.server_name, "version": self.server_version,
            "command": self.command, "args": list(self.args), "transport": "stdio",
        }


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, which anyio task groups raise."""
    while True:
        inner = getattr(exc, "exceptions", None)
        if not inner:
            return exc
        exc = inner[0]


def _stderr_tail(fh: Any, limit: int = 2000) -> str:
    try:
        fh.flush()
        fh.seek(0)
        text = str(fh.read())
    except (OSError, ValueError):
        return ""
    return text[-limit:].strip()


async def list_server_tools(
    command: str,
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> ServerTools:
    """Start the server, initialize, page through tools/list, stop the server."""
    try:
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client
        from mcp_types import PaginatedRequestParams
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DatasetError(
            "Listing MCP server tools needs the `mcp` package, which is not installed.",
            hint="Install it into the app's environment: pip install mcp",
        ) from exc

    params = StdioServerParameters(
        command=command, args=list(args), env=dict(env) if env else None, cwd=cwd
    )
    shown = " ".join([command, *args])
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:

        async def run() -> ServerTools:
            raw: list[dict[str, Any]] = []
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                init = await session.initialize()
                cursor: str | None = None
                for _ in range(MAX_PAGES):
                    page = await session.list_tools(
                        params=PaginatedRequestParams(cursor=cursor) if cursor else None
                    )
                    raw += [
                        t.model_dump(by_alias=True, exclude_none=True, mode="json")
                        for t in page.tools
                    ]
                    cursor = page.next_cursor
                    if not cursor:
                        break
            tools = []
            for i, t in enumerate(raw):
                try:
                    tools.append(tool_from_function(t, f"tool {i + 1} ({t.get('name')!r})"))
                except RecordError as exc:
                    raise DatasetError(
                        f"The MCP server {shown!r} listed a bad tool: {exc}"
                    ) from exc
            info = init.server_info
            return ServerTools(
                tools, server_name=info.name, server_version=info.version or "",
                command=command, args=list(args),
            )

        try:
            return await asyncio.wait_for(run(), timeout)
        except DatasetError:
            raise
        except asyncio.TimeoutError as exc:
            tail = _stderr_tail(errlog)
            raise DatasetError(
                f"The MCP server {shown!r} did not list its tools within {timeout:g} s.",
                hint=f"Its stderr said: {tail}" if tail else "Check the command and arguments.",
            ) from exc
        except asyncio.CancelledError:
            raise
        except (OSError, ValueError) as exc:
            raise DatasetError(
                f"Cannot start the MCP server {shown!r}: {exc}",
                hint="Check that the command exists and is executable.",
            ) from exc
        except Exception as exc:  # any protocol failure, reported with the server's stderr
            tail = _stderr_tail(errlog)
            leaf = _leaf(exc)
            if isinstance(leaf, OSError) and not tail:
                raise DatasetError(
                    f"Cannot start the MCP server {shown!r}: {leaf}",
                    hint="Check that the command exists and is executable.",
                ) from exc
            reason = str(leaf) or type(leaf).__name__
            raise DatasetError(
                f"The MCP server {shown!r} failed while listing tools: {reason}",
                hint=f"Its stderr said: {tail}" if tail else None,
            ) from exc
