"""Tool-calling datasets, Qt-free: the canonical example and everything done with it.

    schema       Example / Message / ToolCall / ToolDef (pydantic), plain-dict helpers, JSON Schema
    store        DatasetStore: one SQLite file per dataset (WAL, FTS5, undo/redo, paging)
    query        ExampleFilter, ExampleRow (what a table shows), SQL for filters
    versions     named versions with added/changed/removed counts, restore
    importers    OpenAI, conversations, ShareGPT/Hermes, Glaive, xLAM, BFCL, Claude transcripts,
                 canonical; JSONL/JSON/parquet/save_to_disk; MCP server tool lists (mcp_tools)
    exporters    canonical, OpenAI, ShareGPT/Hermes, TRL JSONL
    catalog      tool catalog files (load/save)
    validation   per-example issues with JSON paths; whole-store validation in batches
    coverage     scenario inference, scenario mix vs target, per-tool/param/enum stats, gaps
    split        seeded, stratified, leak-free train/validation/test splits
    synthesis    template-based examples from tool specs (no model)
    samples      the shipped sample catalog and dataset
    bench        the 100k-example benchmark (benchmarks/bench_datasets.py)

Modules are imported where used (nothing heavy is imported by this package itself).
"""
