"""Chat formats per model family: how a canonical example becomes prompt text for one model, and
how that model's output is read back.

- `Phi4MiniFormat`: Phi-4-mini's native tools (`<|tool|>[...]<|/tool|>` in the system turn,
  `<|tool_call|>[...]<|/tool_call|>` in assistant turns, results in `tool` turns).
- `StudioFormat`: the studio's convention for templates without tools (Phi-4 14B, SmolLM2 and
  any other plain template): tools in a fixed system preamble, one
  `<tool_call>{...}</tool_call>` block per call, results in user turns as `<tool_response>`
  blocks. See docs/chat_formats.md.
- `HermesFormat`: the template's own `tools=` rendering with `<tool_call>{...}</tool_call>` per
  call (Qwen2.5 and other Hermes-style models).
- `GenericFormat`: any template that accepts `tools=`; parsed with a configurable marker pair
  and, failing that, bare JSON.

Every format renders through a real chat template (the tokenizer's, or the shipped copy in
resources/chat_templates/), so the text is exactly what the model sees.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from phi4studio.core.chatformats import canonical as cn
from phi4studio.core.chatformats.parsing import ParserSpec, StreamParser, parse
from phi4studio.core.chatformats.spans import TemplateTurn, compute_spans
from phi4studio.core.chatformats.templates import (
    TemplateError,
    TemplateSource,
    render_template,
    shipped_template,
    template_source,
)
from phi4studio.core.chatformats.types import GuidanceSpec, ParsedOutput, Rendered


@dataclass(frozen=True)
class CallSyntax:
    """How calls look in an assistant turn (for guided decoding and the docs)."""

    open: str
    close: str | None
    shape: Literal["array", "object", "any"]
    special_tokens: bool = False  # the markers are single special tokens of the tokenizer
    before: str = ""  # text the template puts between the assistant's text and the first call
    block_open: str = ""  # exact text of a block start in rendered turns (hermes: "<tool_call>\n")
    block_close: str = ""
    between: str = ""  # between two blocks (object shape: one block per call)


@dataclass(frozen=True)
class ChatFormat:
    """A model family's chat format. Immutable: `with_template()` returns a bound copy."""

    name: str = ""
    title: str = ""
    shipped: str | None = None  # resources/chat_templates/<shipped>.jinja
    default_special_tokens: Mapping[str, str] = field(default_factory=dict)
    end_of_turn: tuple[str, ...] = ()
    syntax: CallSyntax = CallSyntax("<tool_call>", "</tool_call>", "any")
    bare_json: Literal["off", "quiet", "error"] = "error"
    alternates: tuple[tuple[str, str | None, str], ...] = ()  # other call blocks parse() accepts
    source: TemplateSource | None = None  # a bound template (from detect_format or with_template)

    # -- templates --------------------------------------------------------------------------
    def with_template(self, source: Any) -> ChatFormat:
        """This format bound to a template: a TemplateSource, tokenizer, folder, file or text."""
        found = template_source(source)
        if found is None:
            raise TemplateError(f"no chat template found in {source!r}")
        return dataclasses.replace(self, source=found)

    def template(self, tokenizer: Any = None) -> TemplateSource:
        """The template to render with: the tokenizer's, else the bound one, else the shipped."""
        if tokenizer is not None:
            found = template_source(tokenizer)
            if found is not None:
                return self._with_defaults(found)
        if self.source is not None:
            return self._with_defaults(self.source)
        if self.shipped is None:
            raise TemplateError(f"the {self.name} format needs a chat template (a tokenizer, a "
                                "model folder or template text)")
        return TemplateSource(shipped_template(self.shipped), dict(self.default_special_tokens),
                              origin=f"resources/chat_templates/{self.shipped}.jinja")

    @property
    def needs_template(self) -> bool:
        """True when rendering needs a tokenizer or template (no shipped one, none bound)."""
        return self.shipped is None and self.source is None

    def _with_defaults(self, src: TemplateSource) -> TemplateSource:
        tokens = {**self.default_special_tokens, **src.special_tokens}
        return TemplateSource(src.text, tokens, src.origin)

    @property
    def parser_spec(self) -> ParserSpec:
        """End-of-turn and EOS strings stop the output; the call syntax marks calls."""
        bound = self.source.special_tokens if self.source is not None else {}
        eos = {**self.default_special_tokens, **bound}.get("eos_token", "")
        stops = tuple(dict.fromkeys(s for s in (*self.end_of_turn, eos) if s))
        return ParserSpec(self.syntax.open, self.syntax.close, self.syntax.shape, stops,
                          self.bare_json, self.alternates)

    # -- rendering --------------------------------------------------------------------------
    def turns(
        self, messages: list[cn.Message], tools: list[cn.Tool]
    ) -> tuple[list[TemplateTurn], list[dict[str, Any]] | None]:
        """The messages as this family's template receives them, and its `tools=` argument."""
        raise NotImplementedError

    def render(
        self, example: Any, tokenizer: Any = None, add_generation_prompt: bool = False
    ) -> Rendered:
        """Render a canonical example (Mapping or pydantic model) with trained spans."""
        messages, tools = cn.read_example(example)
        return self._render(messages, tools, tokenizer, add_generation_prompt)

    def render_text(
        self, example: Any, tokenizer: Any = None, add_generation_prompt: bool = False
    ) -> str:
        """The rendered text alone, in one template render (no trained spans): what token
        counts need. Equal to `render(example).text`."""
        messages, tools = cn.read_example(example)
        source = self.template(tokenizer)
        turns, tools_arg = self.turns(messages, tools)
        return render_template(source, [t.message for t in turns], tools=tools_arg,
                               add_generation_prompt=add_generation_prompt)

    def render_messages(
        self,
        messages: Iterable[Any],
        tools: Iterable[Any] | None = None,
        tokenizer: Any = None,
        add_generation_prompt: bool = False,
    ) -> Rendered:
        return self._render(cn.read_messages(messages), cn.read_tools(tools), tokenizer,
                            add_generation_prompt)

    def render_prompt(
        self, messages: Iterable[Any], tools: Iterable[Any] | None = None, tokenizer: Any = None
    ) -> str:
        """The prompt for generation: the conversation so far plus the assistant's header."""
        return self.render_messages(messages, tools, tokenizer, add_generation_prompt=True).text

    def _render(
        self,
        messages: list[cn.Message],
        tools: list[cn.Tool],
        tokenizer: Any,
        add_generation_prompt: bool,
    ) -> Rendered:
        source = self.template(tokenizer)
        turns, tools_arg = self.turns(messages, tools)

        def render(msgs: list[dict[str, Any]], gen: bool) -> str:
            return render_template(source, msgs, tools=tools_arg, add_generation_prompt=gen)

        return compute_spans(turns, render, self.end_of_turn,
                             add_generation_prompt=add_generation_prompt, format_name=self.name)

    def assistant_text(self, content: str, calls: Sequence[cn.Call]) -> str:
        """An assistant turn's body as this family writes it (before the end-of-turn token)."""
        s = self.syntax
        if not calls:
            return content
        head = content + s.before if content else ""
        if s.shape == "object":
            blocks = [
                s.block_open + json.dumps({"name": c.name, "arguments": c.arguments},
                                          ensure_ascii=False) + s.block_close
                for c in calls
            ]
            return head + s.between.join(blocks)
        return head + s.open + cn.call_json(calls) + (s.close or "")

    # -- parsing ----------------------------------------------------------------------------
    def parse(self, text: str) -> ParsedOutput:
        """Content, tool calls and problems in a model's output (never raises)."""
        return parse(text, self.parser_spec)

    def stream_parser(self) -> StreamParser:
        return StreamParser(self.parser_spec)

    def parse_payload(self, text: str) -> ParsedOutput:
        """Read output made under `json_schema` guidance (the call JSON alone, no markers)."""
        spec = dataclasses.replace(self.parser_spec, bare_json="quiet")
        return parse(text, spec)

    # -- guided decoding --------------------------------------------------------------------
    def guidance(
        self,
        tools: Iterable[Any],
        *,
        kind: Literal["lark_grammar", "json_schema"] = "lark_grammar",
        require_call: bool = False,
        strict: bool = True,
        max_calls: int | None = None,
        calls_first: bool = False,
    ) -> GuidanceSpec:
        """Grammar or schema constraining output to this family's call syntax and the tools.

        `require_call`: the output must be calls (no free text). `strict`: argument objects
        accept no properties beyond their schema's. `max_calls`: at most this many calls.
        `calls_first`: text or calls, not text followed by calls.
        """
        from phi4studio.core.chatformats.guidance import build_guidance

        return build_guidance(self.syntax, cn.read_tools(tools), kind=kind,
                              require_call=require_call, strict=strict, max_calls=max_calls,
                              calls_first=calls_first)

    @property
    def calls_close(self) -> str:
        """What ends a call list cut short after a complete call (`]</tool_call>` for an
        array in markers; a block's end for one object per block): decoding that stops at a
        repeated call closes the output with it."""
        syn = self.syntax
        if syn.shape == "object":
            return syn.block_close or syn.close or ""
        return "]" + (syn.close or "")


