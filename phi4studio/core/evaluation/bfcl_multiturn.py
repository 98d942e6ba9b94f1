"""BFCL multi-turn categories: the model works against BFCL's simulated APIs, turn by turn.

The simulated API classes (file system, messaging, posting, tickets, trading, travel, vehicle,
math) are BFCL's own code, loaded from the unpacked bfcl-eval wheel inside the evaluation worker
process only (they need nothing but the standard library and mpmath). The model's calls run on
one set of instances, the ground truth's on another, as BFCL's checker does:

- in each turn the model may call tools step after step (results fed back) until it answers
  without a call; more than `step_limit` steps fails the whole entry (BFCL: force-terminated);
- after each turn with ground-truth calls, the model must have made a call, every instance's
  public state must equal the ground truth's, and the ground truth's execution results must all
  be among the model's results so far (any order) - BFCL's state and response checkers;
- turns whose ground truth is empty (missing parameter or function) are not checked, as in
  BFCL's current eval runner.

Calls are executed by name on the instance that has the method (never `eval` of model text).
"""

from __future__ import annotations

import ast
import copy
import importlib
import inspect
import json
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.evaluation import benchdata
from phi4studio.core.evaluation.runner import count_output
from phi4studio.core.evaluation.scoring import zero

if TYPE_CHECKING:
    from phi4studio.core.evaluation.cases import Case
    from phi4studio.core.evaluation.runner import Runner

PREFIX = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
CLASS_MODULES = {
    "GorillaFileSystem": "gorilla_file_system", "MathAPI": "math_api",
    "MessageAPI": "message_api", "TwitterAPI": "posting_api", "TicketAPI": "ticket_api",
    "TradingBot": "trading_bot", "TravelAPI": "travel_booking",
    "VehicleControlAPI": "vehicle_control",
}
STATELESS = ("MathAPI",)
FORBIDDEN = ("kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run")
_LOCK = threading.Lock()


def api_class(name: str, root: Path | None = None) -> Any:
    """A BFCL simulated API class, imported from the unpacked wheel."""
    if name not in CLASS_MODULES:
        raise benchdata.BenchmarkDataError(f"BFCL API class {name!r} is not supported here")
    folder = benchdata.require("bfcl", root)
    with _LOCK:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        module = importlib.import_module(f"{PREFIX}.{CLASS_MODULES[name]}")
    return getattr(module, name)


def format_result(value: Any) -> str:
    """An execution result as BFCL records it."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def parse_call(text: str) -> tuple[str, list[Any], dict[str, Any]]:
    """`mv(source='a', destination='b')` -> name, positional and keyword literals."""
    node = ast.parse(text.strip(), mode="eval").body
    if not isinstance(node, ast.Call):
        raise ValueError(f"not a call: {text!r}")
    args = [ast.literal_eval(a) for a in node.args]
    kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    return ast.unparse(node.func), args, kwargs


class ApiSet:
    """Instances of a case's involved classes, and their public methods by name."""

    def __init__(self, classes: Sequence[str], config: Mapping[str, Any], long_context: bool,
                 root: Path | None = None) -> None:
        self.instances: dict[str, Any] = {}
        self.methods: dict[str, Any] = {}
        for name in classes:
            inst = api_class(name, root)()
            if name not in STATELESS:
                inst._load_scenario(copy.deepcopy(dict(config.get(name, {}))),
                                    long_context=long_context)
            self.instances[name] = inst
            for meth, fn in inspect.getmembers(inst, predicate=inspect.ismethod):
                if not meth.startswith("_"):
                    self.methods[meth] = fn

    def call(self, name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
             ) -> str:
        try:
            short = name.split(".")[-1]
            if short in FORBIDDEN:
                raise Exception(f"Function call {short} is not allowed.")
            fn = self.methods.get(short)
            if fn is None:
                raise NameError(f"name '{short}' is not defined")
            return format_result(fn(*args, **dict(kwargs or {})))
        except Exception as exc:  # noqa: BLE001 - BFCL records every failure as the result
            return f"Error during execution: {exc}"

    def state_differences(self, other: ApiSet) -> dict[str, dict[str, Any]]:
        """Public attributes that differ from `other`'s (BFCL's state checker)."""
        out: dict[str, dict[str, Any]] = {}
        for cname, truth in other.instances.items():
            mine = self.instances[cname]
            for attr, value in vars(truth).items():
                if attr.startswith("_"):
                    continue
                if getattr(mine, attr, None) != value:
                    out.setdefault(cname, {})[attr] = {
                        "model": _short(getattr(mine, attr, None)), "ground_truth": _short(value)}
        return out


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def missing_results(truth: Sequence[str], model: Sequence[str]) -> list[str]:
    """Ground-truth results not found among the model's (multiset, any order)."""
    pool = list(model)
    missing = []
    for item in truth:
        try:
            pool.remove(item)
        except ValueError:
            missing.append(item)
    return missing


