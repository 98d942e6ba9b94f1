"""Just enough of the GGUF format to read a model's chat template and special tokens.

Only the key/value header is read (tensor data is never touched), so this is fast on multi-GB
files. Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (versions 2 and 3).
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

# value type -> struct format of one element (strings and arrays are handled apart)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
SPECIAL_IDS = {"bos_token": "tokenizer.ggml.bos_token_id",
               "eos_token": "tokenizer.ggml.eos_token_id",
               "unk_token": "tokenizer.ggml.unknown_token_id",
               "pad_token": "tokenizer.ggml.padding_token_id"}


class GGUFError(ValueError):
    pass


def _read(f: IO[bytes], fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise GGUFError("truncated GGUF header")
    return struct.unpack(fmt, data)[0]


def _string(f: IO[bytes]) -> str:
    n = _read(f, "<Q")
    if n > 1 << 30:
        raise GGUFError("implausible string length in GGUF header")
    data = f.read(n)
    if len(data) != n:
        raise GGUFError("truncated GGUF header")
    return data.decode("utf-8", errors="replace")


def _value(f: IO[bytes], vtype: int, keep: bool) -> Any:
    if vtype == _STRING:
        return _string(f)
    if vtype in _SCALARS:
        return _read(f, _SCALARS[vtype])
    if vtype == _ARRAY:
        etype = _read(f, "<I")
        n = _read(f, "<Q")
        if etype in _SCALARS and not keep:
            f.seek(n * struct.calcsize(_SCALARS[etype]), 1)
            return None
        items = [_value(f, etype, keep) for _ in range(n)]
        return items if keep else None
    raise GGUFError(f"unknown GGUF value type {vtype}")


def read_metadata(path: Path, keys: frozenset[str]) -> dict[str, Any]:
    """The values of `keys` in a GGUF file's metadata (absent keys are left out)."""
    out: dict[str, Any] = {}
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise GGUFError(f"{path} is not a GGUF file")
        version = _read(f, "<I")
        if version < 2:
            raise GGUFError(f"GGUF version {version} is not supported")
        _read(f, "<Q")  # tensor count
        kv_count = _read(f, "<Q")
        for _ in range(kv_count):
            key = _string(f)
            vtype = _read(f, "<I")
            value = _value(f, vtype, key in keys)
            if key in keys:
                out[key] = value
    return out


@lru_cache(maxsize=16)
def _chat_metadata(path: str, mtime_ns: int, size: int) -> tuple[str | None, tuple[tuple[str, str],
                                                                             ...]]:
    wanted = frozenset({"tokenizer.chat_template", "tokenizer.ggml.tokens", *SPECIAL_IDS.values()})
    meta = read_metadata(Path(path), wanted)
    template = meta.get("tokenizer.chat_template")
    tokens = meta.get("tokenizer.ggml.tokens") or []
    special = []
    for name, key in SPECIAL_IDS.items():
        idx = meta.get(key)
        if isinstance(idx, int) and 0 <= idx < len(tokens) and isinstance(tokens[idx], str):
            special.append((name, tokens[idx]))
    return (template if isinstance(template, str) else None), tuple(special)


def chat_metadata(path: Path) -> tuple[str | None, dict[str, str]]:
    """(chat template or None, special token texts) of a GGUF file, cached per file version."""
    st = path.stat()
    template, special = _chat_metadata(str(path.resolve()), st.st_mtime_ns, st.st_size)
    return template, dict(special)
