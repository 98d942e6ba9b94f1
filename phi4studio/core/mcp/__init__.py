"""MCP: configured servers, live client sessions over stdio (the official `mcp` SDK), the tool
catalog of a chat, and the approval policy for running tool calls. No Qt; the SDK is imported
only when a server starts."""

from phi4studio.core.mcp.approval import (
    Action,
    Approval,
    ApprovalError,
    ApprovalPolicy,
    can_always_allow,
    is_destructive,
    is_read_only,
    risk_label,
)
from phi4studio.core.mcp.catalog import (
    CatalogEntry,
    ToolCatalog,
    ToolSource,
    source_from_dataset,
    source_from_file,
    source_from_session,
)
from phi4studio.core.mcp.config import (
    McpConfigError,
    McpServerConfig,
    McpServerStore,
)
from phi4studio.core.mcp.hub import McpHub
from phi4studio.core.mcp.session import McpServerError, McpSession, ServerState, ToolOutcome

__all__ = [
    "Action",
    "Approval",
    "ApprovalError",
    "ApprovalPolicy",
    "CatalogEntry",
    "McpConfigError",
    "McpHub",
    "McpServerConfig",
    "McpServerError",
    "McpServerStore",
    "McpSession",
    "ServerState",
    "ToolCatalog",
    "ToolOutcome",
    "ToolSource",
    "can_always_allow",
    "is_destructive",
    "is_read_only",
    "risk_label",
    "source_from_dataset",
    "source_from_file",
    "source_from_session",
]
