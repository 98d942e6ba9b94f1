"""Workspace folder and its SQLite catalog."""

from phi4studio.core.workspace.catalog import SCHEMA_VERSION, Catalog
from phi4studio.core.workspace.workspace import Workspace, check_writable, open_workspace

__all__ = ["SCHEMA_VERSION", "Catalog", "Workspace", "check_writable", "open_workspace"]
