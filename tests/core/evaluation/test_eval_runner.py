"""The runner with a scripted model: replay of multi-turn dataset cases, resume after a cancel
(no duplicates), a torn results file, a crashing case, guidance refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.chatformats import get_format
from phi4studio.core.evaluation.driver import EvalConfig, create_run
from phi4studio.core.evaluation.results import RunDir
from phi4studio.core.evaluation.runner import GuidanceRejected, Runner

FMT = get_format("chatml-notools")
WEATHER = {"name": "weather", "description": "Weather", "inputSchema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def example(i: int, *, multi: bool = False) -> dict[str, Any]:
    city = f"City{i}"
    msgs: list[dict[str, Any]] = [
        {"role": "user", "content": f"Weather in {city}?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "name": "weather", "arguments": {"city": city}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "weather", "content": '{"temp": 3}'},
        {"role": "assistant", "content": f"It is 3 degrees in {city}."}]
    if multi:
        msgs += [{"role": "user", "content": "And tomorrow in Oslo?"},
                 {"role": "assistant", "content": "", "tool_calls": [
                     {"id": "c2", "name": "weather", "arguments": {"city": "Oslo"}}]},
                 {"role": "tool", "tool_call_id": "c2", "name": "weather",
                  "content": '{"error": "no forecast for tomorrow"}'},
                 {"role": "assistant", "content": "Sorry, there is no forecast yet."}]
    return {"id": f"ex{i}", "messages": msgs, "tools": [WEATHER],
            "scenario": "multi_turn" if multi else "single", "split": "test"}


def calls_text(*calls: tuple[str, dict[str, Any]]) -> str:
    payload = [{"name": n, "arguments": a} for n, a in calls]
    return "<tool_call>" + json.dumps(payload) + "</tool_call>"


def oracle(prompt: str) -> str:
    """A model that answers right: the call the user asks for, then a sentence."""
    last_user = prompt.rsplit("<|im_start|>user\n", 1)[1]
    if "<tool_response" in last_user:
        return "It is 3 degrees."
    if "tomorrow in Oslo" in last_user:
        return calls_text(("weather", {"city": "Oslo"}))
    city = last_user.split("Weather in ", 1)[1].split("?", 1)[0]
    return calls_text(("weather", {"city": city}))


class Scripted:
    def __init__(self, answer: Callable[[str], str] = oracle) -> None:
        self.answer = answer
        self.prompts: list[str] = []
        self.guidance: list[Any] = []

    async def __call__(self, prompt: str, guidance: tuple[str, str] | None,
                       max_new_tokens: int) -> Mapping[str, Any]:
        self.prompts.append(prompt)
        self.guidance.append(guidance)
        await asyncio.sleep(0)
        return {"text": self.answer(prompt), "stop_reason": "eos", "ttft_s": 0.01,
                "total_s": 0.02, "completion_tokens": 5}


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "genai_config.json").write_text("{}")
    return d


def make_run(tmp_path: Path, model_dir: Path, examples: list[dict[str, Any]],
             **kw: Any) -> RunDir:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in examples))
    return create_run(None, EvalConfig(model=str(model_dir), suites=[f"file:{data}"], **kw),
                      folder=tmp_path / "run")


def test_replay_checks_every_assistant_turn(tmp_path: Path, model_dir: Path) -> None:
    run = make_run(tmp_path, model_dir, [example(0, multi=True), example(1)])
    model = Scripted()
    summary = asyncio.run(Runner(run, model, FMT).run())
    results = run.results()
    assert [r["ok"] for r in results] == [True, True]
    multi = results[0]
    assert len(multi["turns"]) == 4 and multi["multi_turn"]
    # the model saw the reference conversation (the reference's tool result) before turn 2
    assert '{"temp": 3}' in multi["turns"][1]["prompt"]
    # the turn after the tool error is a recovery turn
    assert [t["recovery"] for t in multi["turns"]] == [False, False, False, True]
    o = summary["overall"]
    assert o["accuracy"]["value"] == 1.0
    assert o["multi_turn_success"] == {"value": 1.0, "num": 1, "den": 1}
    assert o["irrelevance_detection"]["den"] == 3  # three turns answer in text
    assert o["error_recovery"] == {"value": 1.0, "num": 1, "den": 1}
    assert summary["complete"]
    assert summary["by_tool"]["weather"]["expected"] == 3


def test_wrong_answers_are_scored(tmp_path: Path, model_dir: Path) -> None:
    run = make_run(tmp_path, model_dir, [example(0, multi=True)])
    model = Scripted(lambda p: calls_text(("weather", {"city": "Paris"})))
    summary = asyncio.run(Runner(run, model, FMT).run())
    turns = run.results()[0]["turns"]
    assert [t["correct"] for t in turns] == [False, False, False, False]
    assert turns[0]["error_type"] == "simple_function_checker:wrong_func_name" or \
        "Paris" in turns[0]["error"] or turns[0]["error_type"] == "value_error:string"
    assert summary["overall"]["tool_selection"]["value"] == 1.0  # right tool, wrong city
    assert summary["overall"]["parameter_accuracy"]["value"] == 0.0


def test_a_garbled_call_on_a_text_turn_of_a_dataset_case_is_wrong(tmp_path: Path,
                                                                  model_dir: Path) -> None:
    run = make_run(tmp_path, model_dir, [example(0)])

    def garbled(prompt: str) -> str:
        last_user = prompt.rsplit("<|im_start|>user\n", 1)[1]
        if "<tool_response" in last_user:  # the text turn: an attempted call nobody can read
            return '<tool_call>weather(city="Paris")</tool_call>'
        return oracle(prompt)

    summary = asyncio.run(Runner(run, Scripted(garbled), FMT).run())
    turns = run.results()[0]["turns"]
    assert [t["correct"] for t in turns] == [True, False]
    assert turns[1]["error_type"] == "unreadable_call" and turns[1]["parse_errors"]
    assert summary["overall"]["irrelevance_detection"] == {"value": 0.0, "num": 0, "den": 1}


def test_cancel_then_resume_continues_without_duplicates(tmp_path: Path,
                                                         model_dir: Path) -> None:
    run = make_run(tmp_path, model_dir, [example(i) for i in range(6)])
    model = Scripted()
    stop = {"now": False}

    def progress(done: int, total: int, result: Any, eta: Any) -> None:
        if done >= 2:
            stop["now"] = True  # cancel after the second case

    s1 = asyncio.run(Runner(run, model, FMT, on_progress=progress,
                            cancelled=lambda: stop["now"]).run())
    assert s1["done"] == 2 and not s1["complete"]
    first_ids = [r["id"] for r in run.results()]
    # a crash mid-write leaves a partial last line
    with open(run.path / "results.jsonl", "a") as fh:
        fh.write('{"id": "file:partial", "ok": tr')
    assert [r["id"] for r in run.results()] == first_ids
    calls_before = len(model.prompts)
    s2 = asyncio.run(Runner(run, model, FMT).run())
    ids = [r["id"] for r in run.results()]
    assert s2["complete"] and s2["done"] == 6
    assert ids[:2] == first_ids and len(ids) == len(set(ids)) == 6
    assert len(model.prompts) - calls_before == 4 * 2  # only the 4 missing cases ran
    lines = (run.path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(line) for line in lines)


def test_a_case_that_cannot_run_is_recorded_and_the_run_goes_on(tmp_path: Path,
                                                                model_dir: Path) -> None:
    run = make_run(tmp_path, model_dir, [example(0), example(1)])

    def answer(prompt: str) -> str:
        if "City0" in prompt:
            raise RuntimeError("the prompt is 4486 tokens; the model's context is 2048")
        return oracle(prompt)

    summary = asyncio.run(Runner(run, Scripted(answer), FMT).run())
    r0, r1 = run.results()
    assert not r0["ok"] and "4486 tokens" in r0["error"]
    assert r1["ok"]
    assert summary["overall"]["errors"] == 1


def test_refused_guidance_falls_back_to_free_decoding(tmp_path: Path, model_dir: Path) -> None:
    run = make_run(tmp_path, model_dir, [example(0), example(1)], guided="grammar")
    model = Scripted()
    calls = {"n": 0}

    async def gen(prompt: str, guidance: Any, n: int) -> Mapping[str, Any]:
        calls["n"] += 1
        if guidance is not None:
            raise GuidanceRejected("Error creating grammar")
        return await model(prompt, guidance, n)

    asyncio.run(Runner(run, gen, FMT, guided="grammar").run())
    results = run.results()
    assert all(r["ok"] for r in results)
    assert "guidance refused" in results[0]["turns"][0]["notes"][0]


def test_guided_calls_mode_leaves_text_turns_free(tmp_path: Path, model_dir: Path) -> None:
    run = make_run(tmp_path, model_dir, [example(0)], guided="calls")
    model = Scripted(lambda p: "[]" if "<tool_response" not in p.rsplit("user\n", 1)[1]
                     else "It is 3 degrees.")
    asyncio.run(Runner(run, model, FMT, guided="calls").run())
    kinds = [g[0] if g else None for g in model.guidance]
    assert kinds == ["json_schema", None]
    schema = json.loads(model.guidance[0][1])
    assert schema["minItems"] == 1


def test_create_run_freezes_cases_and_refuses_bad_input(tmp_path: Path, model_dir: Path) -> None:
    run = make_run(tmp_path, model_dir, [example(0), example(1), example(2)], limit=2)
    assert run.n_cases() == 2
    cfg = run.config()
    assert cfg["suites"][0].startswith("file:") and cfg["limit"] == 2
    from phi4studio.core.evaluation.driver import EvaluationError

    with pytest.raises(EvaluationError, match=r"genai_config\.json"):
        create_run(None, EvalConfig(model=str(tmp_path), suites=["bfcl:simple_python"]),
                   folder=tmp_path / "x")
    with pytest.raises(EvaluationError, match="adapter"):
        create_run(None, EvalConfig(model=str(model_dir), suites=["bfcl:simple_python"],
                                    adapter="ft"), folder=tmp_path / "y")
    for bad, words in (({"call_threshold": 1.5}, "probability"),
                       ({"call_threshold": 0.5}, "grammar-guided"),
                       ({"text_tokens": 8, "guided": "grammar"}, "needs a call threshold"),
                       ({"text_tokens": 0, "call_threshold": 0.5, "guided": "grammar"},
                        ">= 1"),
                       ({"more_threshold": 0.5, "guided": "grammar"}, "needs a call threshold"),
                       ({"more_threshold": -0.1, "call_threshold": 0.5, "guided": "grammar"},
                        "probability"),
                       ({"tool_words": 1.0}, "grammar-guided"),
                       ({"stated_numbers": True}, "needs guided decoding"),
                       ({"tool_words": -1.0, "guided": "grammar"}, "nats per word")):
        with pytest.raises(EvaluationError, match=words):
            create_run(None, EvalConfig(model=str(model_dir), suites=["bfcl:simple_python"],
                                        **bad), folder=tmp_path / "z")


def test_worked_example_two_turn_conversation(tmp_path: Path, model_dir: Path) -> None:
    """docs/evaluation.md, "Worked example": right three times, then a call after the error."""
    ex = example(0, multi=True)
    ex["messages"][0]["content"] = "Weather in Paris?"
    ex["messages"][1]["tool_calls"][0]["arguments"] = {"city": "Paris"}
    ex["messages"][3]["content"] = "It is 3 degrees in Paris."
    run = make_run(tmp_path, model_dir, [ex])

    def model(prompt: str) -> str:
        last_user = prompt.rsplit("<|im_start|>user\n", 1)[1]
        if "no forecast" in last_user:
            return calls_text(("weather", {"city": "Oslo"}))
        return oracle(prompt)

    s = asyncio.run(Runner(run, Scripted(model), FMT).run())["overall"]
    assert [t["correct"] for t in run.results()[0]["turns"]] == [True, True, True, False]

    def r(name: str) -> tuple[int, int]:
        return s[name]["num"], s[name]["den"]

    assert r("turn_accuracy") == (3, 4)
    assert r("accuracy") == (0, 1) and r("multi_turn_success") == (0, 1)
    assert r("irrelevance_detection") == (1, 2) and r("error_recovery") == (0, 1)
    assert r("tool_correctness") == (2, 3) and r("tool_selection") == (2, 2)
    assert r("parameter_accuracy") == (2, 2) and r("schema_validity") == (3, 3)


def test_call_threshold_uses_calls_first_grammar_and_records_p_call(
        tmp_path: Path, model_dir: Path) -> None:
    """With a call threshold the runner asks for calls-first guidance and a CallControl with
    the format's marker and block end; p_call and a repeat stop are kept in the results."""
    run = make_run(tmp_path, model_dir, [example(0)], guided="grammar")
    seen: list[Any] = []

    async def gen(prompt: str, guidance: Any, n: int, calls: Any = None) -> Mapping[str, Any]:
        seen.append((guidance, calls))
        first = "<tool_response" not in prompt.rsplit("<|im_start|>user\n", 1)[1]
        text = oracle(prompt)
        if first:
            return {"text": text, "stop_reason": "repeated_call", "p_call": 0.75,
                    "completion_tokens": 5, "p_more": [0.25]}
        return {"text": text, "stop_reason": "max_tokens", "p_call": 0.2, "completion_tokens": 5,
                "cut_call_dropped": 1, "loops_broken": 2, "close_mended": 1,
                "closed_at_budget": 3}

    asyncio.run(Runner(run, gen, FMT, guided="grammar", call_threshold=0.5, text_tokens=8,
                       stop_repeats=True, more_threshold=0.3).run())
    (guidance, control), _ = seen[0], seen[1]
    assert (control.between, control.more_threshold) == ("\n", 0.3)
    assert guidance[0] == "lark_grammar" and "start: TEXT | calls\n" in guidance[1]
    assert control.marker == "<tool_call>" and control.close == "</tool_call>"  # one per call
    assert (control.threshold, control.text_tokens, control.stop_repeats) == (0.5, 8, True)
    turns = run.results()[0]["turns"]
    assert [t["p_call"] for t in turns] == [0.75, 0.2]
    assert turns[0]["p_more"] == [0.25] and "p_more" not in turns[1]
    assert turns[0]["notes"] == ["stopped at a repeated call"] and turns[0]["correct"]
    assert turns[1]["notes"] == ["a call the token budget cut off was dropped",
                                 "the token budget ran out in a call's close marker: it was "
                                 "completed", "a looping value was ended (2 step(s))",
                                 "the token budget ran out inside a call: its values were ended "
                                 "so that it closes (3 step(s))"]
    # looping values are ended, and a first call closes at the budget's end, whenever call
    # control is on
    assert (control.loop_tokens, control.close_reserve) == (24, 32)
    # without a threshold: the usual grammar (text may precede calls), no control at all
    seen.clear()
    (tmp_path / "b").mkdir()
    run2 = make_run(tmp_path / "b", model_dir, [example(1)], guided="grammar")
    asyncio.run(Runner(run2, gen, FMT, guided="grammar").run())
    assert "start: TEXT | TEXT? calls" in seen[0][0][1] and seen[0][1] is None


