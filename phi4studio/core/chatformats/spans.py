"""Which characters of a rendered conversation are trained on, and the token mask from them.

Spans come from the template itself, by prefix rendering: the text of messages[:j] is a prefix of
the full text, so message j starts where it ends, and an assistant turn's trained text starts after
the generation prompt of messages[:j] (its role header) and ends after the family's end-of-turn
token. Templates that are not prefix-stable fall back to finding the role header (a warning says
so).

The token mask (`token_mask`) marks a token trained when its first character lies in a trained
span; training scripts that cannot import the app do the same from `Rendered.to_json()`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from phi4studio.core.chatformats.types import Rendered, Span

RenderFn = Callable[[list[dict[str, Any]], bool], str]


@dataclass(frozen=True)
class TemplateTurn:
    """A message as the template receives it, and the canonical role its text is labelled with."""

    message: dict[str, Any]
    role: str


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # binary search on the first difference
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _boundary(partial: str, full: str) -> int:
    """Where `partial` stops agreeing with `full`, not inside a `<...>` marker."""
    cp = _common_prefix(partial, full)
    if cp < len(partial):
        i = full.rfind("<", max(0, cp - 32), cp)
        if i != -1 and ">" not in full[i:cp]:
            cp = i
    return cp


def compute_spans(
    turns: Sequence[TemplateTurn],
    render: RenderFn,
    end_of_turn: Sequence[str],
    *,
    add_generation_prompt: bool,
    format_name: str,
) -> Rendered:
    messages = [t.message for t in turns]
    text = render(messages, add_generation_prompt)
    n = len(turns)
    warnings: list[str] = []
    bounds = [0] * (n + 1)
    for j in range(1, n + 1):
        bounds[j] = max(bounds[j - 1], _boundary(render(messages[:j], False), text))
    if not add_generation_prompt:
        bounds[n] = len(text)
    spans: list[Span] = []
    for j, turn in enumerate(turns):
        lo, hi = bounds[j], bounds[j + 1]
        if turn.role != "assistant":
            spans.append(Span(lo, hi, False, turn.role))
            continue
        start = _turn_start(messages, j, render, text, lo, warnings)
        end = _turn_end(text, start, hi, end_of_turn, warnings)
        if end > hi:
            hi = end
            for k in range(j + 1, n + 1):
                bounds[k] = max(bounds[k], end)
        spans += [
            Span(lo, start, False, "assistant"),
            Span(start, end, True, "assistant"),
            Span(end, hi, False, "assistant"),
        ]
    tail_role = "assistant" if add_generation_prompt else "other"
    spans.append(Span(bounds[n], len(text), False, tail_role))
    return Rendered(text, tuple(_merge(spans)), format_name, tuple(warnings))


def _turn_start(
    messages: list[dict[str, Any]],
    j: int,
    render: RenderFn,
    text: str,
    lo: int,
    warnings: list[str],
) -> int:
    prompt = render(messages[:j], True)
    if text.startswith(prompt) and len(prompt) >= lo:
        return len(prompt)
    # Not prefix-stable: find the role header (the generation prompt's own text) after `lo`.
    plain = render(messages[:j], False)
    header = prompt[_boundary(plain, prompt) :]
    idx = text.find(header, lo) if header else -1
    warnings.append(f"message {j}: the template is not prefix-stable; its header was searched")
    return idx + len(header) if idx != -1 else lo


def _turn_end(
    text: str, start: int, hi: int, end_of_turn: Sequence[str], warnings: list[str]
) -> int:
    best = -1
    best_len = 0
    for tok in end_of_turn:
        i = text.find(tok, start)
        if i != -1 and (best == -1 or i < best):
            best, best_len = i, len(tok)
    if best == -1 or best > max(hi, start):
        warnings.append(f"no end-of-turn token after position {start}")
        return max(hi, start)
    return best + best_len


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s in spans:
        if s.end <= s.start:
            continue
        if out and out[-1].trained == s.trained and out[-1].role == s.role \
                and out[-1].end == s.start:
            out[-1] = Span(out[-1].start, s.end, s.trained, s.role)
        else:
            out.append(s)
    return out


# --- tokens --------------------------------------------------------------------------------


def token_mask(spans: Sequence[Span], offsets: Sequence[tuple[int, int]]) -> list[bool]:
    """For each token (char offsets), whether it is trained: its first char is in a trained span.

    Tokens with no characters (added BOS/EOS) are not trained.
    """
    trained = [(s.start, s.end) for s in spans if s.trained]
    starts = [a for a, _ in trained]
    out: list[bool] = []
    for a, b in offsets:
        if b <= a:
            out.append(False)
            continue
        k = bisect.bisect_right(starts, a) - 1
        out.append(k >= 0 and trained[k][0] <= a < trained[k][1])
    return out


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    mask: list[bool]

    def labels(self, ignore_index: int = -100) -> list[int]:
        return [t if m else ignore_index for t, m in zip(self.input_ids, self.mask, strict=True)]


def tokenize(rendered: Rendered, tokenizer: Any) -> TokenizedExample:
    """Tokenize the rendered text (no extra special tokens: the template wrote them) with a fast
    tokenizer that returns offsets, and mask every token outside the trained spans."""
    enc = tokenizer(rendered.text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    offsets = [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    return TokenizedExample(ids, token_mask(rendered.spans, offsets))