# --- Phi-4-mini ----------------------------------------------------------------------------

PHI4_MINI_TOOLS_SYSTEM = "You are a helpful assistant with some tools."


@dataclass(frozen=True)
class Phi4MiniFormat(ChatFormat):
    default_system: str = PHI4_MINI_TOOLS_SYSTEM

    def turns(
        self, messages: list[cn.Message], tools: list[cn.Tool]
    ) -> tuple[list[TemplateTurn], list[dict[str, Any]] | None]:
        out: list[TemplateTurn] = []
        tools_json = (json.dumps([cn.function_tool(t) for t in tools], ensure_ascii=False)
                      if tools else None)
        if tools_json is not None and not any(m.role == "system" for m in messages):
            out.append(TemplateTurn(
                {"role": "system", "content": self.default_system, "tools": tools_json}, "system"))
        for m in messages:
            msg: dict[str, Any] = {"role": m.role, "content": m.content}
            if m.role == "system" and tools_json is not None:
                msg["tools"] = tools_json
                tools_json = None  # the first system message carries the tools
            elif m.role == "assistant":
                msg["content"] = self.assistant_text(m.content, m.tool_calls)
            out.append(TemplateTurn(msg, m.role))
        return out, None


# --- the studio convention (templates without tools) -----------------------------------------