def test_ask_missing_withholds_a_call_with_a_made_up_value(tmp_path: Path,
                                                          model_dir: Path) -> None:
    """With `ask_missing`, calls giving a required value the conversation does not state are
    withheld (kept in the record) and the answer asks for it: a missing-information case
    becomes right; a call whose value the user gave stands."""
    missing = {"id": "ask", "tools": [WEATHER], "scenario": "missing_info_or_error",
               "split": "test", "messages": [
                   {"role": "user", "content": "What's the weather like?"},
                   {"role": "assistant", "content": "Which city?"}]}

    def guesser(prompt: str) -> str:
        last_user = prompt.rsplit("<|im_start|>user\n", 1)[1]
        return oracle(prompt) if "Weather in" in last_user else calls_text(
            ("weather", {"city": "Lisbon"}))

    results = {}
    for ask in (False, True):
        (tmp_path / str(ask)).mkdir()
        run = make_run(tmp_path / str(ask), model_dir, [missing, example(0)])
        asyncio.run(Runner(run, Scripted(guesser), FMT, ask_missing=ask).run())
        results[ask] = {r["id"].rsplit("/", 1)[-1]: r for r in run.results()}
    assert not results[False]["ask"]["ok"] and results[True]["ask"]["ok"]
    turn = results[True]["ask"]["turns"][0]
    assert turn["calls"] == [] and turn["withheld"] == [
        {"name": "weather", "arguments": {"city": "Lisbon"}}]
    assert turn["notes"] == ["calls withheld, required values not in the conversation: "
                             "weather.city"]
    assert results[True]["ex0"]["ok"] and "withheld" not in results[True]["ex0"]["turns"][0]


