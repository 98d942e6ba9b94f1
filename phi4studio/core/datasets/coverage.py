"""Coverage and statistics: scenario mix against a target, calls per tool, parameters and enum
values used, turn and length statistics, and the gaps worth filling.

Scenario of an example without one (`infer_scenario`), first rule that applies:
  1. no tool call at all: missing_info_or_error if the last assistant message asks a question
     (ends with "?") while tools are offered, else irrelevance;
  2. a tool result reports an error (JSON with "error"/"isError", or text starting "Error",
     "Exception" or "Traceback"): missing_info_or_error;
  3. the assistant asks a question (a message ending with "?" and no call) before a later call:
     missing_info_or_error;
  4. two or more user messages: multi_turn;
  5. an assistant message with two or more calls: parallel;
  6. two or more tools offered: multiple;
  7. otherwise: single.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from phi4studio.core.datasets.schema import SCENARIOS, Example, Scenario

if TYPE_CHECKING:
    from phi4studio.core.datasets.query import ExampleFilter
    from phi4studio.core.datasets.store import DatasetStore

# Target share per scenario (issue 3's default); irrelevance is reported without a target.
DEFAULT_TARGET_MIX: dict[str, float] = {
    "single": 0.30, "multiple": 0.20, "multi_turn": 0.25, "parallel": 0.15,
    "missing_info_or_error": 0.10,
}
LENGTH_EDGES = (0, 128, 256, 512, 1024, 2048, 4096, 8192)
_ERROR_PREFIXES = ("error", "exception", "traceback")


def _as_dict(ex: Example | Mapping[str, Any]) -> Mapping[str, Any]:
    return ex.to_dict() if isinstance(ex, Example) else ex


def result_is_error(content: str) -> bool:
    text = content.strip()
    if text.lower().startswith(_ERROR_PREFIXES):
        return True
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            return False
        if isinstance(obj, dict):
            return bool(obj.get("error") or obj.get("isError") or obj.get("is_error"))
    return False


def infer_scenario(example: Example | Mapping[str, Any]) -> Scenario:
    """The scenario an example most likely teaches (rules in the module docstring)."""
    d = _as_dict(example)
    msgs = [m for m in d.get("messages") or [] if isinstance(m, Mapping)]
    n_tools = len(d.get("tools") or [])
    assistants = [m for m in msgs if m.get("role") == "assistant"]
    calls_per_turn = [len(m.get("tool_calls") or []) for m in assistants]
    if not any(calls_per_turn):
        last = str(assistants[-1].get("content") or "").rstrip() if assistants else ""
        return "missing_info_or_error" if n_tools and last.endswith("?") else "irrelevance"
    if any(m.get("role") == "tool" and result_is_error(str(m.get("content") or "")) for m in msgs):
        return "missing_info_or_error"
    seen_call = False
    for m in reversed(msgs):
        if m.get("role") == "assistant" and m.get("tool_calls"):
            seen_call = True
        elif (
            seen_call and m.get("role") == "assistant"
            and str(m.get("content") or "").rstrip().endswith("?")
        ):
            return "missing_info_or_error"
    if sum(1 for m in msgs if m.get("role") == "user") >= 2:
        return "multi_turn"
    if any(n >= 2 for n in calls_per_turn):
        return "parallel"
    return "multiple" if n_tools >= 2 else "single"


@dataclass(frozen=True)
class ScenarioShare:
    scenario: str
    count: int
    share: float
    target: float | None


@dataclass(frozen=True)
class Gap:
    kind: str  # scenario, tool, param, enum, split
    subject: str
    message: str


@dataclass(frozen=True)
class Stats:
    minimum: float
    mean: float
    maximum: float

    @staticmethod
    def of(counter: Counter[int]) -> Stats:
        if not counter:
            return Stats(0, 0.0, 0)
        values = list(counter.elements())
        return Stats(min(values), round(statistics.fmean(values), 2), max(values))


@dataclass
class CoverageReport:
    n_examples: int = 0
    scenarios: Counter[str] = field(default_factory=Counter)  # declared, else inferred
    inferred: int = 0  # examples whose scenario was inferred
    splits: Counter[str] = field(default_factory=Counter)  # "(none)" for no split
    tools_offered: Counter[str] = field(default_factory=Counter)  # examples offering the tool
    tools_called: Counter[str] = field(default_factory=Counter)  # examples calling it
    calls_per_tool: Counter[str] = field(default_factory=Counter)  # calls in all
    params_used: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    enum_values: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    messages_per_example: Counter[int] = field(default_factory=Counter)
    user_turns_per_example: Counter[int] = field(default_factory=Counter)
    calls_per_example: Counter[int] = field(default_factory=Counter)
    lengths: Counter[int] = field(default_factory=Counter)  # histogram: bin lower edge -> count
    length_is_estimate: bool = True  # True: characters / 4, no tokenizer given
    over_length: int = 0
    gaps: list[Gap] = field(default_factory=list)
    target: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TARGET_MIX))
    _schemas: dict[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)

    def scenario_mix(self) -> list[ScenarioShare]:
        n = self.n_examples or 1
        return [
            ScenarioShare(s, self.scenarios[s], self.scenarios[s] / n, self.target.get(s))
            for s in SCENARIOS
        ]

    def length_histogram(self) -> list[tuple[int, int | None, int]]:
        """(low, high or None for the open last bin, count) per bin."""
        edges = list(LENGTH_EDGES)
        return [
            (lo, edges[i + 1] if i + 1 < len(edges) else None, self.lengths[lo])
            for i, lo in enumerate(edges)
        ]

    def turn_stats(self) -> dict[str, Stats]:
        return {
            "messages": Stats.of(self.messages_per_example),
            "user_turns": Stats.of(self.user_turns_per_example),
            "calls": Stats.of(self.calls_per_example),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the CLI prints it; reports embed it)."""
        return {
            "n_examples": self.n_examples,
            "inferred_scenarios": self.inferred,
            "scenario_mix": [s.__dict__ for s in self.scenario_mix()],
            "splits": dict(self.splits),
            "tools": {
                t: {"offered": self.tools_offered[t], "called_in": self.tools_called[t],
                    "calls": self.calls_per_tool[t]}
                for t in sorted(self.tools_offered | self.tools_called)
            },
            "params_used": {t: dict(c) for t, c in self.params_used.items()},
            "enum_values": {k: dict(c) for k, c in self.enum_values.items()},
            "turns": {k: v.__dict__ for k, v in self.turn_stats().items()},
            "length_histogram": self.length_histogram(),
            "length_is_estimate": self.length_is_estimate,
            "over_length": self.over_length,
            "gaps": [g.__dict__ for g in self.gaps],
        }


