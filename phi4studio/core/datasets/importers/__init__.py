"""Importers: OpenAI chat, nested conversations, ShareGPT/Hermes, Glaive v2, xLAM, BFCL, Claude
session transcripts and canonical JSONL (from JSONL/JSON/parquet/save_to_disk folders), plus tool
catalogs from a live MCP server (`mcp_tools`)."""

from phi4studio.core.datasets.importers.common import ImportIssue, ImportReport, RecordError
from phi4studio.core.datasets.importers.formats import FORMATS, Format, detect_format
from phi4studio.core.datasets.importers.pipeline import (
    ImportOptions,
    ImportPreview,
    import_file,
    iter_parsed,
    preview_import,
    scan_import,
)

__all__ = [
    "FORMATS",
    "Format",
    "ImportIssue",
    "ImportOptions",
    "ImportPreview",
    "ImportReport",
    "RecordError",
    "detect_format",
    "import_file",
    "iter_parsed",
    "preview_import",
    "scan_import",
]