def test_repeated_items_of_a_unique_array_are_dropped_with_stop_repeats(
        tmp_path: Path, model_dir: Path) -> None:
    """With `stop_repeats`, an answer that lists a recipient twice where the schema wants unique
    items is scored without the repeat (and says so); without it the call is schema-invalid."""
    mail = {"name": "mail", "description": "Send mail", "inputSchema": {
        "type": "object", "required": ["to"], "properties": {
            "to": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}}}
    case = {"id": "m", "tools": [mail], "scenario": "single", "split": "test", "messages": [
        {"role": "user", "content": "Mail ana@x.org and bo@x.org"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "name": "mail", "arguments": {"to": ["ana@x.org", "bo@x.org"]}}]}]}
    looping = "<tool_call>" + json.dumps({"name": "mail", "arguments": {
        "to": ["ana@x.org", "bo@x.org", "ana@x.org"]}}) + "</tool_call>"

    async def gen(prompt: str, guidance: Any, n: int, calls: Any = None) -> Mapping[str, Any]:
        return {"text": looping, "stop_reason": "eos", "completion_tokens": 30}

    turns = {}
    for repeats in (False, True):
        (tmp_path / str(repeats)).mkdir()
        run = make_run(tmp_path / str(repeats), model_dir, [case])
        asyncio.run(Runner(run, gen, FMT, stop_repeats=repeats).run())
        turns[repeats] = run.results()[0]["turns"][0]
    assert not turns[False]["correct"] and turns[True]["correct"]
    assert turns[True]["calls"] == [{"name": "mail", "arguments": {"to": ["ana@x.org",
                                                                          "bo@x.org"]}}]
    assert turns[True]["raw"] == looping  # what the model wrote stays in the record
    assert turns[True]["notes"] == ["repeated items dropped where the schema wants them "
                                    "unique: mail.to[2]"]


