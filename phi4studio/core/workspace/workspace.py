"""A workspace: one folder holding the catalog and everything the user makes.

    <workspace>/catalog.sqlite   datasets/   runs/   exports/   evals/   logs/jobs/
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

from phi4studio.core.errors import WorkspaceError, path_error
from phi4studio.core.workspace.catalog import Catalog, damaged_catalog

SUBDIRS = ("datasets", "runs", "exports", "evals", "logs/jobs")
MIN_FREE_BYTES = 200 * 1024 * 1024


@dataclass
class Workspace:
    root: Path
    catalog: Catalog

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def evals_dir(self) -> Path:
        return self.root / "evals"

    @property
    def job_logs_dir(self) -> Path:
        return self.root / "logs" / "jobs"

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def close(self) -> None:
        self.catalog.close()


def check_writable(folder: Path) -> None:
    """Create the folder if needed and prove we can write there (names the path if not)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise path_error("create the workspace folder", folder, exc) from exc
    if not folder.is_dir():
        raise WorkspaceError(f"The workspace path {folder} exists but is not a folder.")
    probe = folder / f".write-test-{uuid.uuid4().hex[:8]}"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"x" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise path_error("write to the workspace folder", folder, exc) from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def open_workspace(root: Path) -> Workspace:
    """Open (creating if new) the workspace at `root`; refuses newer catalogs untouched."""
    root = root.expanduser().resolve()
    catalog_path = root / "catalog.sqlite"
    if catalog_path.exists():
        # Version check first: a newer catalog must be refused before we write anything.
        Catalog.check_file_version(catalog_path)
    check_writable(root)
    free = shutil.disk_usage(root).free
    if free < MIN_FREE_BYTES:
        raise WorkspaceError(
            f"The disk holding {root} has only {free // (1024 * 1024)} MiB free.",
            hint="Free some space or choose a workspace on another disk.",
        )
    for sub in SUBDIRS:
        try:
            (root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise path_error("create", root / sub, exc) from exc
    catalog = Catalog(catalog_path)
    try:
        catalog.mark_interrupted()
    except sqlite3.DatabaseError as exc:  # the header was fine, the jobs table is not
        catalog.close()
        raise damaged_catalog(catalog_path, exc) from exc
    return Workspace(root=root, catalog=catalog)