def _bin(length: int) -> int:
    lo = 0
    for edge in LENGTH_EDGES:
        if length >= edge:
            lo = edge
    return lo


def add_example(
    report: CoverageReport,
    example: Example | Mapping[str, Any],
    *,
    count_tokens: Callable[[Mapping[str, Any]], int] | None = None,
    max_tokens: int | None = None,
) -> None:
    d = _as_dict(example)
    report.n_examples += 1
    scenario = d.get("scenario")
    if scenario not in SCENARIOS:
        scenario = infer_scenario(d)
        report.inferred += 1
    report.scenarios[str(scenario)] += 1
    report.splits[str(d.get("split") or "(none)")] += 1
    msgs = [m for m in d.get("messages") or [] if isinstance(m, Mapping)]
    for t in d.get("tools") or []:
        report.tools_offered[t["name"]] += 1
        report._schemas.setdefault(t["name"], t.get("inputSchema") or {})
    called: set[str] = set()
    n_calls = 0
    for m in msgs:
        for c in m.get("tool_calls") or []:
            name = str(c.get("name"))
            called.add(name)
            n_calls += 1
            report.calls_per_tool[name] += 1
            args = c.get("arguments") or {}
            props = (report._schemas.get(name) or {}).get("properties") or {}
            for k, v in args.items():
                report.params_used[name][k] += 1
                if isinstance(props.get(k), Mapping) and "enum" in props[k]:
                    report.enum_values[f"{name}.{k}"][json.dumps(v, ensure_ascii=False)] += 1
    report.tools_called.update(called)
    report.messages_per_example[len(msgs)] += 1
    report.user_turns_per_example[sum(1 for m in msgs if m.get("role") == "user")] += 1
    report.calls_per_example[n_calls] += 1
    if count_tokens is not None:
        report.length_is_estimate = False
        length = count_tokens(d)
    else:
        length = len(json.dumps(d.get("messages"), ensure_ascii=False)) // 4
    report.lengths[_bin(length)] += 1
    if max_tokens is not None and length > max_tokens:
        report.over_length += 1


