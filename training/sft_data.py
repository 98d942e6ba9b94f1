"""Data for sft.py: the prepared JSONL read, tokenized with offsets, labels masked to the spans.

Not run on its own (see sft.py).
"""

from __future__ import annotations

import json
from typing import Any


class Refused(Exception):
    """The run cannot start as configured; the message says why and what to do."""


def read_rows(path: str | None) -> list[dict[str, Any]]:
    if not path:
        return []
    rows = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text, spans = row["text"], row.get("spans") or []
            except (ValueError, KeyError, TypeError) as exc:
                raise Refused(f"{path}:{i}: not a prepared example ({exc})") from exc
            trained = [(int(s[0]), int(s[1])) for s in spans if len(s) < 3 or s[2]]
            rows.append({"text": str(text), "spans": sorted(trained)})
    return rows


def tokenize_rows(tok: Any, rows: list[dict[str, Any]], max_length: int
                  ) -> tuple[dict[str, list[list[int]]], dict[str, Any]]:
    """input_ids and labels (-100 outside the trained spans), truncated to max_length."""
    import bisect

    ids_out: list[list[int]] = []
    labels_out: list[list[int]] = []
    lengths: list[int] = []
    truncated = dropped = trained_tokens = 0
    for i in range(0, len(rows), 256):
        chunk = rows[i:i + 256]
        enc = tok([r["text"] for r in chunk], add_special_tokens=False,
                  return_offsets_mapping=True)
        for row, ids, offs in zip(chunk, enc["input_ids"], enc["offset_mapping"], strict=True):
            starts = [a for a, _ in row["spans"]]
            labels = []
            for t, (a, b) in zip(ids, offs, strict=True):
                k = bisect.bisect_right(starts, a) - 1
                keep = b > a and k >= 0 and row["spans"][k][0] <= a < row["spans"][k][1]
                labels.append(t if keep else -100)
            lengths.append(len(ids))
            if len(ids) > max_length:
                truncated += 1
                ids, labels = ids[:max_length], labels[:max_length]
            n_trained = sum(1 for x in labels if x != -100)
            if n_trained == 0:
                dropped += 1
                continue
            trained_tokens += n_trained
            ids_out.append(list(ids))
            labels_out.append(labels)
    srt = sorted(lengths) or [0]
    stats = {"examples": len(rows), "used": len(ids_out), "truncated": truncated,
             "dropped_no_trained_tokens": dropped, "max_tokens": srt[-1],
             "mean_tokens": round(sum(srt) / max(1, len(lengths)), 1),
             "p95_tokens": srt[min(len(srt) - 1, int(0.95 * len(srt)))],
             "tokens": sum(min(n, max_length) for n in lengths), "trained_tokens": trained_tokens}
    return {"input_ids": ids_out, "labels": labels_out}, stats


