"""Tool-call control during decoding (`GenerateRequest.calls`, docs/inference.md).

What a grammar cannot express: deciding call-or-text by probability mass at the first step,
deciding after each call between another call and the end by a threshold, stopping a text
answer early, ending a call list at the first call that repeats an earlier
one (or at a call the token budget cut off), and ending a value that loops. Pure functions
over logits (numpy) and text, so they are tested without a model; the engine applies them
through onnxruntime-genai's `get_logits`/`set_logits`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

BARRED = -1e9  # a logit no token can win against (finite: softmax stays defined)


def token_probability(logits: Any, token_id: int) -> float:
    """Softmax probability of `token_id` in a logits array (any leading shape, vocab last)."""
    import numpy as np

    row = np.asarray(logits, dtype=np.float64).reshape(-1)
    top = float(row.max())
    return float(np.exp(row[token_id] - top) / np.exp(row - top).sum())


def choice_probability(logits: Any, token_id: int, others: Sequence[int]) -> float:
    """The probability of `token_id` against the tokens `others` only (softmax over them):
    a choice the grammar leaves between a few tokens, read from the model's own logits."""
    import numpy as np

    row = np.asarray(logits, dtype=np.float64).reshape(-1)
    ids = [token_id, *(i for i in others if i != token_id)]
    sub = row[ids]
    top = float(sub.max())
    weights = np.exp(sub - top)
    return float(weights[0] / weights.sum())


def forced(logits: Any, token_id: int | Sequence[int]) -> Any:
    """Logits where only `token_id` (or one of several ids, equally) can be chosen (the same
    shape and dtype)."""
    import numpy as np

    out = np.full_like(np.asarray(logits), BARRED)
    out[..., list(token_id) if isinstance(token_id, Sequence) else token_id] = 0.0
    return out


def barred(logits: Any, token_id: int) -> Any:
    """Logits where `token_id` cannot be chosen."""
    import numpy as np

    out = np.array(logits, copy=True)
    out[..., token_id] = BARRED
    return out


LOOP_PERIOD = 32  # the longest token cycle `loop_next` looks for


def loop_next(ids: list[int], run: int, max_period: int = LOOP_PERIOD) -> int | None:
    """The token that would continue a loop at the end of `ids`, else None.

    A loop: the last `run` tokens (at least three turns of the cycle) repeat a cycle of
    `max_period` tokens or fewer, the shortest such cycle is taken. Small tuned models fall
    into one inside a value (`/1000/1000/1000...`, newline after newline) and stay there until
    the token budget cuts the call, which is then invalid JSON (`escaped` ends the value).
    """
    n = len(ids)
    for period in range(1, max_period + 1):
        span = max(run, 3 * period)
        if n < span:
            continue
        tail = ids[n - span:]
        if all(tail[i] == tail[i - period] for i in range(period, span)):
            return ids[n - period]
    return None


LOOP_PENALTY = 1e3  # the gap between `escaped`'s tiers, wider than a model's logits range


def escaped(logits: Any, token_id: int | None, *tiers: Any) -> Any:
    """Logits that end the value being written: the tokens of each tier go before those of the
    tiers after it and before all others (each group keeping its order), and `token_id` (the
    token that would continue a loop, `loop_next`) is barred. The engine's tiers: tokens that
    start with a closing quote (a string), with `@` (an address's local part, which cannot end
    before its `@`), with `]` or `}` (an array or object), then with `,` (a number where more
    required arguments follow). The grammar still decides what is allowed, so the first tier it
    allows wins; where it allows none (the first digit of a number), the model's next choice
    other than the loop's token stands."""
    import numpy as np

    out = np.array(logits, copy=True)
    kept = [(ids, out[..., ids].copy()) for ids in tiers]
    out -= LOOP_PENALTY * (len(tiers) + 1)
    for rank, (ids, values) in enumerate(kept):
        out[..., ids] = values - LOOP_PENALTY * rank
    if token_id is not None:
        out[..., token_id] = BARRED
    return out