STUDIO_PREAMBLE = (
    "# Tools\n\n"
    "You can call the tools listed below. To call tools, end your answer with one "
    '<tool_call></tool_call> block per call, each holding {"name": <tool name>, '
    '"arguments": <JSON object>}. '
    "Tool results come back in <tool_response></tool_response> blocks.\n\n"
    "<tools>\n"
)


def compact_tool(tool: cn.Tool) -> dict[str, Any]:
    """A tool definition as the studio convention lists it: the function definition without
    what every tool's parameters say alike (a top-level `"type": "object"`, a boolean
    `additionalProperties`). With compact separators that is about a fifth fewer tokens per
    definition (docs/chat_formats.md); a map-style `additionalProperties` schema is kept, it
    says what the extra keys hold. Guided decoding still reads the full schema."""
    fn = cn.function_tool(tool)
    params = fn.get("parameters")
    if isinstance(params, dict):
        fn["parameters"] = {
            k: v for k, v in params.items()
            if not (k == "type" and v == "object")
            and not (k == "additionalProperties" and isinstance(v, bool))
        }
    return fn


@dataclass(frozen=True)
class StudioFormat(ChatFormat):
    """The studio's tool convention rendered inside a template that has no tool support."""

    def system_text(self, system: str, tools: list[cn.Tool]) -> str:
        lines = "\n".join(json.dumps(compact_tool(t), ensure_ascii=False, separators=(",", ":"))
                           for t in tools)
        block = STUDIO_PREAMBLE + lines + "\n</tools>"
        return f"{system}\n\n{block}" if system else block

    @staticmethod
    def tool_response(content: str, name: str | None) -> str:
        quoted = html.escape(name, quote=True) if name else ""
        head = f'<tool_response name="{quoted}">' if name else "<tool_response>"
        return f"{head}\n{content}\n</tool_response>"

    def turns(
        self, messages: list[cn.Message], tools: list[cn.Tool]
    ) -> tuple[list[TemplateTurn], list[dict[str, Any]] | None]:
        out: list[TemplateTurn] = []
        pending_tools = bool(tools)
        if pending_tools and not any(m.role == "system" for m in messages):
            out.append(TemplateTurn({"role": "system", "content": self.system_text("", tools)},
                                    "system"))
            pending_tools = False
        for i, m in enumerate(messages):
            if m.role == "tool":
                block = self.tool_response(m.content, cn.tool_name_for(messages, i))
                prev = out[-1] if out else None
                if prev is not None and prev.role == "tool":  # one user turn per result group
                    prev.message["content"] += "\n" + block
                else:
                    out.append(TemplateTurn({"role": "user", "content": block}, "tool"))
                continue
            content = m.content
            if m.role == "system" and pending_tools:
                content = self.system_text(content, tools)
                pending_tools = False
            elif m.role == "assistant":
                content = self.assistant_text(m.content, m.tool_calls)
            out.append(TemplateTurn({"role": m.role, "content": content}, m.role))
        return out, None


# --- templates with tools= (Hermes-style and generic) ----------------------------------------


@dataclass(frozen=True)
class HermesFormat(ChatFormat):
    """The template's own tool rendering (`tools=`, OpenAI-style `tool_calls`, `tool` roles)."""

    def turns(
        self, messages: list[cn.Message], tools: list[cn.Tool]
    ) -> tuple[list[TemplateTurn], list[dict[str, Any]] | None]:
        out = [TemplateTurn(cn.hf_message(m), m.role) for m in messages]
        return out, ([cn.openai_tool(t) for t in tools] if tools else None)


@dataclass(frozen=True)
class GenericFormat(HermesFormat):
    """Any template that accepts `tools=`: markers configurable, bare JSON read as calls too."""

    def with_markers(
        self,
        open: str,
        close: str | None,
        *,
        shape: Literal["array", "object", "any"] = "any",
        special_tokens: bool = False,
    ) -> GenericFormat:
        syntax = CallSyntax(open, close, shape, special_tokens=special_tokens,
                            block_open=open, block_close=close or "", between="\n")
        return dataclasses.replace(self, syntax=syntax)

    def with_end_of_turn(self, *tokens: str) -> GenericFormat:
        return dataclasses.replace(self, end_of_turn=tuple(t for t in tokens if t))
