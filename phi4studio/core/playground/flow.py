"""The execution flow: the model calls tools, the user decides, approved calls run on their MCP
server, the results go back, and the model continues until it answers without calls.

    runner = ToolRunner(hub, catalog, policy)
    turns = await converse(session, "Add a note: buy milk", runner, decide)

`decide(call)` is the user's decision (an Approval: approve, possibly with edited arguments;
always allow; deny; mock with a typed result). It is awaited only when the policy says the call
needs approval: a tool always-allowed by the user runs at once (only read-only ones can be, and
only while its arguments are valid); everything else asks. The calls of one turn are decided
and run concurrently, and their results join the conversation in call order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from phi4studio.core.mcp.approval import Action, Approval, ApprovalError, ApprovalPolicy
from phi4studio.core.mcp.session import ToolOutcome
from phi4studio.core.playground.records import CallRecord, CallStatus, TurnRecord
from phi4studio.core.playground.session import ChatSession

Decide = Callable[[CallRecord], Awaitable[Approval]]
MAX_ROUNDS = 8


class Executor(Protocol):
    """Runs a tool on the live server that offers it (McpHub + ToolCatalog: CatalogExecutor)."""

    def can_run(self, name: str) -> bool: ...

    async def run(self, name: str, arguments: dict[str, Any]) -> ToolOutcome: ...


class CatalogExecutor:
    """Routes a call to the live MCP server its tool came from."""

    def __init__(self, hub: Any, catalog: Any, timeout_s: float | None = None) -> None:
        self.hub = hub
        self.catalog = catalog
        self.timeout_s = timeout_s

    def server_of(self, name: str) -> str | None:
        server = self.catalog.server_of(name)
        return str(server) if server else None

    def can_run(self, name: str) -> bool:
        return bool(self.hub.can_run(self.server_of(name)))

    async def run(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        server = self.server_of(name)
        if server is None:
            return ToolOutcome(f"no MCP server offers {name!r}: answer it with a typed result",
                               True, "not_running")
        outcome: ToolOutcome = await self.hub.call(server, name, arguments,
                                                   timeout_s=self.timeout_s)
        return outcome


class ToolRunner:
    def __init__(self, executor: Executor | None, policy: ApprovalPolicy | None = None) -> None:
        self.executor = executor
        self.policy = policy or ApprovalPolicy()

    def can_run(self, call: CallRecord) -> bool:
        return self.executor is not None and self.executor.can_run(call.name)

    def needs_approval(self, call: CallRecord) -> bool:
        return not call.valid or bool(call.unstated) or call.cut_short or \
            not self.can_run(call) or self.policy.needs_approval(call.tool)

    async def resolve(self, session: ChatSession, call: CallRecord, decide: Decide) -> None:
        """Decide (ask when the policy says so), then run, deny or mock one call."""
        if call.status.settled:
            return
        try:
            if self.needs_approval(call):
                approval = await decide(call)
            else:
                approval = Approval.approve()
                call.auto_approved = True
            await self.apply(session, call, approval)
        except asyncio.CancelledError:
            session.settle(call, ToolOutcome("The call was cancelled.", True, "cancelled"),
                           CallStatus.CANCELLED)
            raise

    async def apply(self, session: ChatSession, call: CallRecord, approval: Approval) -> None:
        if approval.action is Action.DENY:
            session.deny(call, approval.result)
            return
        if approval.action is Action.MOCK:
            session.mock(call, approval.result or "", is_error=approval.is_error)
            return
        if approval.action is Action.ALWAYS:
            if call.tool is None:
                raise ApprovalError("An unknown tool cannot be always allowed.")
            self.policy.allow_always(call.tool)
        if approval.arguments is not None:
            session.edit_arguments(call, approval.arguments)
        if not self.can_run(call) or self.executor is None:
            session.settle(call, ToolOutcome(
                f"no running MCP server offers {call.name!r}", True, "not_running"))
            return
        session.mark_running(call)
        outcome = await self.executor.run(call.name, call.arguments)
        session.settle(call, outcome)


async def settle_turn(session: ChatSession, turn: TurnRecord, runner: ToolRunner,
                      decide: Decide) -> None:
    """Decide and run every call of a turn (concurrently); whatever is left unsettled when this
    is cancelled is settled as cancelled, so the conversation stays well-formed."""
    try:
        await asyncio.gather(*(runner.resolve(session, c, decide) for c in turn.calls
                               if not c.status.settled))
    finally:
        session.cancel_pending()


async def converse(session: ChatSession, user_text: str | None, runner: ToolRunner,
                   decide: Decide, *, max_rounds: int = MAX_ROUNDS) -> list[TurnRecord]:
    """Add the user's message (if any), then generate, settle calls and continue, until the
    model answers without calls, fails, is stopped, or `max_rounds` turns were made."""
    if user_text is not None:
        session.add_user(user_text)
    turns: list[TurnRecord] = []
    for _ in range(max_rounds):
        turn = await session.generate()
        turns.append(turn)
        if turn.error or turn.stop_reason == "stopped" or not turn.calls:
            break
        await settle_turn(session, turn, runner, decide)
    return turns


def auto_decider(mapping: Mapping[str, Approval] | None = None,
                 default: Approval | None = None) -> Decide:
    """A scripted decision per tool name (tests, the CLI): unknown names get `default`
    (deny when not given)."""
    table = dict(mapping or {})
    fallback = default or Approval.deny("Not approved (no one was asked).")

    async def decide(call: CallRecord) -> Approval:
        return table.get(call.name, fallback)

    return decide
