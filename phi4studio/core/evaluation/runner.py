"""The evaluation runner: walks a run's frozen cases, asks the model, scores, appends results.

It knows nothing of processes: `generate(prompt, guidance, max_new_tokens)` is given to it (the
evaluation worker passes the inference worker's client; tests pass a fake). Each finished case
is appended to results.jsonl at once (results.py), so a cancelled or crashed run resumes at the
first case without a result; a case cut short is run again from its start, never half-kept.

Prompts are rendered by the model's chat format (`core.chatformats`), and outputs read back by
it. With `ask_missing`, an answer whose calls give a required value the conversation does not
state is scored as the question asking for it (core.inference.grounding). With `stop_repeats`,
an array item that repeats an earlier one where the schema wants unique items is dropped, as a
repeated call is (core.inference.unique), and a call that repeats an earlier call of its tool
with a value of its own that the conversation does not state is dropped (an invented
variation, core.inference.grounding). Whole numbers at a schema's `number` places are read as
floats (core.inference.floats). Guided decoding
(`guided`): "off"; "grammar" (the format's Lark grammar: free text, or text
then calls of the offered tools; declining stays possible); "calls" (a JSON array of at least
one call: only where every item expects a call).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from phi4studio.core.evaluation import metrics
from phi4studio.core.evaluation.cases import Case, checkpoints, expected_at
from phi4studio.core.evaluation.results import RunDir
from phi4studio.core.evaluation.scoring import add, is_error_result, output_counts, score_turn, zero
from phi4studio.core.inference.floats import as_schema_floats

if TYPE_CHECKING:
    from phi4studio.core.inference.grounding import Said

GUIDED_MODES = ("off", "grammar", "calls")
DEFAULT_MAX_NEW_TOKENS = 256

# generate(prompt, guidance (type, text) | None, max_new_tokens[, calls=CallControl]) -> the
# worker's result data
GenerateFn = Callable[[str, "tuple[str, str] | None", int], Awaitable[Mapping[str, Any]]]
ProgressFn = Callable[[int, int, "Mapping[str, Any] | None", float | None], None]


class GuidanceRejected(Exception):
    """The backend refused the grammar (bad_guidance): the runner retries without it."""


@dataclass
class Answer:
    """One generation, read back."""

    prompt: str
    raw: str
    calls: list[dict[str, Any]]
    parse_errors: list[str]
    content: str = ""
    ttft_s: float | None = None
    total_s: float | None = None
    tokens: int | None = None
    stop_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    p_call: float | None = None  # the model's probability of starting a call (CallControl)
    withheld: list[dict[str, Any]] = field(default_factory=list)  # calls with made-up values
    p_more: list[float] = field(default_factory=list)  # after each call: P(another call)
    stated_s: float = 0.0  # the continuations' time (stated_optional), within total_s

    def record(self, with_prompt: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"raw": self.raw, "calls": self.calls,
                               "parse_errors": self.parse_errors, "ttft_s": self.ttft_s,
                               "total_s": self.total_s, "tokens": self.tokens,
                               "stop_reason": self.stop_reason}
        if self.p_call is not None:
            out["p_call"] = self.p_call
        if self.p_more:
            out["p_more"] = self.p_more
        if with_prompt:
            out["prompt"] = self.prompt
        if self.notes:
            out["notes"] = self.notes
        if self.withheld:
            out["withheld"] = self.withheld
        if self.stated_s:
            out["stated_s"] = round(self.stated_s, 5)
        return out


class Runner:
    def __init__(self, run: RunDir, generate: GenerateFn, fmt: Any, *,
                 guided: str = "off", max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 step_limit: int = 20, benchmarks_root: Any = None,
                 on_progress: ProgressFn | None = None,
                 cancelled: Callable[[], bool] = lambda: False,
                 call_threshold: float | None = None, text_tokens: int | None = None,
                 stop_repeats: bool = False, ask_missing: bool = False,
                 more_threshold: float | None = None, stated_optional: bool = False,
                 tool_words: float | None = None, stated_numbers: bool = False) -> None:
        if guided not in GUIDED_MODES:
            raise ValueError(f"guided must be one of {GUIDED_MODES}")
        self.run_dir = run
        self.generate = generate
        self.fmt = fmt
        self.guided = guided
        self.max_new_tokens = max_new_tokens
        self.step_limit = step_limit
        self.benchmarks_root = benchmarks_root
        self.on_progress = on_progress
        self.cancelled = cancelled
        self.call_threshold = call_threshold
        self.text_tokens = text_tokens
        self.stop_repeats = stop_repeats
        self.ask_missing = ask_missing
        self.more_threshold = more_threshold
        self.stated_optional = stated_optional
        self.tool_words = tool_words
        self.stated_numbers = stated_numbers
        self._guidance_cache: dict[str, tuple[str, str] | None] = {}

    # --- the loop ---------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        """Evaluate every case not yet done; returns the summary (also written to disk)."""
        cases = list(self.run_dir.cases())
        done = self.run_dir.done_ids()
        total = len(cases)
        n_done = sum(1 for c in cases if c["id"] in done)
        started = time.monotonic()
        fresh = 0
        if self.on_progress is not None:
            self.on_progress(n_done, total, None, None)
        with self.run_dir.open_for_append() as fh:
            for case in cases:
                if case["id"] in done:
                    continue
                if self.cancelled():
                    break
                result = await self.run_case(case)
                if result is None:  # cancelled in the middle: not kept
                    break
                RunDir.append(fh, result)
                done.add(case["id"])
                n_done += 1
                fresh += 1
                if self.on_progress is not None:
                    per_case = (time.monotonic() - started) / fresh
                    self.on_progress(n_done, total, result, per_case * (total - n_done))
        summary = metrics.summarize(self.run_dir.results(), total_cases=total)
        summary["complete"] = n_done >= total
        self.run_dir.write_summary(summary)
        return summary

    async def run_case(self, case: Case) -> dict[str, Any] | None:
        t0 = time.perf_counter()
        base = {k: case.get(k) for k in ("id", "suite", "category", "scenario", "kind")}
        try:
            if case.get("kind") == "bfcl_multi_turn":
                from phi4studio.core.evaluation.bfcl_multiturn import run_case as run_mt

                body = await run_mt(self, case)
            elif case.get("kind") == "tooltalk":
                from phi4studio.core.evaluation.tooltalk import run_case as run_tt

                body = await run_tt(self, case)
            else:
                body = await self.replay(case)
        except asyncio.CancelledError:
            raise
        except _Cancelled:
            return None
        except Exception as exc:  # noqa: BLE001 - one broken case never stops the run
            if self.cancelled():
                return None
            body = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "turns": [],
                    "counts": zero(), "tools": {}, "called": []}
        return {**base, **body, "time_s": round(time.perf_counter() - t0, 4)}

    # --- replay cases -------------------------------------------------------------------------
    async def replay(self, case: Case) -> dict[str, Any]:
        messages = case.get("messages") or []
        tools = case.get("tools") or []
        counts = zero()
        per_tool: dict[str, list[int]] = {}
        called: list[str] = []
        turns: list[dict[str, Any]] = []
        marks = checkpoints(case)
        strict = not str(case.get("suite") or "").startswith("bfcl:")  # BFCL keeps its rule
        for k, idx in enumerate(marks):
            expected = expected_at(case, k)
            history = messages[:idx]
            recovery = case.get("scenario") == "missing_info_or_error" or (
                bool(history) and history[-1].get("role") == "tool"
                and is_error_result(history[-1].get("content")))
            answer = await self.ask(history, tools, expect_call=bool(expected))
            scored = score_turn(tools, answer.calls, answer.parse_errors, expected,
                                recovery=recovery,
                                unreadable=strict and self._unreadable(answer))
            add(counts, scored["counts"])
            for name, (e, c) in scored["tools"].items():
                row = per_tool.setdefault(name, [0, 0])
                row[0] += e
                row[1] += c
            called += [str(c.get("name")) for c in answer.calls]
            turns.append({"index": k, "message_index": idx, "expected": expected,
                          "correct": scored["correct"], "error": scored["error"],
                          "error_type": scored["error_type"], "recovery": recovery,
                          **answer.record()})
        ok = all(t["correct"] for t in turns)
        n_users = sum(1 for m in messages if m.get("role") == "user")
        return {"ok": ok, "turns": turns, "counts": counts, "tools": per_tool, "called": called,
                "multi_turn": n_users > 1 or case.get("scenario") == "multi_turn"}

    # --- one generation -------------------------------------------------------------------------
    async def ask(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]],
                  *, expect_call: bool = True) -> Answer:
        if self.cancelled():
            raise _Cancelled()
        from phi4studio.core.inference.grounding import Said, conversation_text

        prompt = self.fmt.render_prompt(list(messages), list(tools))
        # what the conversation states, read once for the options that check values against it
        said = (Said(conversation_text(messages)) if self.stated_numbers or self.stated_optional
                or self.ask_missing or self.stop_repeats else None)
        guided_tools = tools
        if self.stated_numbers and said is not None:  # required numbers only as stated
            from phi4studio.core.inference.grounding import numbers_as_stated

            guided_tools = [numbers_as_stated(t, said) for t in tools]
        guidance = self._guidance(guided_tools, expect_call)
        notes: list[str] = []
        control = self._control(tools, guidance, messages)
        kw: dict[str, Any] = {"calls": control} if control is not None else {}
        try:
            data = await self.generate(prompt, guidance, self.max_new_tokens, **kw)
        except GuidanceRejected as exc:
            notes.append(f"guidance refused, generated without it: {exc}")
            self._guidance_cache[_tools_key(guided_tools) + self.guided] = None
            guidance = None
            data = await self.generate(prompt, None, self.max_new_tokens)
        if data.get("stop_reason") == "repeated_call":
            notes.append("stopped at a repeated call")
        if data.get("cut_call_dropped"):
            notes.append("a call the token budget cut off was dropped")
        if data.get("close_mended"):
            notes.append("the token budget ran out in a call's close marker: it was completed")
        if data.get("loops_broken"):
            notes.append(f"a looping value was ended ({data['loops_broken']} step(s))")
        if data.get("closed_at_budget"):
            notes.append("the token budget ran out inside a call: its values were ended so that "
                         f"it closes ({data['closed_at_budget']} step(s))")
        if data.get("names_weighed"):
            notes.append("the tool's name was weighed by the request's words "
                         f"({data['names_weighed']} step(s))")
        if data.get("stop_reason") == "stopped" and self.cancelled():
            raise _Cancelled()
        text = str(data.get("text") or "")
        if guidance is not None and guidance[0] == "json_schema":
            parsed = self.fmt.parse_payload(text)
        else:
            parsed = self.fmt.parse(text)
        calls = as_schema_floats([{"name": c["name"], "arguments": c["arguments"]}
                                  for c in parsed.tool_calls], tools)
        content = str(parsed.content or "")
        if self.stop_repeats and calls:  # a repeated item, as a repeated call, is dropped
            from phi4studio.core.inference.grounding import invented_variants
            from phi4studio.core.inference.unique import drop_repeated_items

            calls, repeats = drop_repeated_items(calls, tools)
            if repeats:
                notes.append("repeated items dropped where the schema wants them unique: " +
                             ", ".join(repeats))
            variants = invented_variants(calls, said) if said is not None else []
            if variants:
                gone = {i for i, _ in variants}
                notes.append("calls repeating an earlier one with values the conversation does "
                             "not state were dropped: " + ", ".join(
                                 f"{calls[i]['name']}.{k}" for i, keys in variants for k in keys))
                calls = [c for i, c in enumerate(calls) if i not in gone]
        extra_s = 0.0
        if self.stated_optional and calls and guidance is not None and said is not None:
            calls, added, extra_s = await self._add_stated(prompt, text, calls, tools, said)
            if added:
                notes.append("optional values the request states were added: " +
                             ", ".join(added))
        withheld: list[dict[str, Any]] = []
        if self.ask_missing and calls and said is not None:
            from phi4studio.core.inference.grounding import ask_text, ungrounded_calls

            missing = ungrounded_calls(calls, tools, said)
            if missing:
                withheld, calls, content = calls, [], ask_text(missing)
                notes.append("calls withheld, required values not in the conversation: " +
                             ", ".join(f"{n}.{k}" for n, keys in missing for k in keys))
        return Answer(prompt=prompt, raw=text, calls=calls, parse_errors=list(parsed.errors),
                      content=content, withheld=withheld,
                      ttft_s=_num(data.get("ttft_s")), total_s=_plus(data.get("total_s"), extra_s),
                      tokens=_int(data.get("completion_tokens")),
                      stop_reason=data.get("stop_reason"), notes=notes,
                      p_call=_num(data.get("p_call")), stated_s=extra_s,
                      p_more=[float(p) for p in data.get("p_more") or []
                              if isinstance(p, (int, float))])

    async def _add_stated(self, prompt: str, text: str, calls: list[dict[str, Any]],
                          tools: Sequence[Mapping[str, Any]], said: Said
                          ) -> tuple[list[dict[str, Any]], list[str], float]:
        """Each call's optional values that the conversation states, offered to the model by
        continuing the call as it wrote it (core.inference.stated); returns the calls, what was
        added ("tool.param=value") and the continuations' time."""
        from phi4studio.core.inference.stated import (
            TOKENS_PER_VALUE,
            arguments_end,
            continuation_grammar,
            plan,
            read_continuation,
            stated,
        )

        by_name = {str(t.get("name")): t for t in tools}
        out: list[dict[str, Any]] = []
        added: list[str] = []
        seconds = 0.0
        pos = 0
        for call in calls:
            args = call.get("arguments")
            todo = plan(call, by_name.get(str(call.get("name"))), said)
            end = arguments_end(text, args, pos) if isinstance(args, Mapping) else None
            if end is None or not isinstance(args, Mapping) or not (todo.flags or todo.ask):
                out.append(call)
                continue
            pos = end
            new = dict(args)
            new.update(todo.flags)
            if todo.ask:
                first = not args
                grammar = continuation_grammar(todo.ask, first)
                budget = TOKENS_PER_VALUE * len(todo.ask)
                try:
                    data = await self.generate(prompt + text[:end], ("lark_grammar", grammar),
                                               budget)
                except GuidanceRejected:
                    data = {}
                seconds += _num(data.get("total_s")) or 0.0
                values = read_continuation(str(data.get("text") or ""), todo.ask, first)
                for k, v in values.items():  # each against the values kept before it
                    if stated(k, v, new, said):
                        new[k] = v
            for k in new:
                if k not in args:
                    added.append(f"{call.get('name')}.{k}={json.dumps(new[k])}")
            out.append({**call, "arguments": new})
        return out, added, seconds

    def _unreadable(self, answer: Answer) -> bool:
        """The answer attempted a call (the format's call marker, or a bare JSON answer that
        did not parse) and no call could be read from it: not the same as a decline."""
        if answer.calls or answer.withheld or not answer.parse_errors:
            return False
        marker = self.fmt.syntax.open
        return not marker or marker in answer.raw

    def _control(self, tools: Sequence[Mapping[str, Any]],
                 guidance: tuple[str, str] | None,
                 messages: Sequence[Mapping[str, Any]] = ()) -> Any:
        """The tool-call decoding control (core.inference.CallControl) for this generation:
        the call-or-text decision by probability mass, the text budget and the repeat stop
        apply where the output is the format's markers under its calls-first grammar; with
        `tool_words`, the tool's name is weighed by the request's words
        (core.inference.relevance)."""
        from phi4studio.core.inference.relevance import name_weights
        from phi4studio.core.inference.requests import CallControl

        if not tools or not self.fmt.syntax.open or (
                guidance is not None and guidance[0] == "json_schema"):
            return None  # no call marker to decide on (bare JSON output)
        decide = guidance is not None and self.call_threshold is not None
        if not (decide or self.stop_repeats or (self.tool_words and guidance is not None)):
            return None
        syn = self.fmt.syntax  # one block per call: the step after a block decides on more
        between = syn.between if syn.shape == "object" and syn.block_close else ""
        return CallControl(syn.open, self.fmt.calls_close,
                           self.call_threshold if decide else None,
                           self.text_tokens if decide else None, self.stop_repeats,
                           between=between,
                           more_threshold=self.more_threshold if decide and between else None,
                           names=name_weights(tools, messages, self.tool_words)
                           if self.tool_words and guidance is not None else None)

    def _guidance(self, tools: Sequence[Mapping[str, Any]],
                  expect_call: bool) -> tuple[str, str] | None:
        if self.guided == "off" or not tools:
            return None
        if self.guided == "calls" and not expect_call:
            return None
        key = _tools_key(tools) + self.guided
        if key not in self._guidance_cache:
            try:
                if self.guided == "calls":
                    spec = self.fmt.guidance(tools, kind="json_schema")
                else:
                    spec = self.fmt.guidance(tools, calls_first=self.call_threshold is not None)
                self._guidance_cache[key] = (spec.type, spec.text)
            except (ValueError, TypeError):
                self._guidance_cache[key] = None
        return self._guidance_cache[key]


class _Cancelled(Exception):
    pass


def _tools_key(tools: Sequence[Mapping[str, Any]]) -> str:
    blob = json.dumps(list(tools), sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _plus(v: Any, extra: float) -> float | None:
    n = _num(v)
    return None if n is None else round(n + extra, 5)


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def count_output(counts: dict[str, int], tools: Sequence[Mapping[str, Any]],
                 answer: Answer) -> None:
    """Adds one generation's JSON/schema validity to `counts` (multi-turn kinds use it)."""
    add(counts, output_counts(tools, answer.calls, answer.parse_errors))
