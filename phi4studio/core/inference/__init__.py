"""Inference: generation requests, and the client of the long-lived inference worker process."""

from phi4studio.core.inference.client import (
    GenerationError,
    InferenceClient,
    InferenceError,
    InferenceWorkerJob,
    WorkerDiedError,
    WorkerStartError,
    inference_worker_argv,
)
from phi4studio.core.inference.requests import (
    STOP_REASONS,
    CallControl,
    GenerateRequest,
    Guidance,
    RequestError,
    as_request,
)

__all__ = [
    "STOP_REASONS",
    "CallControl",
    "GenerateRequest",
    "GenerationError",
    "Guidance",
    "InferenceClient",
    "InferenceError",
    "InferenceWorkerJob",
    "RequestError",
    "WorkerDiedError",
    "WorkerStartError",
    "as_request",
    "inference_worker_argv",
]
