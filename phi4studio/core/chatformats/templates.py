"""Chat templates: the shipped ones, the ones found in a model, and a renderer for both.

`render_template` renders a Hugging Face chat template with the same semantics as
`transformers`' `apply_chat_template(..., tokenize=False)`: a sandboxed Jinja environment with
`trim_blocks` and `lstrip_blocks`, loop controls, the `{% generation %}` tag, `raise_exception`,
`strftime_now`, and a `tojson` that keeps non-ASCII characters. Only jinja2 is needed, so rendering
never pays for importing transformers.

`TemplateSource` is what a template comes with: its text and the special tokens it may use
(`bos_token`, `eos_token`, ...). `template_source(obj)` finds it in a tokenizer, a model folder
(`chat_template.jinja`, `tokenizer_config.json`, a `.gguf` file), a `.gguf` or `.jinja` file, or
plain template text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from phi4studio.core.paths import resource

TEMPLATE_DIR = ("chat_templates",)
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")


class TemplateError(ValueError):
    """A chat template that cannot be found, compiled or rendered."""


@dataclass(frozen=True)
class TemplateSource:
    """A chat template and the special tokens its variables stand for."""

    text: str
    special_tokens: Mapping[str, str] = field(default_factory=dict)
    origin: str = ""


# --- shipped templates ----------------------------------------------------------------------


def strip_header(text: str) -> str:
    """Drop the leading `{#- ... -#}` provenance comment of a shipped template, and its newline."""
    if text.startswith("{#"):
        end = text.find("#}")
        if end != -1:
            rest = text[end + 2 :]
            return rest[1:] if rest.startswith("\n") else rest
    return text


@cache
def shipped_template(name: str) -> str:
    """The text of `resources/chat_templates/<name>.jinja`, header removed (verbatim upstream)."""
    path = resource(*TEMPLATE_DIR, f"{name}.jinja")
    try:
        return strip_header(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(f"shipped chat template {name!r} not found at {path}") from exc


def shipped_template_names() -> list[str]:
    folder = resource(*TEMPLATE_DIR)
    return sorted(p.stem for p in folder.glob("*.jinja"))


# --- renderer -------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def compile_template(text: str) -> Any:
    """Compile a chat template once (cached); TemplateError when it is not valid Jinja."""
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationTag(jinja2.ext.Extension):
        """`{% generation %}...{% endgeneration %}` (HF assistant masks): renders its body."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            call = self.call_method("_render", [])
            return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

        def _render(self, caller: Any) -> str:
            return str(caller())

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        x: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    def strftime_now(fmt: str) -> str:
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    try:
        return env.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"chat template does not compile: {exc}") from exc


def render_template(
    source: TemplateSource,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    add_generation_prompt: bool = False,
    **kwargs: Any,
) -> str:
    """Render `messages` (plain dicts, no None values) as `apply_chat_template` would."""
    import jinja2

    template = compile_template(source.text)
    variables = {**source.special_tokens, **kwargs}
    try:
        return str(
            template.render(
                messages=messages,
                tools=tools,
                documents=None,
                add_generation_prompt=add_generation_prompt,
                **variables,
            )
        )
    except jinja2.TemplateError as exc:
        raise TemplateError(f"chat template failed: {exc}") from exc


# --- finding a model's template -------------------------------------------------------------


def _pick(template: Any, *, tools: bool = True) -> str | None:
    """A tokenizer's chat_template may be a string, a dict or a list of named templates."""
    if isinstance(template, str):
        return template
    if isinstance(template, list):  # tokenizer_config.json: [{"name": ..., "template": ...}]
        template = {
            t.get("name"): t.get("template") for t in template if isinstance(t, Mapping)
        }
    if isinstance(template, Mapping):
        for key in (("tool_use", "default") if tools else ("default",)):
            value = template.get(key)
            if isinstance(value, str):
                return value
        for value in template.values():
            if isinstance(value, str):
                return value
    return None


def _token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("content"), str):
        return str(value["content"])  # AddedToken serialised in tokenizer_config.json
    content = getattr(value, "content", None)
    return content if isinstance(content, str) else None


def _tokenizer_source(tok: Any) -> TemplateSource | None:
    text = _pick(getattr(tok, "chat_template", None))
    if text is None:
        return None
    special: dict[str, str] = {}
    for key in SPECIAL_TOKEN_KEYS:
        value = _token_text(getattr(tok, key, None))
        if value is not None:
            special[key] = value
    return TemplateSource(text, special, origin=f"tokenizer {type(tok).__name__}")


def _config_special_tokens(config: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in SPECIAL_TOKEN_KEYS:
        value = _token_text(config.get(key))
        if value is not None:
            out[key] = value
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def gguf_source(path: Path) -> TemplateSource | None:
    """The `tokenizer.chat_template` of a GGUF file, with its special token texts."""
    from phi4studio.core.chatformats.gguf_meta import GGUFError, chat_metadata

    try:
        text, special = chat_metadata(path)
    except (OSError, GGUFError) as exc:
        raise TemplateError(f"cannot read GGUF file {path}: {exc}") from exc
    return TemplateSource(text, special, origin=str(path)) if text is not None else None


def folder_source(folder: Path) -> TemplateSource | None:
    """A model folder's template: chat_template.jinja, tokenizer_config.json, then a .gguf file."""
    config = _read_json(folder / "tokenizer_config.json")
    special = _config_special_tokens(config)
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return TemplateSource(jinja.read_text(encoding="utf-8"), special, origin=str(jinja))
    text = _pick(config.get("chat_template"))
    if text is None:
        text = _pick(_read_json(folder / "chat_template.json").get("chat_template"))
    if text is not None:
        return TemplateSource(text, special, origin=str(folder / "tokenizer_config.json"))
    for gguf_file in sorted(folder.glob("*.gguf")):
        found = gguf_source(gguf_file)
        if found is not None:
            return found
    return None


def template_source(obj: Any) -> TemplateSource | None:
    """Find the chat template in a tokenizer, a model folder, a .gguf/.jinja file or template text.

    Returns None when `obj` is a tokenizer or folder without a chat template.
    """
    if obj is None:
        return None
    if isinstance(obj, TemplateSource):
        return obj
    if isinstance(obj, (str, Path)):
        text = str(obj)
        if isinstance(obj, str) and ("{%" in text or "{{" in text):
            return TemplateSource(text, origin="template text")
        path = Path(obj)
        if path.is_dir():
            return folder_source(path)
        if path.is_file():
            if path.suffix == ".gguf":
                return gguf_source(path)
            return TemplateSource(path.read_text(encoding="utf-8"), origin=str(path))
        raise TemplateError(f"not a chat template, model folder or file: {text[:80]!r}")
    return _tokenizer_source(obj)