async def run_case(runner: Runner, case: Case) -> dict[str, Any]:
    data = case["data"]
    root = runner.benchmarks_root
    model = ApiSet(data["involved_classes"], data["initial_config"], data["long_context"], root)
    truth = ApiSet(data["involved_classes"], data["initial_config"], data["long_context"], root)
    tools = list(case.get("tools") or [])
    messages: list[dict[str, Any]] = []
    counts = zero()
    all_results: list[str] = []
    called: list[str] = []
    turns: list[dict[str, Any]] = []
    ok = True
    for t, user_msgs in enumerate(data["turns"]):
        tools += data["added_tools"].get(str(t), [])
        messages += user_msgs
        steps: list[dict[str, Any]] = []
        n_calls = 0
        forced = False
        last_prompt = ""
        while True:
            answer = await runner.ask(messages, tools)
            last_prompt = answer.prompt
            count_output(counts, tools, answer)
            calls = answer.calls
            called += [str(c.get("name")) for c in calls]
            msg_calls = [{"id": f"call_{t}_{len(steps)}_{i}", "name": c["name"],
                          "arguments": c["arguments"]} for i, c in enumerate(calls)]
            messages.append({"role": "assistant", "content": "" if calls else answer.content,
                             **({"tool_calls": msg_calls} if calls else {})})
            results = [model.call(c["name"], (), c["arguments"]) for c in calls]
            all_results += results
            for mc, res in zip(msg_calls, results, strict=True):
                messages.append({"role": "tool", "tool_call_id": mc["id"], "name": mc["name"],
                                 "content": res})
            steps.append({**answer.record(with_prompt=False), "results": results})
            n_calls += len(calls)
            if not calls:
                break
            if len(steps) > runner.step_limit:
                forced = True
                break
        gt_calls = data["ground_truth"][t] if t < len(data["ground_truth"]) else []
        gt_results = []
        for text in gt_calls:
            name, args, kwargs = parse_call(text)
            gt_results.append(truth.call(name, args, kwargs))
        turn = {"index": t, "steps": steps, "prompt": last_prompt, "expected": gt_calls,
                "expected_results": gt_results, "correct": True, "error": "", "error_type": ""}
        if forced:
            turn.update(correct=False, error=f"more than {runner.step_limit} steps in one turn",
                        error_type="multi_turn:force_terminated")
        elif gt_calls:
            if n_calls == 0:
                turn.update(correct=False, error=f"no call in turn {t}",
                            error_type="multi_turn:empty_turn_model_response")
            else:
                diff = model.state_differences(truth)
                missing = missing_results(gt_results, all_results)
                if diff:
                    turn.update(correct=False, error="state differs from the ground truth: "
                                + json.dumps(diff)[:1500],
                                error_type="multi_turn:instance_state_mismatch")
                elif missing:
                    turn.update(correct=False, error="execution results missing: "
                                + json.dumps(missing)[:1500],
                                error_type="multi_turn:execution_response_mismatch")
        counts["turns"] += 1
        counts["turns_correct"] += int(bool(turn["correct"]))
        if not gt_calls:
            counts["irrelevant_turns"] += 1
            counts["irrelevant_silent"] += int(n_calls == 0)
        turns.append(turn)
        if not turn["correct"]:
            ok = False
            break  # BFCL stops at the first failing turn
    return {"ok": ok, "turns": turns, "counts": counts, "tools": {}, "called": called,
            "multi_turn": True}
