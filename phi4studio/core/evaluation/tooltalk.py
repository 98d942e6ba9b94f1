"""ToolTalk (Microsoft, MIT; the `nvidia-tooltalk` wheel): conversations with simulated APIs.

Suites: `tooltalk:tooltalk` (50 conversations) and `tooltalk:easy` (28). For each assistant turn
the model sees the ground-truth conversation so far (user and assistant text, the reference API
calls and their results), then calls tools step by step against ToolTalk's own simulated APIs
(accounts, alarms, calendar, email, messages, reminders, weather; its `ToolExecutor` and seeded
databases) until it answers in text. ToolTalk's `evaluate_predictions` then scores the whole
conversation: precision, recall, action precision, bad-action rate and success (recall 1 and no
bad action), as in its paper.

Difference, by necessity: ToolTalk compares a few free-text arguments (event names and
descriptions, email subjects and bodies, messages, reminders) by DistilBERT embedding similarity
(a hub model, torch). Here those comparisons are exact matches after case folding and collapsing
whitespace, so a paraphrase that ToolTalk would accept counts as wrong: scores are a lower
bound of ToolTalk's. Tools offered: the APIs of the conversation's suites (`api_mode` "suite";
ToolTalk's script defaults to all 28 APIs, which does not fit small models' context; use
`tooltalk:easy@all` for that).

ToolTalk's modules are imported only in the evaluation worker process, with its embedding helper
replaced by the exact-match one.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import threading
import types
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.evaluation import benchdata
from phi4studio.core.evaluation.cases import Case, make_case
from phi4studio.core.evaluation.runner import count_output
from phi4studio.core.evaluation.scoring import zero

if TYPE_CHECKING:
    from phi4studio.core.evaluation.runner import Runner

SETS = ("tooltalk", "easy")
API_MODES = ("suite", "exact", "all")
SYSTEM_PROMPT = ("You are a helpful assistant. Here is some user data:\nlocation: {location}"
                 "\ntimestamp: {timestamp}\nusername (if logged in): {username}")
_LOCK = threading.Lock()
_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.casefold()).strip()


def exact_str_compare(prediction: str | None, ground_truth: str) -> float:
    """Stand-in for ToolTalk's `semantic_str_compare` (DistilBERT cosine): 1.0 when the texts
    are equal after case folding and collapsing whitespace, else 0.0."""
    if prediction is None or not isinstance(prediction, str):
        return 0.0
    return 1.0 if _norm(prediction) == _norm(str(ground_truth)) else 0.0


def _utils_stub() -> types.ModuleType:
    mod = types.ModuleType("tooltalk.apis.utils")

    def verify_phone_format(phone_number: str) -> bool:
        return re.match(r"^\d{3}-\d{3}-\d{4}$", phone_number) is not None

    def verify_email_format(email: str) -> bool:
        return re.match(r"^[\w\-\d\.]+@[\w\-\d\.]+$", email) is not None

    mod.verify_phone_format = verify_phone_format  # type: ignore[attr-defined]
    mod.verify_email_format = verify_email_format  # type: ignore[attr-defined]
    mod.semantic_str_compare = exact_str_compare  # type: ignore[attr-defined]
    return mod


def load_tooltalk(root: Path | None = None) -> Any:
    """ToolTalk's `tooltalk.apis` package (and its executor), from the unpacked wheel."""
    folder = benchdata.require("tooltalk", root)
    with _LOCK:
        sys.modules.setdefault("tooltalk.apis.utils", _utils_stub())
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        import importlib

        apis = importlib.import_module("tooltalk.apis")
        importlib.import_module("tooltalk.evaluation.tool_executor")
    return apis


def data_dir(root: Path | None = None) -> Path:
    return benchdata.module_dir("tooltalk", root) / "data"


def parse_suite(name: str) -> tuple[str, str]:
    """`tooltalk:easy@all` -> ("easy", "all")."""
    rest = name.split(":", 1)[1] if ":" in name else name
    which, _, mode = rest.partition("@")
    which = which or "tooltalk"
    mode = mode or "suite"
    if which not in SETS:
        raise benchdata.BenchmarkDataError(f"ToolTalk has no set {which!r}; choose from "
                                           f"{', '.join(SETS)}")
    if mode not in API_MODES:
        raise benchdata.BenchmarkDataError(f"ToolTalk API mode {mode!r}: choose from "
                                           f"{', '.join(API_MODES)}")
    return which, mode


def load_set(suite: str, root: Path | None = None, limit: int | None = None) -> list[Case]:
    which, mode = parse_suite(suite)
    folder = data_dir(root) / which
    cases = []
    for path in sorted(folder.glob("*.json"))[:limit]:
        conv = json.loads(path.read_text(encoding="utf-8"))
        cases.append(make_case(
            id=f"{suite}/{path.stem}", suite=suite, category=f"tooltalk:{which}",
            scenario="multi_turn", tools=[], messages=[], kind="tooltalk",
            data={"conversation": conv, "api_mode": mode}))
    return cases


def tool_from_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """ToolTalk's OpenAI function doc (`required` beside `parameters`) as a canonical tool."""
    params = dict(doc.get("parameters") or {"type": "object", "properties": {}})
    params["required"] = list(doc.get("required") or [])
    return {"name": str(doc["name"]), "description": str(doc.get("description") or ""),
            "inputSchema": params}