def test_stated_optional_values_are_offered_again_and_kept_only_where_stated(
        tmp_path: Path, model_dir: Path) -> None:
    """With `stated_optional` (and guidance), a call that leaves out optional values is
    continued as the model wrote it, its optional parameters offered by a grammar; the values
    the request states are kept (a unit, a flag from its name's words), a made-up one is not.
    Without it the call stays as written, and is wrong where the expected call has the unit."""
    tool = {"name": "forecast", "description": "Weather forecast", "inputSchema": {
        "type": "object", "required": ["city"], "properties": {
            "city": {"type": "string"}, "unit": {"type": "string"},
            "days": {"type": "integer"}, "include_hourly": {"type": "boolean"}}}}
    user = "Forecast for Oslo in Celsius from 2 pm, including hourly figures"
    case = {"id": "f", "tools": [tool], "scenario": "single", "split": "test", "messages": [
        {"role": "user", "content": user},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "name": "forecast", "arguments": {
                "city": "Oslo", "unit": "Celsius", "include_hourly": True}}]}]}
    first = "<tool_call>" + json.dumps({"name": "forecast", "arguments": {"city": "Oslo"}}) + \
        "</tool_call>"
    seen: list[tuple[str, Any, int]] = []

    async def gen(prompt: str, guidance: Any, n: int, calls: Any = None) -> Mapping[str, Any]:
        seen.append((prompt, guidance, n))
        if len(seen) == 1 or not prompt.endswith('{"city": "Oslo"'):
            return {"text": first, "stop_reason": "eos", "completion_tokens": 20,
                    "total_s": 1.0}
        return {"text": ', "unit": "Celsius", "days": 7', "stop_reason": "eos",
                "completion_tokens": 9, "total_s": 0.5}

    turns = {}
    for on in (False, True):
        seen.clear()
        (tmp_path / str(on)).mkdir()
        run = make_run(tmp_path / str(on), model_dir, [case], guided="grammar")
        asyncio.run(Runner(run, gen, FMT, guided="grammar", stated_optional=on).run())
        turns[on] = run.results()[0]["turns"][0]
        if on:
            assert len(seen) == 2
            prompt, guidance, budget = seen[1]
            assert prompt == seen[0][0] + first[:first.index("}")]
            assert guidance[0] == "lark_grammar" and '\\"unit\\"' in guidance[1]
            assert '\\"days\\"' in guidance[1] and "include_hourly" not in guidance[1]
            assert budget == 48
        else:
            assert len(seen) == 1
    assert not turns[False]["correct"]
    assert turns[True]["correct"], turns[True]["error"]
    assert turns[True]["calls"] == [{"name": "forecast", "arguments": {
        "city": "Oslo", "include_hourly": True, "unit": "Celsius"}}]
    assert turns[True]["notes"] == [
        'optional values the request states were added: forecast.include_hourly=true, '
        'forecast.unit="Celsius"']
    assert turns[True]["raw"] == first  # what the model wrote stays in the record
    assert turns[True]["total_s"] == 1.5 and turns[True]["stated_s"] == 0.5  # time counts
    assert "stated_s" not in turns[False]


