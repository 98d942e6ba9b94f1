"""Pre-flight checks and the prepared data, in one pass over the chosen splits.

For every example: validation (datasets/validation.py), rendering through the chat format, and
its token length. Validation errors block the launch unless the user confirms; examples over the
max sequence length are counted (they would be truncated). Tokens are counted with the model's
own `tokenizer.json` through the `tokenizers` library when both are there (no torch), else
estimated from the text length (and said to be estimates). With a `data_dir`, the rendered lines
are written to `train.jsonl` / `validation.jsonl` (atomically) for training/sft.py.

Runs in a worker thread (an ExecutorJob): it reports progress and stops when cancelled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from phi4studio.core.fileio import atomic_open
from phi4studio.core.jobs.model import JobCancelled
from phi4studio.core.training.config import TrainingConfig
from phi4studio.core.training.data import DatasetRef, iter_split, render_line
from phi4studio.core.training.models import ModelInfo

CHARS_PER_TOKEN = 3.6  # rough average for English + JSON with BPE tokenizers
Progress = Callable[[float | None, str], None]


@dataclass
class TokenStats:
    examples: int = 0
    over_max: int = 0
    max_tokens: int = 0
    mean_tokens: float = 0.0
    estimated: bool = False
    trained_fraction: float | None = None  # share of the text in trained (assistant) spans


@dataclass
class PreflightReport:
    n_train: int = 0
    n_validation: int = 0
    n_errors: int = 0
    n_warnings: int = 0
    errors: list[str] = field(default_factory=list)  # the first few, "example id: message"
    notes: list[str] = field(default_factory=list)
    tokens: TokenStats = field(default_factory=TokenStats)
    content_hash: str = ""
    format: str = ""
    train_file: Path | None = None
    validation_file: Path | None = None

    @property
    def blocked(self) -> bool:
        """Validation errors (or no training example): launching needs explicit confirmation."""
        return self.n_errors > 0 or self.n_train == 0

    def summary(self) -> str:
        t = self.tokens
        parts = [f"{self.n_train} training / {self.n_validation} validation examples"]
        if self.n_errors:
            parts.append(f"{self.n_errors} with validation errors")
        if t.examples:
            est = " (estimated)" if t.estimated else ""
            parts.append(f"longest {t.max_tokens} tokens{est}, mean {t.mean_tokens:.0f}")
            if t.over_max:
                parts.append(f"{t.over_max} over the max length (would be truncated)")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"n_train": self.n_train, "n_validation": self.n_validation,
                "n_errors": self.n_errors, "n_warnings": self.n_warnings,
                "errors": self.errors, "notes": self.notes, "tokens": vars(self.tokens),
                "content_hash": self.content_hash, "format": self.format}


def token_counter(info: ModelInfo) -> tuple[Callable[[str], int], bool]:
    """(count(text), estimated): the model's tokenizer.json when readable, else chars / 3.6."""
    folder = info.local_path
    if folder is not None and folder.is_dir() and (folder / "tokenizer.json").is_file():
        try:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(folder / "tokenizer.json"))

            def count(text: str) -> int:
                return len(tok.encode(text, add_special_tokens=False).ids)

            return count, False
        except Exception:  # noqa: BLE001 - no tokenizers library, or an unreadable file
            pass
    return (lambda text: int(len(text) / CHARS_PER_TOKEN) + 1), True


def scan(cfg: TrainingConfig, ref: DatasetRef, fmt: Any, info: ModelInfo, *,
         data_dir: Path | None = None, max_errors: int = 5, progress: Progress | None = None,
         cancelled: Callable[[], bool] | None = None) -> PreflightReport:
    """Validate, render and measure every example of the training and validation splits."""
    from phi4studio.core.datasets.validation import validate_example

    report = PreflightReport(format=str(getattr(fmt, "name", "")))
    count, estimated = token_counter(info)
    lengths: list[int] = []
    chars = trained_chars = 0
    digest = hashlib.blake2b(digest_size=16)
    splits = [("train", cfg.train_split)]
    if cfg.validation_split:
        splits.append(("validation", cfg.validation_split))
    with ExitStack() as stack:
        for label, split in splits:
            out: IO[str] | None = None
            if data_dir is not None:
                path = data_dir / f"{label}.jsonl"
                out = stack.enter_context(atomic_open(path, "w"))
                setattr(report, f"{label}_file", path)
            for i, d in enumerate(iter_split(ref, split)):
                if cancelled is not None and cancelled():
                    raise JobCancelled()
                digest.update(json.dumps(d, sort_keys=True, ensure_ascii=False).encode())
                setattr(report, f"n_{label}", getattr(report, f"n_{label}") + 1)
                _check(report, d, validate_example(d), max_errors)
                try:
                    line = render_line(fmt, d)
                except (ValueError, KeyError, TypeError) as exc:
                    report.n_errors += 1
                    if len(report.errors) < max_errors:
                        report.errors.append(f"{d.get('id')}: cannot be rendered: {exc}")
                    continue
                if out is not None:
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
                chars += len(line["text"])
                trained_chars += sum(b - a for a, b in line["spans"])
                n = count(line["text"])
                lengths.append(n)
                if n > cfg.max_length:
                    report.tokens.over_max += 1
                if progress is not None and i % 100 == 0:
                    progress(None, f"checking {label} examples: {i}")
    report.content_hash = digest.hexdigest()
    if lengths:
        report.tokens = TokenStats(len(lengths), report.tokens.over_max, max(lengths),
                                   round(sum(lengths) / len(lengths), 1), estimated,
                                   round(trained_chars / chars, 4) if chars else None)
    if report.n_validation == 0:
        report.validation_file = None
        if cfg.validation_split:
            report.notes.append(f"no {cfg.validation_split!r} examples: no validation loss")
    if report.n_train == 0:
        report.notes.append(f"no examples in the {cfg.train_split!r} split: split the dataset "
                            "in the Datasets tab, or train on 'all'")
    return report


def _check(report: PreflightReport, d: dict[str, Any], issues: list[Any], max_errors: int
           ) -> None:
    errs = [x for x in issues if x.severity == "error"]
    if errs:
        report.n_errors += 1
        if len(report.errors) < max_errors:
            report.errors.append(f"{d.get('id')}: {errs[0].message}")
    elif issues:
        report.n_warnings += 1


def longest_sequence(report: PreflightReport | None, cfg: TrainingConfig) -> int:
    """The sequence length the memory estimate should assume (the longest example, capped)."""
    if report is not None and report.tokens.examples:
        return min(cfg.max_length, report.tokens.max_tokens)
    return cfg.max_length
