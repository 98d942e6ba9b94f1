"""The registry of chat formats: look one up by name, or detect it from a model.

    get_format("phi4-mini")                      # the shipped Phi-4-mini template
    detect_format(tokenizer)                     # a transformers tokenizer
    detect_format("/models/phi-4-mini-onnx")     # a model folder (chat_template.jinja,
                                                 #   tokenizer_config.json or a .gguf file)
    detect_format("{% for message in ... %}")    # template text

`detect_format` returns the format bound to the template it found, so rendering uses the model's
own template even when no tokenizer is passed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from phi4studio.core.chatformats.formats import (
    CallSyntax,
    ChatFormat,
    GenericFormat,
    HermesFormat,
    Phi4MiniFormat,
    StudioFormat,
)
from phi4studio.core.chatformats.templates import TemplateError, TemplateSource, template_source

# One block per call: every call ends with the same text whether another follows or not, so
# "one more call?" is the token after a block's end (a newline, or the end of the turn) instead of
# a merged token inside the JSON (`"}` + `},` against `"` + `}}` + `]` with an array).
STUDIO_SYNTAX = CallSyntax("<tool_call>", "</tool_call>", "object", before="\n",
                           block_open="<tool_call>", block_close="</tool_call>", between="\n")
HERMES_SYNTAX = CallSyntax("<tool_call>", "</tool_call>", "object", before="\n",
                           block_open="<tool_call>\n", block_close="\n</tool_call>", between="\n")

_FORMATS: dict[str, ChatFormat] = {
    "phi4-mini": Phi4MiniFormat(
        name="phi4-mini",
        title="Phi-4-mini (native tools: <|tool|> in the system turn, <|tool_call|> calls)",
        shipped="phi4-mini",
        default_special_tokens={"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
        end_of_turn=("<|end|>",),
        syntax=CallSyntax("<|tool_call|>", "<|/tool_call|>", "array", special_tokens=True),
        # what the base model emits (vLLM's phi4_mini_json parser reads the same)
        alternates=(("functools[", None, "["),),
    ),
    "phi4": StudioFormat(
        name="phi4",
        title="Phi-4 14B (ChatML with <|im_sep|>; studio tool convention)",
        shipped="phi4",
        default_special_tokens={"bos_token": "<|endoftext|>", "eos_token": "<|im_end|>"},
        end_of_turn=("<|im_end|>",),
        syntax=STUDIO_SYNTAX,
    ),
    "hermes": HermesFormat(
        name="hermes",
        title="Hermes-style tools (Qwen2.5 and others: <tools>, <tool_call>, <tool_response>)",
        shipped="hermes",
        default_special_tokens={"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
        end_of_turn=("<|im_end|>",),
        syntax=HERMES_SYNTAX,
    ),
    "chatml-notools": StudioFormat(
        name="chatml-notools",
        title="Plain ChatML without tools (SmolLM2; studio tool convention)",
        shipped="chatml-notools",
        default_special_tokens={"bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
                                "unk_token": "<|endoftext|>", "pad_token": "<|im_end|>"},
        end_of_turn=("<|im_end|>",),
        syntax=STUDIO_SYNTAX,
    ),
    "generic": GenericFormat(
        name="generic",
        title="Any template that accepts tools= (markers configurable, bare JSON fallback)",
        shipped=None,
        end_of_turn=(),
        syntax=CallSyntax("<tool_call>", "</tool_call>", "any", block_open="<tool_call>",
                          block_close="</tool_call>", between="\n"),
        bare_json="quiet",
    ),
    "studio": StudioFormat(
        name="studio",
        title="Studio tool convention inside any template without tools",
        shipped="chatml-notools",
        default_special_tokens={"eos_token": "<|im_end|>"},
        end_of_turn=("<|im_end|>",),
        syntax=STUDIO_SYNTAX,
    ),
}

ALIASES = {
    "phi-4-mini": "phi4-mini", "phi4mini": "phi4-mini", "phi-4": "phi4", "qwen": "hermes",
    "qwen2.5": "hermes", "qwen2": "hermes", "smollm2": "chatml-notools", "chatml": "chatml-notools",
}

# Marker pairs recognised in templates that accept tools= (generic family).
KNOWN_MARKERS: tuple[tuple[str, str | None, bool], ...] = (
    ("<|tool_call|>", "<|/tool_call|>", True),
    ("<tool_call>", "</tool_call>", False),
    ("<|python_tag|>", "<|eom_id|>", True),
    ("[TOOL_CALLS]", None, True),
    ("<functioncall>", None, False),
    ("<function_call>", "</function_call>", False),
)
KNOWN_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|eom_id|>",
                     "<|END_OF_TURN_TOKEN|>", "</s>")


class FormatDetectionError(TemplateError):
    """No chat format could be chosen for a model."""


def available_formats(*, standalone: bool = False) -> list[str]:
    """Registered format names; `standalone=True`: only those that render without a model's
    template (all but `generic`, which needs a tokenizer, folder or template text)."""
    return [n for n, f in _FORMATS.items() if not (standalone and f.needs_template)]


def get_format(name: str, *, template: Any = None) -> ChatFormat:
    """The format registered as `name` (or an alias), bound to `template` when given."""
    key = ALIASES.get(name.lower(), name.lower())
    try:
        fmt = _FORMATS[key]
    except KeyError:
        raise KeyError(f"unknown chat format {name!r}; known: {', '.join(_FORMATS)}") from None
    if template is None:
        return fmt
    found = template_source(template)
    if found is None:
        raise TemplateError(f"no chat template found in {template!r}")
    return _bind(fmt, found)


def uses_tools_variable(text: str) -> bool:
    """Whether a template reads the `tools` variable (in a Jinja expression or statement)."""
    for block in re.findall(r"\{[{%](.*?)[}%]\}", text, flags=re.S):
        if re.search(r"(?<![\w.'\"\[])tools\b(?!\s*['\"\]])", block):
            return True
    return False


def family_of_template(text: str) -> str:
    """The family name a chat template belongs to, from its text alone."""
    if "<|/tool|>" in text or ("<|tool|>" in text and "<|end|>" in text):
        return "phi4-mini"
    if "<|im_sep|>" in text:
        return "phi4"
    tools = uses_tools_variable(text)
    if tools and "<tool_call>" in text and "<tool_response>" in text:
        return "hermes"
    if tools:
        return "generic"
    if "<|im_start|>" in text:
        return "chatml-notools"
    return "studio"


def detect_format(source: Any) -> ChatFormat:
    """The format for a tokenizer, a model folder, a .gguf/.jinja file or template text, bound
    to the template found there. FormatDetectionError when there is no template to go by."""
    found = template_source(source)
    if found is None:
        name = _family_from_name(source)
        if name is None:
            raise FormatDetectionError(f"no chat template in {source!r}; choose a format")
        return _FORMATS[name]
    return format_for_template(found)


def format_for_template(found: TemplateSource) -> ChatFormat:
    """The format of the family a template belongs to, bound to it."""
    return _bind(_FORMATS[family_of_template(found.text)], found)


def _bind(fmt: ChatFormat, found: TemplateSource) -> ChatFormat:
    fmt = fmt.with_template(found)
    if isinstance(fmt, GenericFormat):
        return _configure_generic(fmt, found)
    if fmt.name == "studio":  # any template: its own end-of-turn token
        eot = _end_of_turn(found.text) or found.special_tokens.get("eos_token")
        return dataclasses.replace(fmt, end_of_turn=(eot,) if eot else ())
    return fmt


def _configure_generic(fmt: GenericFormat, found: TemplateSource) -> GenericFormat:
    for open_, close, special in KNOWN_MARKERS:
        if open_ in found.text:
            fmt = fmt.with_markers(open_, close, special_tokens=special)
            break
    eot = _end_of_turn(found.text) or found.special_tokens.get("eos_token")
    return fmt.with_end_of_turn(eot) if eot else fmt


def _end_of_turn(text: str) -> str | None:
    hits = [(text.find(t), t) for t in KNOWN_END_OF_TURN if t in text]
    return min(hits)[1] if hits else None


def _family_from_name(source: Any) -> str | None:
    """Last resort for a template-less source: the model's name (folder, config, tokenizer)."""
    names = [str(getattr(source, "name_or_path", "") or "")]
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        folder = Path(source)
        names.append(folder.name)
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            names.append(str(config.get("_name_or_path", "")))
        except (OSError, ValueError, AttributeError):
            pass
    blob = " ".join(names).lower().replace("_", "-")
    for needle, family in (("phi-4-mini", "phi4-mini"), ("phi4-mini", "phi4-mini"),
                           ("phi-4", "phi4"), ("phi4", "phi4"), ("qwen", "hermes"),
                           ("smollm", "chatml-notools")):
        if needle in blob:
            return family
    return None
