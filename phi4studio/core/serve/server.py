"""Running the server: the Backend (inference worker), the app and uvicorn on one asyncio loop.

    runtime = ServeRuntime(config, on_record=print)
    info = await runtime.start()          # model loaded, socket bound: info["url"]
    await runtime.wait()                  # until runtime.request_stop() (or a signal)
    await runtime.stop()

The process that runs this never loads the model itself: generation happens in the inference
worker process (onnxruntime-genai holds the GIL there), so the HTTP side stays responsive.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

from phi4studio.core.serve.app import ServeApp
from phi4studio.core.serve.backend import Backend
from phi4studio.core.serve.config import ServeConfig
from phi4studio.core.serve.reqlog import RequestLog, RequestRecord

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0


class ServeStartError(Exception):
    """The server could not start (the address is taken, the model does not load...)."""


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ServeStartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


class ServeRuntime:
    def __init__(
        self,
        config: ServeConfig,
        *,
        on_record: Callable[[RequestRecord], None] | None = None,
        worker_args: list[str] | None = None,
    ) -> None:
        config.ensure_api_key()
        self.config = config
        self.reqlog = RequestLog(catalog_path=config.catalog, on_record=on_record)
        self.backend = Backend(config, worker_args=worker_args)
        self.server: Any = None
        self.port: int | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/v1"

    async def start(self) -> dict[str, Any]:
        import uvicorn

        from phi4studio.core.chatformats import FormatDetectionError
        from phi4studio.core.inference import InferenceError

        sock = bind_socket(self.config.host, self.config.port)
        try:
            info = await self.backend.start()
        except (InferenceError, FormatDetectionError, OSError) as exc:
            sock.close()
            await self.backend.close()
            raise ServeStartError(f"cannot serve {self.config.model_dir}: {exc}") from exc
        except BaseException:
            sock.close()
            await self.backend.close()
            raise
        self.port = int(sock.getsockname()[1])
        app = ServeApp(self.config, self.backend, self.reqlog).build()
        uconfig = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False,
                                 log_level="warning", timeout_graceful_shutdown=3,
                                 timeout_keep_alive=30)
        self.server = _server_cls()(uconfig)
        self._serve_task = asyncio.ensure_future(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self._serve_task.done():
                sock.close()
                await self.backend.close()
                raise ServeStartError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        self._flush_task = asyncio.ensure_future(self._flush_loop())
        return {
            "url": self.url, "host": self.config.host, "port": self.port,
            "model": self.config.name, "models": self.config.model_ids(),
            "adapter": self.config.adapter, "api_key_required": self.config.requires_key,
            "guided_tools": self.config.guided_tools, "max_queue": self.config.max_queue,
            "format": getattr(self.backend.fmt, "name", None),
            "provider": info.get("provider"), "context_length": info.get("context_length"),
        }

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            self.reqlog.flush()

    def request_stop(self) -> None:
        """Stop accepting work: generations end, the server closes (call from the loop)."""
        self.backend.client.stop_generation()
        if self.server is not None:
            self.server.should_exit = True

    async def wait(self) -> None:
        if self._serve_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._serve_task)

    async def stop(self) -> None:
        self.request_stop()
        if self._serve_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._serve_task), 10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._serve_task.cancel()
            except Exception as exc:  # noqa: BLE001 - shutting down anyway
                log.warning("the HTTP server ended with %s", exc)
        if self._flush_task is not None:
            self._flush_task.cancel()
            with contextlib.suppress(BaseException):
                await self._flush_task
        await self.backend.close()
        self.reqlog.close()


@functools.lru_cache(maxsize=1)
def _server_cls() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn without its signal handlers: whoever runs the runtime decides what a signal
        does (the CLI calls request_stop; the worker obeys its stdin)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server


def stop_on_signals(runtime: ServeRuntime) -> None:
    """Ctrl+C and SIGTERM stop the server cleanly (where the loop supports signal handlers)."""
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, runtime.request_stop)