def test_stated_optional_values_are_checked_against_those_kept_before_them(
        tmp_path: Path, model_dir: Path) -> None:
    """One number stated once fills one parameter: "assuming initial velocity is zero" gives
    `initial_velocity` 0, and a `gravity` of 0 written after it is not kept."""
    tool = {"name": "final_velocity", "inputSchema": {"type": "object", "required": ["height"],
                                                       "properties": {
        "height": {"type": "number"}, "initial_velocity": {"type": "number"},
        "gravity": {"type": "number"}}}}
    user = "Final velocity of an object falling 150 m, assuming initial velocity is zero."
    case = {"id": "v", "tools": [tool], "scenario": "single", "split": "test", "messages": [
        {"role": "user", "content": user},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "name": "final_velocity", "arguments": {
                "height": 150, "initial_velocity": 0}}]}]}
    first = "<tool_call>" + json.dumps({"name": "final_velocity",
                                        "arguments": {"height": 150}}) + "</tool_call>"

    async def gen(prompt: str, guidance: Any, n: int, calls: Any = None) -> Mapping[str, Any]:
        if guidance is not None and "initial_velocity" in guidance[1] and \
                guidance[1].startswith("start: \", "):
            return {"text": ', "initial_velocity": 0, "gravity": 0.0', "stop_reason": "eos"}
        return {"text": first, "stop_reason": "eos"}

    run = make_run(tmp_path, model_dir, [case], guided="grammar")
    asyncio.run(Runner(run, gen, FMT, guided="grammar", stated_optional=True).run())
    turn = run.results()[0]["turns"][0]
    assert turn["calls"][0]["arguments"] == {"height": 150, "initial_velocity": 0}
    assert turn["correct"]