def find_gaps(report: CoverageReport, *, tolerance: float = 0.8) -> list[Gap]:
    """Scenarios below `tolerance` x their target share, tools never called, parameters never
    set, enum values never used, examples without a split."""
    gaps: list[Gap] = []
    n = report.n_examples
    if n == 0:
        return [Gap("scenario", "(all)", "The dataset is empty.")]
    for s in report.scenario_mix():
        if s.target is not None and s.share < s.target * tolerance:
            gaps.append(Gap(
                "scenario", s.scenario,
                f"{s.scenario} is {s.share:.0%} of examples ({s.count}); target {s.target:.0%}.",
            ))
    for tool in sorted(report.tools_offered):
        if report.tools_called[tool] == 0:
            gaps.append(Gap(
                "tool", tool,
                f"{tool} is offered in {report.tools_offered[tool]} example(s) but never called.",
            ))
            continue
        props = (report._schemas.get(tool) or {}).get("properties") or {}
        for param, pschema in props.items():
            if report.params_used[tool][param] == 0:
                gaps.append(Gap("param", f"{tool}.{param}", f"{tool}.{param} is never set."))
            elif isinstance(pschema, Mapping) and isinstance(pschema.get("enum"), list):
                seen = report.enum_values[f"{tool}.{param}"]
                missing = [
                    v for v in pschema["enum"] if json.dumps(v, ensure_ascii=False) not in seen
                ]
                if missing:
                    values = ", ".join(json.dumps(v, ensure_ascii=False) for v in missing)
                    gaps.append(Gap("enum", f"{tool}.{param}", f"{tool}.{param} never uses "
                                    f"{values}."))
    unsplit = report.splits.get("(none)", 0)
    if unsplit:
        gaps.append(Gap("split", "(none)", f"{unsplit} example(s) are in no split."))
    return gaps


def compute_coverage(
    source: DatasetStore | Iterable[Example | Mapping[str, Any]],
    *,
    flt: ExampleFilter | None = None,
    target: Mapping[str, float] | None = None,
    count_tokens: Callable[[Mapping[str, Any]], int] | None = None,
    max_tokens: int | None = None,
    tolerance: float = 0.8,
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> CoverageReport:
    """Stream a store (or any iterable of examples) once and summarise it."""
    from phi4studio.core.datasets.store import DatasetStore

    report = CoverageReport(target=dict(target or DEFAULT_TARGET_MIX))
    if isinstance(source, DatasetStore):
        total = source.count(flt)
        items: Iterable[Example | Mapping[str, Any]] = source.iter_dicts(flt)
    else:
        total, items = 0, source
    for i, ex in enumerate(items):
        if i % 500 == 0:
            if cancelled is not None and cancelled():
                from phi4studio.core.jobs.model import JobCancelled

                raise JobCancelled()
            if progress is not None and total:
                progress(i / total, f"{i} of {total} example(s)")
        add_example(report, ex, count_tokens=count_tokens, max_tokens=max_tokens)
    report.gaps = find_gaps(report, tolerance=tolerance)
    if progress is not None:
        progress(1.0, f"{report.n_examples} example(s)")
    return report
