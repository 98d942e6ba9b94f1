"""The approval policy: which tool calls may run without asking the user.

- Every call asks the user first, one call at a time (approve, deny, edit the arguments, or type
  a result instead: mock).
- "Always allow" can be set per tool, and only for a tool its server annotates read-only
  (`readOnlyHint: true`) and not destructive. It lasts for the session (this policy object).
- A tool annotated destructive (`destructiveHint: true`) always asks, whatever else it says.
- Nothing else ever runs on its own: no annotations means ask (MCP's defaults are
  readOnlyHint false, destructiveHint true).

Annotations are read from the tool's current definition at every decision, so a tool that a
server re-lists as destructive loses its "always allow" at once.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from phi4studio.core.errors import StudioError


class ApprovalError(StudioError):
    """An approval the policy does not permit (always-allow on a tool that is not read-only)."""


def annotations_of(tool: Mapping[str, Any] | None) -> dict[str, Any]:
    ann = (tool or {}).get("annotations")
    return dict(ann) if isinstance(ann, Mapping) else {}


def is_read_only(tool: Mapping[str, Any] | None) -> bool:
    return annotations_of(tool).get("readOnlyHint") is True


def is_destructive(tool: Mapping[str, Any] | None) -> bool:
    return annotations_of(tool).get("destructiveHint") is True


def can_always_allow(tool: Mapping[str, Any] | None) -> bool:
    """Read-only (annotated so) and not annotated destructive."""
    return is_read_only(tool) and not is_destructive(tool)


def risk_label(tool: Mapping[str, Any] | None) -> str:
    """For cards: 'destructive', 'read-only' or 'may change things'."""
    if is_destructive(tool):
        return "destructive"
    if is_read_only(tool):
        return "read-only"
    return "may change things"


class Action(str, enum.Enum):
    APPROVE = "approve"  # run it (with `arguments` when the user edited them)
    ALWAYS = "always"  # run it, and from now on this (read-only) tool without asking
    DENY = "deny"  # do not run; the model is told the user refused
    MOCK = "mock"  # do not run; `result` (typed by the user) is the tool's answer


@dataclass(frozen=True)
class Approval:
    action: Action
    arguments: dict[str, Any] | None = None  # edited arguments (APPROVE / ALWAYS)
    result: str | None = None  # MOCK: the result text; DENY: an optional reason
    is_error: bool = False  # MOCK: the typed result is an error

    @classmethod
    def approve(cls, arguments: dict[str, Any] | None = None) -> Approval:
        return cls(Action.APPROVE, arguments)

    @classmethod
    def always(cls) -> Approval:
        return cls(Action.ALWAYS)

    @classmethod
    def deny(cls, reason: str | None = None) -> Approval:
        return cls(Action.DENY, result=reason)

    @classmethod
    def mock(cls, result: str, *, is_error: bool = False) -> Approval:
        return cls(Action.MOCK, result=result, is_error=is_error)

    @property
    def runs(self) -> bool:
        return self.action in (Action.APPROVE, Action.ALWAYS)


@dataclass
class ApprovalPolicy:
    always_allowed: set[str] = field(default_factory=set)

    def needs_approval(self, tool: Mapping[str, Any] | None) -> bool:
        """True unless the user chose "always allow" for this tool and it is (still) read-only
        and not destructive."""
        if tool is None:
            return True
        return not (tool.get("name") in self.always_allowed and can_always_allow(tool))

    def allow_always(self, tool: Mapping[str, Any]) -> None:
        name = str(tool.get("name") or "")
        if is_destructive(tool):
            raise ApprovalError(f"{name!r} is annotated destructive: it always asks.")
        if not is_read_only(tool):
            raise ApprovalError(
                f"{name!r} is not annotated read-only, so it cannot be always allowed.",
                hint="Only tools their server marks readOnlyHint can run without asking.")
        self.always_allowed.add(name)

    def revoke(self, name: str) -> None:
        self.always_allowed.discard(name)

    def apply(self, tool: Mapping[str, Any] | None, approval: Approval) -> Approval:
        """Record what an approval implies (ALWAYS adds the tool); refuses ALWAYS for a tool
        that cannot have it."""
        if approval.action is Action.ALWAYS:
            if tool is None:
                raise ApprovalError("An unknown tool cannot be always allowed.")
            self.allow_always(tool)
        return approval

    def allowed(self, tools: Iterable[Mapping[str, Any]]) -> list[str]:
        """The tools that currently run without asking."""
        return [str(t.get("name")) for t in tools if not self.needs_approval(t)]
