"""What one server serves and how: the model folder, its adapters, the address, the API key.

Loopback only unless the user opts into another address; then an API key is required (one is
generated when none is given). A key given for a loopback address is enforced too.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_QUEUE = 8
DEFAULT_MAX_TOKENS = 1024
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
API_KEY_ENV = "PHI4STUDIO_SERVE_API_KEY"
ADAPTER_SUFFIX = ".onnx_adapter"
BASE_SUFFIX = "base"  # `<model>:base` is the model without adapter


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; False for every other address or name."""
    h = host.strip().strip("[]").lower()
    if h in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def new_api_key() -> str:
    return "p4s-" + secrets.token_urlsafe(24)


def adapters_in(model_dir: Path) -> dict[str, Path]:
    """`adapters/<name>.onnx_adapter` (and `<name>.onnx_adapter` beside the model)."""
    found: dict[str, Path] = {}
    for folder in (model_dir / "adapters", model_dir):
        if folder.is_dir():
            for f in sorted(folder.glob("*" + ADAPTER_SUFFIX)):
                found.setdefault(f.name[: -len(ADAPTER_SUFFIX)], f)
    return found


class ServeConfigError(ValueError):
    """A server setting that cannot work (named in the message)."""


@dataclass
class ServeConfig:
    model_dir: Path
    name: str = ""  # the model id clients send; default: the folder's name
    adapters: Mapping[str, Path] = field(default_factory=dict)
    adapter: str | None = None  # the adapter `<name>` uses; None: the base model
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str | None = None
    guided_tools: bool = False  # tool_choice auto is guided too (required/named always are)
    max_queue: int = DEFAULT_MAX_QUEUE  # requests waiting behind the one being served
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    any_model: bool = False  # unknown model names are served by `<name>` instead of a 404
    provider: str = "auto"
    catalog: Path | None = None  # the workspace catalog the request log is written to

    def __post_init__(self) -> None:
        self.model_dir = Path(self.model_dir)
        if not self.name:
            self.name = self.model_dir.name or "model"
        if self.adapter and self.adapter not in self.adapters:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise ServeConfigError(f"no adapter named {self.adapter!r} (found: {known})")
        if not 0 <= self.port <= 65535:
            raise ServeConfigError(f"port {self.port} is outside 0-65535")
        if self.max_queue < 0:
            raise ServeConfigError("max_queue must be >= 0")

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def requires_key(self) -> bool:
        return bool(self.api_key) or not self.loopback

    def ensure_api_key(self) -> str | None:
        """A non-loopback address gets a generated key when none was given; returns the key."""
        if not self.loopback and not self.api_key:
            self.api_key = new_api_key()
        return self.api_key

    # --- model ids ----------------------------------------------------------------------------
    def model_ids(self) -> list[str]:
        """`<name>` (the default adapter, or the base model), `<name>:<adapter>` for each adapter,
        and `<name>:base` when the default is an adapter."""
        ids = [self.name] + [f"{self.name}:{a}" for a in sorted(self.adapters)]
        if self.adapter:
            ids.append(f"{self.name}:{BASE_SUFFIX}")
        return ids

    def resolve_model(self, model: str) -> str | None:
        """The adapter a model id asks for ("" for the base model), or None if it is unknown."""
        if model == self.name:
            return self.adapter or ""
        head, sep, tail = model.partition(":")
        if sep and head == self.name:
            if tail in self.adapters:
                return tail
            if tail == BASE_SUFFIX:
                return ""
        if self.any_model:
            return self.adapter or ""
        return None
