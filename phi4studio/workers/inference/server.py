"""The inference worker's command loop: commands in on stdin, events out on stdout.

A reader thread (the protocol's CommandReader) puts commands on a queue and handles `stop` and
`shutdown` itself, so they take effect between two tokens of a running generation. The main thread
takes one command at a time from the queue: generations run one after another, never together.

Stop semantics: `{"cmd": "stop", "id": X}` ends request X, running or queued; `{"cmd": "stop"}`
ends every request received before it. A stopped request still ends with its `result` event
(`stop_reason: "stopped"`), carrying whatever it had generated.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import Any

from phi4studio.core.inference.requests import GenerateRequest, RequestError
from phi4studio.core.jobs.protocol import CommandReader, Emitter
from phi4studio.workers.inference.engine import Engine

_IDLE_POLL_S = 0.2
_MAX_REMEMBERED_STOPS = 1000


class TokenBatcher:
    """Coalesces token events: the first token at once, then at most one event per `interval_s`
    or per `max_tokens` tokens, whichever comes first."""

    def __init__(self, emit: Emitter, rid: str, interval_s: float, max_tokens: int) -> None:
        self._emit = emit
        self._rid = rid
        self._interval = interval_s
        self._max = max(1, max_tokens)
        self._ids: list[int] = []
        self._text: list[str] = []
        self._last = 0.0
        self.count = 0
        self.prompt_tokens: int | None = None  # sent with the request's first token event

    def __call__(self, token_id: int, piece: str) -> None:
        self._ids.append(token_id)
        self._text.append(piece)
        self.count += 1
        now = time.perf_counter()
        if self.count == 1 or len(self._ids) >= self._max or now - self._last >= self._interval:
            self.flush(now)

    def set_prompt_tokens(self, n: int) -> None:
        self.prompt_tokens = n

    def flush(self, now: float | None = None) -> None:
        if not self._ids:
            return
        extra = {"prompt_tokens": self.prompt_tokens} if self._last == 0.0 else {}
        self._emit("token", id=self._rid, text="".join(self._text), ids=self._ids, n=self.count,
                   **extra)
        self._ids, self._text = [], []
        self._last = time.perf_counter() if now is None else now


class Server:
    def __init__(
        self,
        engine: Engine,
        emit: Emitter,
        *,
        flush_interval_s: float = 0.03,
        flush_tokens: int = 16,
    ) -> None:
        self.engine = engine
        self.emit = emit
        self.flush_interval_s = flush_interval_s
        self.flush_tokens = flush_tokens
        self._queue: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        self._lock = threading.Lock()
        self._stop_epoch = 0  # bumped by an id-less stop: ends everything received before it
        self._stopped_ids: set[str] = set()
        self._shutdown = threading.Event()
        self.reader = CommandReader(on_command=self._on_command)

    # --- reader thread ------------------------------------------------------------------------
    def _on_command(self, cmd: dict[str, Any]) -> None:
        name = cmd.get("cmd")
        with self._lock:
            if name == "stop":
                rid = cmd.get("id")
                if rid is None:
                    self._stop_epoch += 1
                else:
                    if len(self._stopped_ids) > _MAX_REMEMBERED_STOPS:
                        self._stopped_ids.clear()
                    self._stopped_ids.add(str(rid))
                return
            if name == "shutdown":
                self._stop_epoch += 1
                self._shutdown.set()
            epoch = self._stop_epoch
        self._queue.put((epoch, cmd))

    def _stopping(self, rid: str, epoch: int) -> bool:
        return (
            self._stop_epoch != epoch
            or rid in self._stopped_ids
            or self._shutdown.is_set()
            or self.reader.cancelled.is_set()
        )

    # --- main thread --------------------------------------------------------------------------
    def serve(self) -> int:
        self.reader.start()
        while True:
            try:
                epoch, cmd = self._queue.get(timeout=_IDLE_POLL_S)
            except queue.Empty:
                if self.reader.cancelled.is_set() or self._shutdown.is_set():
                    break
                continue
            name = cmd.get("cmd")
            if name == "shutdown":
                break
            try:
                self._dispatch(str(name), cmd, epoch)
            except Exception as exc:  # noqa: BLE001 - one bad command never ends the worker
                self.emit("error", id=cmd.get("id"), code="internal_error",
                          message=f"{type(exc).__name__}: {exc}", cmd=name)
        # Requests still queued (shutdown or cancel arrived) end as stopped, not silently.
        while True:
            try:
                _, cmd = self._queue.get_nowait()
            except queue.Empty:
                break
            if cmd.get("cmd") == "generate" and cmd.get("id") is not None:
                self.emit("error", id=str(cmd["id"]), code="shutting_down",
                          message="the inference worker is shutting down")
        self.emit("done")
        return 0

    def _dispatch(self, name: str, cmd: dict[str, Any], epoch: int) -> None:
        rid = cmd.get("id")
        try:
            if name == "generate":
                self._generate(cmd, epoch)
            elif name == "info":
                self.emit("result", id=rid, cmd=name, data=self.engine.info())
            elif name == "load_adapter":
                self.engine.load_adapter(str(cmd.get("name") or ""), str(cmd.get("path") or ""))
                if cmd.get("activate"):
                    self.engine.set_active_adapter(str(cmd["name"]))
                self._adapter_result(rid, name)
            elif name == "unload_adapter":
                self.engine.unload_adapter(str(cmd.get("name") or ""))
                self._adapter_result(rid, name)
            elif name == "set_adapter":
                value = cmd.get("name")
                self.engine.set_active_adapter(str(value) if value else None)
                self._adapter_result(rid, name)
            else:
                raise RequestError(f"unknown command {name!r}", code="unknown_command")
        except RequestError as exc:
            fields: dict[str, Any] = {"id": rid, "code": exc.code, "message": exc.message,
                                      "cmd": name}
            if exc.hint:
                fields["hint"] = exc.hint
            self.emit("error", **fields)

    def _adapter_result(self, rid: Any, name: str) -> None:
        self.emit("result", id=rid, cmd=name, data={
            "adapters": sorted(self.engine.adapter_paths),
            "active_adapter": self.engine.active_adapter,
        })

    def _generate(self, cmd: dict[str, Any], epoch: int) -> None:
        req = GenerateRequest.from_command(cmd)
        batcher = TokenBatcher(self.emit, req.id, self.flush_interval_s, self.flush_tokens)
        try:
            result = self.engine.generate(req, batcher, lambda: self._stopping(req.id, epoch),
                                          on_prompt=batcher.set_prompt_tokens)
        except RequestError:
            batcher.flush()
            raise
        finally:
            with self._lock:
                self._stopped_ids.discard(req.id)
        batcher.flush()
        self.emit("result", id=req.id, cmd="generate", data=result)


def run_server(engine: Engine, emit: Emitter, **kw: Any) -> int:
    server = Server(engine, emit, **kw)
    with contextlib.suppress(KeyboardInterrupt):
        return server.serve()
    return 0
