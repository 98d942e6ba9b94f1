"""Logging to a rotating file in the platform log folder (Help > Open log folder shows it)."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_FILE = "phi4studio.log"


def setup_logging(log_dir: Path, level: int = logging.INFO) -> Path | None:
    """Log to `log_dir/phi4studio.log` (5 x 2 MB). Returns the file, or None if unwritable."""
    root = logging.getLogger()
    root.setLevel(level)
    path = log_dir / LOG_FILE
    for h in root.handlers:
        if isinstance(h, logging.handlers.RotatingFileHandler) and Path(h.baseFilename) == path:
            return path
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=2 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
    except OSError:
        logging.basicConfig(level=level)
        logging.getLogger(__name__).warning("cannot write logs to %s; logging to stderr", log_dir)
        return None
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    return path