def test_tool_words_send_each_offered_tool_s_prior_with_the_call_control(
        tmp_path: Path, model_dir: Path) -> None:
    """With `tool_words` (and grammar guidance) the call control carries each offered tool's
    prior from the request's words (core.inference.relevance), scaled by the weight; one tool
    alone, or without the option, carries none."""
    forecast = {"name": "forecast_week", "description": "The forecast for the coming days",
                "inputSchema": WEATHER["inputSchema"]}
    case = {**example(0), "tools": [WEATHER, forecast]}
    case["messages"][0]["content"] = "Weather forecast for the coming week in City0?"
    seen: list[Any] = []

    async def gen(prompt: str, guidance: Any, n: int, calls: Any = None) -> Mapping[str, Any]:
        seen.append(calls)
        weighed = {"names_weighed": 2} if calls.names else {}
        return {"text": calls_text(("forecast_week", {"city": "City0"})), "stop_reason": "eos",
                "completion_tokens": 5, **weighed}

    for i, (tools, weight) in enumerate((([WEATHER, forecast], 1.5), ([WEATHER], 1.5),
                                         ([WEATHER, forecast], None))):
        seen.clear()
        folder = tmp_path / str(i)
        folder.mkdir()
        run = make_run(folder, model_dir, [{**case, "tools": tools}], guided="grammar")
        asyncio.run(Runner(run, gen, FMT, guided="grammar", stop_repeats=True,
                           tool_words=weight).run())
        names = seen[0].names
        if i == 0:  # weather: its name (2); forecast_week: "forecast" and "week" in its
            # name (2 each), "coming" in its description (1); times 1.5
            assert names == {"weather": 3.0, "forecast_week": 7.5}
            assert run.results()[0]["turns"][0]["notes"] == [
                "the tool's name was weighed by the request's words (2 step(s))"]
        else:
            assert names is None


