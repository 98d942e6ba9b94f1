"""The server's request log: one record per API request (answered, refused or cancelled).

Records stay in memory (the last `maxlen`, for the Serve panel and `recent()`), go to
`on_record` (the serve worker turns them into `request` events), and are written to the
workspace catalog's `serve_requests` table in batches (`flush()`, about once a second), so a
slow disk never holds up a response. A catalog that cannot be written is reported once and the
records wait for the next flush.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATUS_CLIENT_CLOSED = 499  # the client went away before the answer was complete
MAX_PENDING = 10_000


@dataclass
class RequestRecord:
    api: str  # "openai" or "anthropic"
    client: str  # "host:port" and the user agent
    model: str  # the model id the client asked for
    adapter: str | None = None
    stream: bool = False
    status: int = 200
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None  # request received -> first token (queue wait included)
    latency_s: float | None = None  # request received -> answer complete
    queue_s: float | None = None
    tool_calls: list[str] = field(default_factory=list)  # names of the tools called
    error: str | None = None
    preview: str = ""  # the start of the last user message
    response_id: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    def __init__(
        self,
        *,
        maxlen: int = 1000,
        catalog_path: Path | None = None,
        on_record: Callable[[RequestRecord], None] | None = None,
    ) -> None:
        self.records: deque[RequestRecord] = deque(maxlen=maxlen)
        self.catalog_path = catalog_path
        self.on_record = on_record
        self.total = 0
        self._pending: list[RequestRecord] = []
        self._catalog: Any = None
        self._warned = False

    def add(self, record: RequestRecord) -> None:
        self.records.append(record)
        self.total += 1
        if self.catalog_path is not None:
            self._pending.append(record)
            del self._pending[:-MAX_PENDING]
        if self.on_record is not None:
            try:
                self.on_record(record)
            except Exception:
                log.exception("request log listener failed")

    def recent(self, n: int = 100) -> list[RequestRecord]:
        return list(self.records)[-n:]

    def find(self, response_id: str) -> RequestRecord | None:
        return next((r for r in self.records if r.response_id == response_id), None)

    # --- persistence --------------------------------------------------------------------------
    def flush(self) -> int:
        """Write the pending records to the catalog; returns how many were written."""
        if not self._pending or self.catalog_path is None:
            return 0
        batch = list(self._pending)
        try:
            catalog = self._open()
            with catalog.transaction() as tx:
                for r in batch:
                    tx.execute(
                        """INSERT OR REPLACE INTO serve_requests (id, created_at, api, client,
                           model, adapter, stream, status, finish_reason, prompt_tokens,
                           completion_tokens, ttft_s, latency_s, tool_calls, error, meta)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                        (r.id, r.created_at, r.api, r.client, r.model, r.adapter,
                         int(r.stream), r.status, r.finish_reason, r.prompt_tokens,
                         r.completion_tokens, r.ttft_s, r.latency_s,
                         json.dumps(r.tool_calls, ensure_ascii=False), r.error,
                         json.dumps({"queue_s": r.queue_s, "preview": r.preview,
                                     "response_id": r.response_id}, ensure_ascii=False)),
                    )
        except Exception as exc:  # noqa: BLE001 - sqlite and OS errors alike: retry later
            if not self._warned:
                self._warned = True
                log.warning("the request log cannot be written to %s: %s",
                            self.catalog_path, exc)
            return 0
        del self._pending[: len(batch)]
        return len(batch)

    def _open(self) -> Any:
        if self._catalog is None:
            from phi4studio.core.workspace.catalog import Catalog

            assert self.catalog_path is not None
            self._catalog = Catalog(self.catalog_path)
        return self._catalog

    def close(self) -> None:
        self.flush()
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None


def read_history(catalog: Any, limit: int = 200) -> list[dict[str, Any]]:
    """The latest `limit` records of a catalog (oldest first), as dicts like `to_json()`."""
    rows = catalog.conn.execute(
        "SELECT * FROM (SELECT * FROM serve_requests ORDER BY created_at DESC LIMIT ?)"
        " ORDER BY created_at", (limit,)).fetchall()
    out = []
    for row in rows:
        d = dict(row)
        d["stream"] = bool(d["stream"])
        d["tool_calls"] = json.loads(d.get("tool_calls") or "[]")
        meta = json.loads(d.pop("meta", None) or "{}")
        for key in ("queue_s", "preview", "response_id"):
            d[key] = meta.get(key)
        out.append(d)
    return out
