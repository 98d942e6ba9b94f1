"""The Playground's Qt-free core: chat sessions streamed through the inference worker with
incremental tool-call parsing, validation and guided decoding; the approve -> run -> continue
flow over MCP; A/B comparison; saving a conversation to a dataset. The Playground tab, the
`chat` command and the Serve feature build on it."""

from phi4studio.core.playground.ab import ABSession
from phi4studio.core.playground.flow import (
    CatalogExecutor,
    Decide,
    Executor,
    ToolRunner,
    auto_decider,
    converse,
    settle_turn,
)
from phi4studio.core.playground.keep import check_example, conversation_example, save_example
from phi4studio.core.playground.models import (
    ModelChoice,
    ModelFolderError,
    exported_models,
    find_adapters,
    format_for_model,
    model_from_folder,
)
from phi4studio.core.playground.records import (
    CallRecord,
    CallStatus,
    GenerationSettings,
    SessionEvent,
    TurnRecord,
)
from phi4studio.core.playground.session import ChatSession, check_call

__all__ = [
    "ABSession",
    "CallRecord",
    "CallStatus",
    "CatalogExecutor",
    "ChatSession",
    "Decide",
    "Executor",
    "GenerationSettings",
    "ModelChoice",
    "ModelFolderError",
    "SessionEvent",
    "ToolRunner",
    "TurnRecord",
    "auto_decider",
    "check_call",
    "check_example",
    "conversation_example",
    "converse",
    "exported_models",
    "find_adapters",
    "format_for_model",
    "model_from_folder",
    "save_example",
    "settle_turn",
]