def test_stated_numbers_hold_the_guidance_not_the_prompt(tmp_path: Path,
                                                         model_dir: Path) -> None:
    """With `stated_numbers` the grammar holds each required number to those the conversation
    states (core.inference.grounding.numbers_as_stated); the prompt lists the tools as they
    are, and the scoring reads them as they are."""
    loan = {"name": "mortgage", "description": "Monthly payment",
            "inputSchema": {"type": "object", "required": ["amount", "years"], "properties": {
                "amount": {"type": "number"}, "years": {"type": "integer"}}}}
    case = {"id": "m1", "split": "test", "scenario": "single", "tools": [loan], "messages": [
        {"role": "user", "content": "Payment on $400,000 over 30 years?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "name": "mortgage", "arguments": {"amount": 400000, "years": 30}}]}]}
    seen: list[Any] = []

    async def gen(prompt: str, guidance: Any, n: int, calls: Any = None) -> Mapping[str, Any]:
        seen.append((prompt, guidance))
        return {"text": calls_text(("mortgage", {"amount": 400000, "years": 30})),
                "stop_reason": "eos", "completion_tokens": 9}

    for on in (True, False):
        folder = tmp_path / str(on)
        folder.mkdir()
        run = make_run(folder, model_dir, [case], guided="grammar")
        asyncio.run(Runner(run, gen, FMT, guided="grammar", stated_numbers=on).run())
        assert run.results()[0]["ok"]
    (prompt_on, grammar_on), (prompt_off, grammar_off) = seen
    assert prompt_on == prompt_off and "enum" not in prompt_on
    assert '"amount": {"type": "number", "enum": [400000, 30]}' in grammar_on[1]
    assert '"years": {"type": "integer", "enum": [400000, 30]}' in grammar_on[1]
    assert '"amount": {"type": "number"}' in grammar_off[1]


def test_numbers_follow_the_schema_and_invented_variations_are_dropped(
        tmp_path: Path, model_dir: Path) -> None:
    """A whole number at a `number` place is read as a float before checking (`[1, 3]` for a
    list of numbers passes the checker's strict nested rule); with `stop_repeats`, a second
    call of the tool that changes a value the conversation does not state is dropped and
    noted, and one whose changed value the request states is kept."""
    games = {"name": "recommend", "description": "Board games", "inputSchema": {
        "type": "object", "required": ["players"], "properties": {
            "players": {"type": "integer"}, "range": {"type": "array", "items": {
                "type": "number"}}, "difficulty": {"enum": ["beginner", "advanced"]}}}}

    def case(i: int, request: str, *calls: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"g{i}", "split": "test", "scenario": "single", "tools": [games],
                "messages": [{"role": "user", "content": request},
                             {"role": "assistant", "content": "", "tool_calls": [
                                 {"id": f"c{j}", "name": "recommend", "arguments": a}
                                 for j, a in enumerate(calls)]}]}

    beginner = {"players": 2, "range": [1.0, 3.0], "difficulty": "beginner"}
    advanced = {**beginner, "difficulty": "advanced"}
    cases = [case(0, "Games for 2 players, 1 to 3 hours?", beginner),
             case(1, "Games for 2 players, 1 to 3 hours, beginner and advanced?", beginner,
                  advanced)]
    wrote = calls_text(("recommend", {**beginner, "range": [1, 3]}),
                       ("recommend", {**advanced, "range": [1, 3]}))

    async def gen(prompt: str, guidance: Any, n: int, calls: Any = None) -> Mapping[str, Any]:
        return {"text": wrote, "stop_reason": "eos", "completion_tokens": 9}

    for repeats in (True, False):
        folder = tmp_path / str(repeats)
        folder.mkdir()
        run = make_run(folder, model_dir, cases, guided="grammar")
        asyncio.run(Runner(run, gen, FMT, guided="grammar", stop_repeats=repeats).run())
        first, both = (r["turns"][0] for r in run.results())
        assert both["correct"] and both["calls"][1]["arguments"]["range"] == [1.0, 3.0]
        assert type(both["calls"][0]["arguments"]["range"][0]) is float
        assert '"range": [1, 3]' in both["raw"]  # what the model wrote is kept
        assert first["correct"] is repeats
        if repeats:
            assert len(first["calls"]) == 1 and first["notes"] == [
                "calls repeating an earlier one with values the conversation does not state "
                "were dropped: recommend.difficulty"]
        else:
            assert len(first["calls"]) == 2 and not first.get("notes")
