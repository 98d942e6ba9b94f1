"""A/B: two chats answer the same conversation side by side.

Either two models (two workers), or one loaded base model answering once without and once with
an adapter (one worker: requests name the adapter, `""` being the base). Each side keeps its own
branch of the conversation (its own answers, calls and tool results); every user message goes to
both. Generations take turns through one lock, so on a CPU the two sides never compete for the
cores and their tokens/s stay comparable; tool approvals of both sides can be pending at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from phi4studio.core.playground.flow import Decide, ToolRunner, converse
from phi4studio.core.playground.records import TurnRecord
from phi4studio.core.playground.session import ChatSession


@dataclass
class Side:
    label: str
    session: ChatSession
    decide: Decide


class ABSession:
    def __init__(self, a: ChatSession, b: ChatSession, *, labels: tuple[str, str] = ("A", "B"),
                 serialize: bool = True) -> None:
        self.lock = asyncio.Lock() if serialize else None
        for s in (a, b):
            s.lock = self.lock
        self.a, self.b = a, b
        self.labels = labels

    @property
    def sessions(self) -> tuple[ChatSession, ChatSession]:
        return self.a, self.b

    def set_tools(self, tools: list[dict[str, Any]]) -> None:
        for s in self.sessions:
            s.tools = list(tools)

    def stop(self) -> None:
        for s in self.sessions:
            s.stop()

    def reset(self) -> None:
        for s in self.sessions:
            s.reset()

    async def send(self, text: str, runner: ToolRunner, decide_a: Decide, decide_b: Decide
                   ) -> tuple[list[TurnRecord], list[TurnRecord]]:
        """The same user message to both sides; each runs its own tool loop."""
        ta, tb = await asyncio.gather(converse(self.a, text, runner, decide_a),
                                      converse(self.b, text, runner, decide_b))
        return ta, tb

    def summary(self) -> dict[str, Any]:
        """Per side: turns, calls, valid calls, mean decode tokens/s and TTFT."""
        out: dict[str, Any] = {}
        for label, s in zip(self.labels, self.sessions, strict=True):
            turns = [t for t in s.turns if not t.error]
            calls = [c for t in turns for c in t.calls]
            tps = [t.decode_tokens_per_s for t in turns if t.decode_tokens_per_s]
            ttft = [t.ttft_s for t in turns if t.ttft_s is not None]
            out[label] = {
                "model": s.model_name, "adapter": s.adapter, "turns": len(turns),
                "calls": len(calls), "valid_calls": sum(1 for c in calls if c.valid),
                "decode_tokens_per_s": sum(tps) / len(tps) if tps else None,
                "ttft_s": sum(ttft) / len(ttft) if ttft else None,
            }
        return out
