"""Serve: exported models on the local machine behind OpenAI- and Anthropic-compatible APIs.

    config = ServeConfig(model_dir, adapters=adapters_in(model_dir), port=8000)
    runtime = ServeRuntime(config, on_record=...)      # server.py: uvicorn + Backend
    info = await runtime.start(); ...; await runtime.stop()

From the app the server runs in its own process (`phi4studio --worker serve`, see
`controller.ServeController`); `phi4studio serve` runs it in the foreground. The model itself
always runs in the inference worker. Documented in docs/serve.md. Heavy imports (starlette,
uvicorn, jsonschema) happen inside functions.
"""

from phi4studio.core.serve.config import (
    API_KEY_ENV,
    ServeConfig,
    ServeConfigError,
    adapters_in,
    is_loopback,
    new_api_key,
)
from phi4studio.core.serve.errors import ApiError
from phi4studio.core.serve.reqlog import RequestLog, RequestRecord, read_history

__all__ = [
    "API_KEY_ENV",
    "ApiError",
    "RequestLog",
    "RequestRecord",
    "ServeConfig",
    "ServeConfigError",
    "adapters_in",
    "is_loopback",
    "new_api_key",
    "read_history",
]
