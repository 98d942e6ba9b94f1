"""Token length per example for a chosen tokenizer: validation flags the examples over a limit
(`too_long`) and coverage draws the length histogram in real tokens.

    counter = load_token_counter("~/models/phi-4-mini")            # a folder with tokenizer.json
    counter = load_token_counter("SmolLM2.Q4_1.gguf", family="smollm2")
    counter(example_dict) -> int    # tokens of the example rendered by its chat format

The example is rendered through the chat-format registry (the model's own template when the
source has one, else the family's) and tokenized with the `tokenizers` library, imported when a
counter is made, never at start-up. A source without a `tokenizer.json` (a .gguf file, a folder
with a slow tokenizer) is converted once with `transformers`, in a subprocess for the app
(`convert="subprocess"`: the app process never imports transformers) or in this process for
the command line, and the result is cached by the source's path, size and time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from phi4studio.core.datasets.errors import DatasetError

TOKENIZER_FILE = "tokenizer.json"
Convert = Literal["subprocess", "inprocess"]
CONVERT_TIMEOUT_S = 600
SOURCES_HINT = ("Give a model folder with tokenizer.json, a tokenizer.json file, or a .gguf file "
                "(its tokenizer is converted once).")


def default_cache_dir() -> Path:
    """Where converted tokenizers are kept (shared by the app and the command line)."""
    from phi4studio.core.paths import app_dirs

    return app_dirs().data / "cache" / "tokenizers"


@dataclass(frozen=True)
class TokenOptions:
    """A token-length check as the tab and the CLI ask for it."""

    source: str  # tokenizer: a model folder, a tokenizer.json file or a .gguf file
    family: str | None = None  # chat format; None: the source's own template
    max_tokens: int | None = None  # longer examples are flagged (too_long)

    def counter(self, *, convert: Convert = "inprocess",
                cancelled: Callable[[], bool] | None = None) -> TokenCounter:
        return load_token_counter(self.source, self.family, convert=convert, cancelled=cancelled)


def _cache_key(source: Path) -> str:
    st = source.stat()
    blob = f"{source.resolve()}|{st.st_size}|{int(st.st_mtime)}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def tokenizer_file(source: Path | str, cache_dir: Path | None = None, *,
                   convert: Convert = "inprocess",
                   cancelled: Callable[[], bool] | None = None) -> Path:
    """The tokenizer.json for a source: its own, or one converted from it (cached)."""
    src = Path(source).expanduser()
    if src.is_file() and src.suffix == ".json":
        return src
    if src.is_dir() and (src / TOKENIZER_FILE).is_file():
        return src / TOKENIZER_FILE
    if not src.exists():
        raise DatasetError(f"No tokenizer at {src}.", hint=SOURCES_HINT)
    if not (src.is_dir() or src.suffix.lower() == ".gguf"):
        raise DatasetError(f"{src.name} is not a tokenizer.", hint=SOURCES_HINT)
    out = Path(cache_dir or default_cache_dir()) / f"{src.stem}-{_cache_key(src)}"
    if (out / TOKENIZER_FILE).is_file():
        return out / TOKENIZER_FILE
    if convert == "subprocess":
        _convert_in_subprocess(src, out, cancelled)
    else:
        convert_tokenizer(src, out)
    return out / TOKENIZER_FILE


def convert_tokenizer(source: Path, out: Path) -> Path:
    """Load the source's tokenizer with transformers and save its tokenizer.json into `out`
    (written under a temporary name, then renamed into place)."""
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise DatasetError("Converting this tokenizer needs `transformers`, which is not "
                           "installed.", hint=SOURCES_HINT) from exc
    try:
        if source.suffix.lower() == ".gguf":
            tok = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        else:
            tok = AutoTokenizer.from_pretrained(str(source))
    except Exception as exc:
        raise DatasetError(f"Cannot read a tokenizer from {source}: {exc}",
                           hint=SOURCES_HINT) from exc
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        raise DatasetError(f"The tokenizer of {source} has no fast (tokenizer.json) form.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".tmp-{out.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        backend.save(str(tmp / TOKENIZER_FILE))
        (tmp / "source.json").write_text(json.dumps({"source": str(source)}), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / TOKENIZER_FILE


def _convert_in_subprocess(src: Path, out: Path, cancelled: Callable[[], bool] | None) -> None:
    from phi4studio.core.jobs.workers import app_argv

    argv = app_argv("dataset", "convert-tokenizer", str(src), str(out))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while proc.poll() is None:
        if (cancelled is not None and cancelled()) or time.monotonic() - t0 > CONVERT_TIMEOUT_S:
            proc.kill()
            proc.wait()
            from phi4studio.core.jobs.model import JobCancelled

            raise JobCancelled()
        time.sleep(0.05)
    err = (proc.stderr.read() if proc.stderr else "").strip()
    if proc.returncode != 0 or not (out / TOKENIZER_FILE).is_file():
        last = err.splitlines()[-1] if err else f"exit code {proc.returncode}"
        raise DatasetError(f"Cannot convert the tokenizer of {src}: {last.removeprefix('error: ')}",
                           hint=SOURCES_HINT)


class TokenCounter:
    """Counts the tokens of canonical examples as one chat format renders them."""

    def __init__(self, tokenizer: Any, fmt: Any, label: str) -> None:
        self.tokenizer = tokenizer
        self.format = fmt
        self.label = label  # e.g. "SmolLM2-135M-Instruct.Q4_1.gguf (chatml-notools)"

    def text(self, example: Mapping[str, Any]) -> str:
        try:
            return str(self.format.render_text(example))
        except Exception:  # noqa: BLE001 - a template that fails on odd data: count the text
            return "\n".join(str(m.get("content") or "") for m in example.get("messages") or []
                             if isinstance(m, Mapping))

    def __call__(self, example: Mapping[str, Any]) -> int:
        return len(self.tokenizer.encode(self.text(example), add_special_tokens=False).ids)


def load_token_counter(source: Path | str, family: str | None = None, *,
                       cache_dir: Path | None = None, convert: Convert = "inprocess",
                       cancelled: Callable[[], bool] | None = None) -> TokenCounter:
    """A counter for a tokenizer source and a chat format: `family` (a registry name or alias),
    else the one detected from the source's own chat template."""
    from phi4studio.core.chatformats import FormatDetectionError, TemplateError, detect_format
    from phi4studio.core.datasets.workflows import chat_format

    src = Path(source).expanduser()
    path = tokenizer_file(src, cache_dir, convert=convert, cancelled=cancelled)
    try:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
    except ImportError as exc:
        raise DatasetError("Token counts need the `tokenizers` package.") from exc
    except Exception as exc:
        raise DatasetError(f"{path} is not a readable tokenizer.json: {exc}") from exc
    if family:
        fmt = chat_format(family)
        label = fmt.name
    else:
        try:
            fmt = detect_format(src.parent if src.name == TOKENIZER_FILE else src)
        except (FormatDetectionError, TemplateError, OSError, ValueError) as exc:
            raise DatasetError(f"No chat template found with {src.name}: {exc}",
                               hint="Choose the model family to render the examples with.") \
                from exc
        label = f"{fmt.name}, the model's own template"
    return TokenCounter(tok, fmt, f"{src.name} ({label})")
