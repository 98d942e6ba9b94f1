"""Cross-tab requests ("open this export in the playground"), without Qt and without globals.

The Studio owns one `Handoff`. A tab publishes a request; the tab that handles that kind of
request subscribes to it when it is built. A request published while nobody handles it is kept
(the latest one per kind) and handed to the first subscriber, so the order in which tabs are
built does not matter.

    studio.handoff.subscribe(OpenModelRequest, playground.open_model)   # the Playground
    studio.handoff.publish(OpenModelRequest(model_dir=..., adapters=..., provider="cpu"))

`OpenModelRequest` is the Export tab's seam to the Playground: a model folder (an
onnxruntime-genai folder with genai_config.json), its swappable adapters by name, the execution
provider it was built for, and a label. The Playground loads it (InferenceClient(model_dir,
provider=..., adapters=...)) and switches to itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class OpenModelRequest:
    model_dir: Path
    label: str
    provider: str = "auto"  # the target the export was built for: cpu, cuda or dml
    adapters: dict[str, Path] = field(default_factory=dict)  # name -> .onnx_adapter
    active_adapter: str | None = None  # the adapter to start with (None: the base model)
    export_id: str | None = None


class Handoff:
    def __init__(self) -> None:
        self._subscribers: dict[type, list[Callable[[Any], None]]] = {}
        self._pending: dict[type, Any] = {}

    def subscribe(self, kind: type[R], fn: Callable[[R], None]) -> None:
        self._subscribers.setdefault(kind, []).append(fn)
        pending = self._pending.pop(kind, None)
        if pending is not None:
            fn(pending)

    def unsubscribe(self, kind: type[R], fn: Callable[[R], None]) -> None:
        fns = self._subscribers.get(kind, [])
        if fn in fns:
            fns.remove(fn)

    def publish(self, request: object) -> int:
        """Deliver to every subscriber of its type; returns how many got it (0: it is kept for
        the first one to subscribe)."""
        fns = list(self._subscribers.get(type(request), []))
        if not fns:
            self._pending[type(request)] = request
            return 0
        for fn in fns:
            fn(request)
        return len(fns)

    def pending(self, kind: type[R]) -> R | None:
        value: R | None = self._pending.get(kind)
        return value
