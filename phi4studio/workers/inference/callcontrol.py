"""Tool-call control during decoding (`GenerateRequest.calls`, docs/inference.md).

What a grammar cannot express: deciding call-or-text by probability mass at the first step,
stopping a text answer early, and ending a call list at the first call that repeats an earlier
one. Pure functions over logits (numpy) and text, so they are tested without a model; the
engine applies them through onnxruntime-genai's `get_logits`/`set_logits`.
"""

from __future__ import annotations

from typing import Any

BARRED = -1e9  # a logit no token can win against (finite: softmax stays defined)


def token_probability(logits: Any, token_id: int) -> float:
    """Softmax probability of `token_id` in a logits array (any leading shape, vocab last)."""
    import numpy as np

    row = np.asarray(logits, dtype=np.float64).reshape(-1)
    top = float(row.max())
    return float(np.exp(row[token_id] - top) / np.exp(row - top).sum())


def forced(logits: Any, token_id: int) -> Any:
    """Logits where only `token_id` can be chosen (the same shape and dtype)."""
    import numpy as np

    out = np.full_like(np.asarray(logits), BARRED)
    out[..., token_id] = 0.0
    return out


def barred(logits: Any, token_id: int) -> Any:
    """Logits where `token_id` cannot be chosen."""
    import numpy as np

    out = np.array(logits, copy=True)
    out[..., token_id] = BARRED
    return out


class RepeatWatch:
    """Watches streamed text for a tool call that repeats an earlier call of the same answer.

    A call is a JSON object that opens after the call marker while no other object is open
    (an item of the call array, or a call block's object); two calls are the same when their
    text is. `feed(text)` takes the whole text so far and returns where to cut it (the end of
    the last call before the repeat) once a repeat is complete, else None.
    """

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self._i: int | None = None  # next character to scan
        self._stack: list[str] = []
        self._in_string = False
        self._escaped = False
        self._start: int | None = None
        self._calls: list[tuple[int, int]] = []

    @property
    def calls(self) -> int:
        return len(self._calls)

    def feed(self, text: str) -> int | None:
        if self._i is None:
            k = text.find(self.marker)
            if k < 0:
                return None
            self._i = k + len(self.marker)
        i = self._i
        while i < len(text):
            c = text[i]
            i += 1
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
                        self._i = i
                        return self._calls[-1][1]
                    self._calls.append((start, i))
        self._i = i
        return None
