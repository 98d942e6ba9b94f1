"""MCP server configurations: what the user set up to run (name, command, args, env, cwd).

Stored per user, not per workspace: a server is a program on this machine (often with a token in
its environment), not data of one project. The file is `mcp_servers.json` in the config folder
(beside settings.json), in the `mcpServers` shape that Claude Desktop and other MCP clients use,
so a user can paste an existing block:

    {"schema_version": 1,
     "mcpServers": {"notes": {"command": "uvx", "args": ["mcp-server-notes"],
                              "env": {"NOTES_DIR": "/home/me/notes"},
                              "cwd": null, "disabled": false, "timeout_s": 60}}}

Unknown keys of a server entry are kept as they are. A file that cannot be read is moved aside
as `mcp_servers.corrupt-<time>.json` (never deleted) and an empty list loads with a message.
Environment values are stored in plain text, as in every MCP client's config file.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phi4studio.core.errors import StudioError
from phi4studio.core.fileio import atomic_write_json

CONFIG_VERSION = 1
FILE_NAME = "mcp_servers.json"
DEFAULT_CALL_TIMEOUT_S = 60.0


class McpConfigError(StudioError):
    """A server configuration is invalid (names the field) or the file cannot be used."""


class NewerConfigError(McpConfigError):
    """The file was written by a newer Phi-4 Studio: read nothing, never save over it."""


@dataclass
class McpServerConfig:
    name: str
    command: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    disabled: bool = False
    timeout_s: float = DEFAULT_CALL_TIMEOUT_S  # per tool call
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept on save

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not self.name.strip():
            raise McpConfigError("An MCP server needs a name.")
        if not self.command.strip():
            raise McpConfigError(f"The MCP server {self.name!r} needs a command to run.")
        if not all(isinstance(a, str) for a in self.args):
            raise McpConfigError(f"The arguments of {self.name!r} must be strings.")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.env.items()):
            raise McpConfigError(f"The environment of {self.name!r} must map names to strings.")
        if not self.timeout_s > 0:
            raise McpConfigError(f"The call timeout of {self.name!r} must be > 0 seconds.")

    @property
    def command_line(self) -> str:
        """The command as one line (for display and the CLI's --mcp)."""
        return shlex.join([self.command, *self.args])

    @classmethod
    def from_command_line(cls, name: str, line: str, **kw: Any) -> McpServerConfig:
        """`"npx -y @scope/server ."` -> command and args (POSIX shell quoting)."""
        try:
            parts = shlex.split(line)
        except ValueError as exc:
            raise McpConfigError(f"Cannot read the command line {line!r}: {exc}") from exc
        if not parts:
            raise McpConfigError("The command line is empty.")
        return cls(name=name, command=parts[0], args=parts[1:], **kw)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {**self.extra, "command": self.command, "args": list(self.args)}
        if self.env:
            d["env"] = dict(self.env)
        if self.cwd:
            d["cwd"] = self.cwd
        if self.disabled:
            d["disabled"] = True
        if self.timeout_s != DEFAULT_CALL_TIMEOUT_S:
            d["timeout_s"] = self.timeout_s
        return d

    @classmethod
    def from_json(cls, name: str, d: Any) -> McpServerConfig:
        if not isinstance(d, Mapping):
            raise McpConfigError(f"The entry of {name!r} is not an object.")
        known = {"command", "args", "env", "cwd", "disabled", "timeout_s"}
        args = d.get("args") or []
        env = d.get("env") or {}
        if not isinstance(args, list):
            raise McpConfigError(f"'args' of {name!r} must be a list of strings.")
        if not isinstance(env, Mapping):
            raise McpConfigError(f"'env' of {name!r} must be an object.")
        command = d.get("command")
        if not isinstance(command, str):
            raise McpConfigError(f"{name!r} has no 'command' (only stdio servers are supported).")
        timeout = d.get("timeout_s", DEFAULT_CALL_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise McpConfigError(f"'timeout_s' of {name!r} must be a number.")
        cwd = d.get("cwd")
        return cls(
            name=name, command=command, args=[str(a) for a in args],
            env={str(k): str(v) for k, v in env.items()},
            cwd=str(cwd) if cwd else None, disabled=bool(d.get("disabled", False)),
            timeout_s=float(timeout), extra={k: v for k, v in d.items() if k not in known},
        )


@dataclass
class LoadedServers:
    servers: list[McpServerConfig]
    message: str | None = None  # something the user must be told (file moved aside, ...)


class McpServerStore:
    """The list of configured servers, in `mcp_servers.json` (written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.servers: list[McpServerConfig] = []
        self.message: str | None = None
        self.read_only = False

    @classmethod
    def in_config_dir(cls, config_dir: Path) -> McpServerStore:
        store = cls(Path(config_dir) / FILE_NAME)
        store.load()
        return store

    def load(self) -> LoadedServers:
        self.message = None
        self.read_only = False
        if not self.path.exists():
            self.servers = []
            return LoadedServers([])
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.servers = parse_servers(raw)
        except NewerConfigError as exc:
            self.servers = []
            self.read_only = True
            self.message = (f"The MCP server list {self.path} is from a newer Phi-4 Studio "
                            f"({exc}); it is left untouched and no servers are configured.")
        except (OSError, ValueError, McpConfigError) as exc:
            reason = str(exc).splitlines()[0]
            aside = self._move_aside()
            self.servers = []
            kept = f"It was kept as {aside.name}" if aside else "It was left as it is"
            self.message = (f"The MCP server list {self.path} could not be read ({reason}). "
                            f"{kept}; no servers are configured.")
        return LoadedServers(list(self.servers), self.message)

    def save(self) -> None:
        if self.read_only:
            raise McpConfigError(f"{self.path} is from a newer Phi-4 Studio: not saved over.")
        doc = {"schema_version": CONFIG_VERSION,
               "mcpServers": {s.name: s.to_json() for s in self.servers}}
        atomic_write_json(self.path, doc)

    def get(self, name: str) -> McpServerConfig | None:
        return next((s for s in self.servers if s.name == name), None)

    def put(self, server: McpServerConfig, *, replace: str | None = None) -> None:
        """Add a server (its name must be free), or replace the one named `replace` (an edit,
        which may rename it to a free name)."""
        server.validate()
        taken = self.get(server.name)
        if taken is not None and server.name != replace:
            raise McpConfigError(f"An MCP server named {server.name!r} already exists.")
        if replace is None:
            self.servers.append(server)
        else:
            i = next((i for i, s in enumerate(self.servers) if s.name == replace), None)
            if i is None:
                raise McpConfigError(f"No MCP server named {replace!r} to edit.")
            self.servers[i] = server
        self.save()

    def remove(self, name: str) -> bool:
        before = len(self.servers)
        self.servers = [s for s in self.servers if s.name != name]
        if len(self.servers) != before:
            self.save()
            return True
        return False

    def _move_aside(self) -> Path | None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.stem}.corrupt-{stamp}{self.path.suffix}")
        try:
            self.path.replace(aside)
        except OSError:
            return None
        return aside


def parse_servers(raw: Any) -> list[McpServerConfig]:
    """Servers from a file's JSON: `{"mcpServers": {...}}` (or `{"servers": {...}}`, VS Code)."""
    if not isinstance(raw, Mapping):
        raise McpConfigError("the file does not hold a JSON object")
    version = raw.get("schema_version", CONFIG_VERSION)
    if isinstance(version, int) and version > CONFIG_VERSION:
        raise NewerConfigError(f"version {version}; this one reads up to {CONFIG_VERSION}")
    block = raw.get("mcpServers", raw.get("servers", {}))
    if not isinstance(block, Mapping):
        raise McpConfigError("'mcpServers' must be an object of name -> server")
    return [McpServerConfig.from_json(str(name), d) for name, d in block.items()]


def unique_name(existing: Iterable[str], base: str) -> str:
    names = set(existing)
    if base not in names:
        return base
    n = 2
    while f"{base}-{n}" in names:
        n += 1
    return f"{base}-{n}"