def tools_for(conv: Mapping[str, Any], mode: str, apis: Any) -> list[dict[str, Any]]:
    if mode == "exact":
        used = [apis.APIS_BY_NAME[n] for n in conv["apis_used"]]
    elif mode == "suite":
        used = [a for s in conv["suites_used"] for a in apis.SUITES_BY_NAME[s].apis]
    else:
        used = list(apis.ALL_APIS)
    return [tool_from_doc(api.to_openai_doc()) for api in used]


def to_messages(metadata: Mapping[str, Any], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ToolTalk's history (user / assistant text, api calls with results) as canonical messages."""
    out: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT.format(
        location=metadata.get("location"), timestamp=metadata.get("timestamp"),
        username=metadata.get("username"))}]
    for n, turn in enumerate(history):
        if turn["role"] in ("user", "assistant"):
            out.append({"role": turn["role"], "content": str(turn.get("text") or "")})
        elif turn["role"] == "api":
            cid = f"call_{n}"
            req = turn["request"]
            out.append({"role": "assistant", "content": "", "tool_calls": [
                {"id": cid, "name": req["api_name"], "arguments": req.get("parameters") or {}}]})
            out.append({"role": "tool", "tool_call_id": cid, "name": req["api_name"],
                        "content": json.dumps({"response": turn.get("response"),
                                               "exception": turn.get("exception")},
                                              default=str)})
    return out


async def run_case(runner: Runner, case: Case) -> dict[str, Any]:
    apis = load_tooltalk(runner.benchmarks_root)
    from tooltalk.evaluation.tool_executor import ToolExecutor

    db_dir = data_dir(runner.benchmarks_root) / "databases"
    executor = ToolExecutor(init_database_dir=str(db_dir))
    conv = copy.deepcopy(case["data"]["conversation"])
    tools = tools_for(conv, case["data"].get("api_mode", "suite"), apis)
    metadata = conv["metadata"]
    user_data = conv.get("user") or {}
    history: list[dict[str, Any]] = []
    api_history: list[dict[str, Any]] = []
    counts = zero()
    called: list[str] = []
    turns: list[dict[str, Any]] = []
    for turn in conv["conversation"]:
        if turn["role"] == "user":
            history.append({"role": "user", "text": turn["text"]})
            continue
        executor.init_conversation_state(metadata, api_history, user_data)
        predictions: list[dict[str, Any]] = []
        current = list(history)
        steps: list[dict[str, Any]] = []
        last_prompt = ""
        while True:
            answer = await runner.ask(to_messages(metadata, current), tools)
            last_prompt = answer.prompt
            count_output(counts, tools, answer)
            if not answer.calls:
                predictions.append({"role": "assistant", "text": answer.content})
                steps.append(answer.record(with_prompt=False))
                break
            results = []
            for call in answer.calls:
                called.append(str(call["name"]))
                request, response = executor.execute_tool(
                    api_name=call["name"], parameters=copy.deepcopy(call["arguments"]))
                pred = {"role": "api", "request": request, "response": response["response"],
                        "exception": response["exception"]}
                predictions.append(pred)
                current.append(pred)
                results.append({"response": response["response"],
                                "exception": response["exception"]})
            steps.append({**answer.record(with_prompt=False), "results": results})
            if len(steps) > runner.step_limit:
                break
        turn["predictions"] = predictions
        for api in turn.get("apis") or []:
            api_history.append(api)
            history.append({"role": "api", "request": api["request"],
                            "response": api["response"], "exception": api["exception"]})
        history.append({"role": "assistant", "text": turn["text"]})
        turns.append({"index": turn.get("index"), "steps": steps, "prompt": last_prompt,
                      "expected": [a["request"] for a in turn.get("apis") or []],
                      "correct": True, "error": "", "error_type": ""})
    scored = executor.evaluate_predictions(conv)
    m = dict(scored["metrics"])
    _mark_turns(turns, scored)
    counts["calls_checked"] += int(m["predictions"])
    counts["calls_correct"] += int(m["matches"])
    counts["selections"] += int(m["ground_truths"])
    counts["selections_right"] += int(m["matches"])
    error = "" if m["success"] else (
        f"recall {m['recall']:.2f}, bad actions {m['bad_actions']} of {m['actions']}")
    return {"ok": bool(m["success"]), "turns": turns, "counts": counts, "tools": {},
            "called": called, "multi_turn": True, "tooltalk": m, "failure": error}


def _mark_turns(turns: list[dict[str, Any]], scored: Mapping[str, Any]) -> None:
    """A turn is right when its reference calls were all matched and it did no bad action."""
    assistant = [t for t in scored["conversation"] if t["role"] == "assistant"]
    for record, turn in zip(turns, assistant, strict=False):
        missed = [a["request"]["api_name"] for a in turn.get("apis") or [] if not a.get("match")]
        bad = [p["request"]["api_name"] for p in turn.get("predictions") or []
               if p.get("role") == "api" and p.get("bad_action")]
        if missed or bad:
            record["correct"] = False
            record["error"] = (f"missed {missed}" if missed else "") + (
                f" bad actions {bad}" if bad else "")
            record["error_type"] = "tooltalk:missed" if missed else "tooltalk:bad_action"
