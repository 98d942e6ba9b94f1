"""Chat formats per model family, shared by datasets, training, playground and evaluation.

    fmt = detect_format(tokenizer_or_model_dir_or_template)   # or get_format("phi4-mini")
    rendered = fmt.render(example)              # text + spans (trained = assistant turns)
    ids_and_mask = tokenize(rendered, tokenizer)
    prompt = fmt.render_prompt(messages, tools)  # for generation
    out = fmt.parse(model_output)                # content, tool_calls, errors
    stream = fmt.stream_parser(); stream.feed(chunk) -> events; stream.finish()
    spec = fmt.guidance(tools)                   # params.set_guidance(spec.type, spec.text)

No Qt, and no heavy imports at module level (jinja2 is imported when a template is compiled,
transformers never). Conventions are documented in docs/chat_formats.md.
"""

from __future__ import annotations

from phi4studio.core.chatformats.formats import (
    CallSyntax,
    ChatFormat,
    GenericFormat,
    HermesFormat,
    Phi4MiniFormat,
    StudioFormat,
)
from phi4studio.core.chatformats.parsing import ParserSpec, StreamParser, decode_payload, parse
from phi4studio.core.chatformats.registry import (
    FormatDetectionError,
    available_formats,
    detect_format,
    family_of_template,
    format_for_template,
    get_format,
)
from phi4studio.core.chatformats.spans import TokenizedExample, token_mask, tokenize
from phi4studio.core.chatformats.templates import (
    TemplateError,
    TemplateSource,
    render_template,
    shipped_template,
    template_source,
)
from phi4studio.core.chatformats.types import (
    ArgumentsDelta,
    GuidanceSpec,
    ParsedCall,
    ParsedOutput,
    Rendered,
    Span,
    StreamEvent,
    TextDelta,
    ToolCallDone,
    ToolCallStarted,
)

__all__ = [
    "ArgumentsDelta",
    "CallSyntax",
    "ChatFormat",
    "FormatDetectionError",
    "GenericFormat",
    "GuidanceSpec",
    "HermesFormat",
    "ParsedCall",
    "ParsedOutput",
    "ParserSpec",
    "Phi4MiniFormat",
    "Rendered",
    "Span",
    "StreamEvent",
    "StreamParser",
    "StudioFormat",
    "TemplateError",
    "TemplateSource",
    "TextDelta",
    "TokenizedExample",
    "ToolCallDone",
    "ToolCallStarted",
    "available_formats",
    "decode_payload",
    "detect_format",
    "family_of_template",
    "format_for_template",
    "get_format",
    "parse",
    "render_template",
    "shipped_template",
    "template_source",
    "token_mask",
    "tokenize",
]