class _AfterMarker:
    """Streamed text read a character at a time, from the first call marker on, each
    character once across calls of `feed` (the text only grows)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self._i: int | None = None  # next character to scan

    def _chars(self, text: str) -> Iterator[tuple[int, str]]:
        """(index after the character, character) for each character not yet read."""
        if self._i is None:
            k = text.find(self.marker)
            if k < 0:
                return
            self._i = k + len(self.marker)
        while self._i < len(text):
            self._i += 1
            yield self._i, text[self._i - 1]


class RepeatWatch(_AfterMarker):
    """Watches streamed text for a tool call that repeats an earlier call of the same answer.

    A call is a JSON object that opens after the call marker while no other object is open
    (an item of the call array, or a call block's object); two calls are the same when their
    text is. `feed(text)` takes the whole text so far and returns where to cut it (the end of
    the last call before the repeat) once a repeat is complete, else None.
    """

    def __init__(self, marker: str) -> None:
        super().__init__(marker)
        self._stack: list[str] = []
        self._in_string = False
        self._escaped = False
        self._start: int | None = None
        self._calls: list[tuple[int, int]] = []

    @property
    def calls(self) -> int:
        return len(self._calls)

    def unfinished(self, text: str) -> int | None:
        """Where to cut `text` (the end of the last complete call) when a call began after it
        and is still open: the token budget ran out inside it. None when nothing is open."""
        self.feed(text)
        if not self._calls:
            return None
        end = self._calls[-1][1]
        if self._start is not None or self.marker in text[end:]:
            return end
        return None

    def mended(self, text: str, close: str, between: str = "") -> str | None:
        """`text` ended properly where the budget cut it after its last complete call, inside
        that call's `close` (the rest of it is added) or inside the opening of a next call that
        has not begun (`between` and the marker: cut back to the close). None: nothing to mend.
        Without fast-forwarding, forced text such as a close marker comes a token at a time, so
        the budget can end in it."""
        self.feed(text)
        if not self._calls or self._start is not None or not close:
            return None
        end = self._calls[-1][1]
        tail = text[end:]
        if len(tail) < len(close) and close.startswith(tail):
            return text + close[len(tail):]
        rest = tail[len(close):]
        if tail.startswith(close) and rest and (between + self.marker).startswith(rest):
            return text[:end + len(close)]
        return None

    def feed(self, text: str) -> int | None:
        for i, c in self._chars(text):
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif c == "\\":
                    self._escaped = True
                elif c == '"':
                    self._in_string = False
                continue
            if c == '"':
                self._in_string = True
            elif c in "{[":
                if c == "{" and "{" not in self._stack:
                    self._start = i - 1
                self._stack.append(c)
            elif c in "}]" and self._stack:
                self._stack.pop()
                if c == "}" and self._start is not None and "{" not in self._stack:
                    start, self._start = self._start, None
                    unit = text[start:i]
                    if any(text[s:e] == unit for s, e in self._calls):
                        return self._calls[-1][1]
                    self._calls.append((start, i))
        return None


class NameWatch(_AfterMarker):
    """Watches streamed text for the tool name being written: the string value of a call
    object's `"name"` key (a call: a JSON object opened after the call marker while no other
    object is open, as `RepeatWatch` reads it). `feed(text)` takes the whole text so far and
    returns the name's characters written so far while the text ends inside that string, else
    None. A `"name"` key inside the arguments (a deeper object) is not the tool's name."""

    def __init__(self, marker: str) -> None:
        super().__init__(marker)
        self._stack: list[str] = []
        self._string_from: int | None = None  # where the open string's characters begin
        self._escaped = False
        self._key: str | None = None  # the call object's key whose value comes next
        self._after_colon = False
        self._name_from: int | None = None  # the open string is the tool's name

    def _call_level(self) -> bool:
        return bool(self._stack) and self._stack[-1] == "{" and self._stack.count("{") == 1

    def feed(self, text: str) -> str | None:
        for i, c in self._chars(text):
            if self._string_from is not None:
                if self._escaped:
                    self._escaped = False
                elif c == "\\":
                    self._escaped = True
                elif c == '"':
                    if self._call_level() and not self._after_colon:
                        self._key = text[self._string_from:i - 1]
                    self._string_from = self._name_from = None
                continue
            if c == '"':
                self._string_from = i
                if self._call_level() and self._after_colon and self._key == "name":
                    self._name_from = i
                self._after_colon = False
            elif c == ":" and self._call_level():
                self._after_colon = True
            elif c in ",{[}]":
                self._after_colon = False
                self._key = None
                if c in "{[":
                    self._stack.append(c)
                elif c in "}]" and self._stack:
                    self._stack.pop()
        return text[self._name_from:] if self._name_from is not None else None


def name_bias(prefix: str, weights: Mapping[str, float],
              pieces: Mapping[str, Sequence[int]], quote_ids: Sequence[int]) -> dict[int, float]:
    """What to add to the logits of the next token of a tool name begun as `prefix`: for each
    offered name that continues it, its weight (`CallControl.names`) less the best such weight,
    on every token whose text (`pieces`: text -> token ids) begins the rest of that name, or
    on the tokens that close the string (`quote_ids`) where the name is complete. A token that
    begins several names takes the best of them. Empty where the names that continue the prefix
    weigh alike (nothing to tell apart)."""
    left = {n: w for n, w in weights.items() if n.startswith(prefix)}
    if len(set(left.values())) < 2:
        return {}
    top = max(left.values())
    out: dict[int, float] = {}
    for name, w in left.items():
        rest = name[len(prefix):]
        ids: list[int] = list(quote_ids) if not rest else [
            t for k in range(1, len(rest) + 1) for t in pieces.get(rest[:k], ())]
        for t in ids:
            out[t] = max(out.get(t, -math.inf), w - top)
    return {t: b for t, b in out.items() if b < 0}


def biased(logits: Any, bias: Mapping[int, float]) -> Any:
    """Logits with `bias[token]` added to each token's logit."""
    import numpy as np

    out = np.array(logits, copy=True)
    ids = list(bias)
    out[..., ids] += np.asarray([bias[t] for t in ids], dtype=out.dtype)
    return out


class Vocabulary:
    """A tokenizer's token texts, decoded once (about 0.1 s for 49k tokens) the first time call
    control needs them: which tokens end a value, which go on with a tool's name."""

    def __init__(self, tokenizer: Any, size: int) -> None:
        self._tok = tokenizer
        self.size = size
        self._list: list[tuple[int, str]] | None = None
        self._ids: dict[str, list[int]] | None = None
        self._enders: tuple[list[int], ...] | None = None

    def texts(self) -> list[tuple[int, str]]:
        """Each token id with its text."""
        if self._list is None:
            self._list = [(i, self._tok.decode([i])) for i in range(self.size)]
        return self._list

    def pieces(self) -> dict[str, list[int]]:
        """Token text -> the token ids that decode to it."""
        if self._ids is None:
            self._ids = {}
            for i, p in self.texts():
                if p:
                    self._ids.setdefault(p, []).append(i)
        return self._ids

    def enders(self) -> tuple[list[int], ...]:
        """Token ids that end a value, in tiers (`escaped`): those whose text starts with a
        double quote (a JSON string), with `@` (an email address's local part), with `]` or `}`
        (an array or object), with `,` (a number before the next argument)."""
        if self._enders is None:
            self._enders = tuple([i for i, p in self.texts() if p and p[0] in starts]
                                 for starts in ('"', "@", "]}", ","))
        return self._enders
