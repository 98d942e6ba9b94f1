"""`phi4studio dataset ...` as real subprocesses in a throw-away home: exit codes and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from phi4studio.core.jobs.workers import app_argv

sys.path.insert(0, str(Path(__file__).parents[1] / "core" / "datasets"))
from dsfixtures import chat_example, weather_example


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHI4STUDIO_HOME": str(home)}
    return subprocess.run(app_argv("dataset", *args), capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def write(path: Path, rows: list[dict], tail: str = "") -> Path:  # type: ignore[type-arg]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")
    return path


def test_import_list_validate_stats_export(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = weather_example(3, city="C3")
    bad["messages"][2]["tool_calls"][0]["arguments"] = {"town": "Oslo"}
    rows = [weather_example(i, city=f"C{i}") for i in range(3)] + [bad, chat_example(4, "hi there")]
    src = write(tmp_path / "set.jsonl", rows, tail="{broken\n")

    r = cli(home, "import", str(src), "--name", "Set")
    assert r.returncode == 2 and "nothing was written" in r.stdout
    assert "line 6: not valid JSON" in r.stderr
    r = cli(home, "import", str(src), "--name", "Set", "--partial", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["imported"] == 5 and out["committed"] and out["skipped"][0].startswith("line 6")

    r = cli(home, "list", "--json")
    listed = json.loads(r.stdout)
    assert [(d["name"], d["examples"], d["state"]) for d in listed] == [("Set", 5, "unchecked")]

    r = cli(home, "validate", "set")  # names match case-insensitively
    assert r.returncode == 1, r.stdout + r.stderr
    assert "ex-3  $.messages[2].tool_calls[0].arguments" in r.stdout
    assert "5 example(s): 4 ok, 0 with warnings, 1 with errors" in r.stdout
    r = cli(home, "list")
    assert "Set" in r.stdout and "1 with errors" in r.stdout  # the catalog row follows

    r = cli(home, "stats", listed[0]["id"], "--json")
    assert r.returncode == 0
    stats = json.loads(r.stdout)
    mix = {s["scenario"]: s for s in stats["scenario_mix"]}
    assert mix["single"]["count"] == 4 and mix["single"]["target"] == 0.3
    assert stats["tools"]["get_weather"]["calls"] == 4
    r = cli(home, "stats", "Set")
    assert "scenario" in r.stdout and "get_weather" in r.stdout and "gaps:" in r.stdout

    out_file = tmp_path / "out" / "openai.jsonl"
    r = cli(home, "export", "Set", "--format", "openai", "--out", str(out_file))
    assert r.returncode == 0 and "5 example(s) written" in r.stdout
    first = json.loads(out_file.read_text().splitlines()[0])
    assert first["tools"][0]["type"] == "function"
    assert isinstance(first["messages"][2]["tool_calls"][0]["function"]["arguments"], str)
    r = cli(home, "export", "Set", "--format", "rendered", "--family", "qwen", "--out",
            str(tmp_path / "r.jsonl"))
    assert r.returncode == 0 and "(rendered:hermes)" in r.stdout, r.stderr
    assert "<tool_call>" in json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])["text"]
    r = cli(home, "export", "Set", "--format", "rendered", "--family", "generic", "--out",
            str(tmp_path / "g.jsonl"))
    assert r.returncode == 2 and "Choose one of: phi4-mini, phi4, hermes" in r.stderr


def test_validate_a_file_directly_and_bad_input(tmp_path: Path) -> None:
    home = tmp_path / "home"
    good = write(tmp_path / "good.jsonl", [weather_example(i, city=f"C{i}") for i in range(3)])
    r = cli(home, "validate", str(good))
    assert r.returncode == 0 and "3 example(s): 3 ok" in r.stdout
    broken = write(tmp_path / "broken.jsonl", [weather_example(0)], tail="{oops\n")
    r = cli(home, "validate", str(broken))
    assert r.returncode == 1 and "cannot be read" in r.stderr  # an unreadable line is an error
    r = cli(home, "validate", "no-such-dataset")
    assert r.returncode == 2 and "No dataset named 'no-such-dataset'" in r.stderr
    r = cli(home, "export", str(good), "--format", "nope", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "Unknown export format" in r.stderr
    # BFCL questions with their answers file given explicitly; a transcript with a catalog
    fx = Path(__file__).parents[1] / "core" / "datasets" / "fixtures"
    questions = tmp_path / "BFCL_v3_simple.json"
    questions.write_bytes((fx / "bfcl" / "BFCL_v3_simple.json").read_bytes())
    r = cli(home, "import", str(questions), "--answers",
            str(fx / "bfcl" / "possible_answer" / "BFCL_v3_simple.json"), "--partial", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["imported"] == 3, r.stderr
    catalog = write(tmp_path / "catalog.json", [])
    catalog.write_text(json.dumps({"tools": [{"name": "Read", "description": "Read a file",
                                              "inputSchema": {"type": "object"}}]}))
    r = cli(home, "import", str(fx / "claude_session.jsonl"), "--tools", str(catalog), "--json")
    assert r.returncode == 0, r.stderr
    warnings = json.loads(r.stdout)["warnings"]
    assert any("1 tool(s) had no definition" in w for w in warnings), warnings


def test_synth_then_split(tmp_path: Path) -> None:
    from phi4studio.core.paths import resource

    home = tmp_path / "home"
    r = cli(home, "synth", "--tools", str(resource("samples", "tools.json")), "-n", "40",
            "--seed", "1", "--mix", "single=50,parallel=50", "--name", "S", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added"] == 40
    r = cli(home, "stats", "S", "--json")
    mix = {s["scenario"]: s["count"] for s in json.loads(r.stdout)["scenario_mix"]}
    assert mix["single"] == 20 and mix["parallel"] == 20
    r = cli(home, "split", "S", "--ratios", "0.5,0.25,0.25", "--seed", "2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert sum(out["counts"].values()) == 40 and out["leaks"] == 0
    r = cli(home, "split", "S", "--ratios", "1,2")
    assert r.returncode == 2 and "three numbers" in r.stderr
    # the split kept the state before as a named version: diff it, restore it
    r = cli(home, "version", "S", "diff", "Before split (seed 2)")
    assert r.returncode == 0 and "-> now: 0 added, 40 changed, 0 removed" in r.stdout, r.stderr
    r = cli(home, "version", "S", "restore", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"restored": "Before split (seed 2)", "added": 0,
                                    "changed": 40, "removed": 0,
                                    "kept": "Before restoring 'Before split (seed 2)'"}
    r = cli(home, "version", "S", "--json")
    listed = json.loads(r.stdout)
    assert [v["name"] for v in listed["versions"]] == [
        "Before split (seed 2)", "Before restoring 'Before split (seed 2)'"]
    assert listed["versions"][1]["changed"] == 40 and listed["since_latest"]["changed"] == 40
    r = cli(home, "version", "S", "restore", "nope")
    assert r.returncode == 2 and "No version 'nope'" in r.stderr
    # a training-only source: every example of it goes to train
    r = cli(home, "split", "S", "--seed", "3", "--train-only-sources", "synthetic:templates,other",
            "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["train_only"] == 40 and out["counts"] == {"train": 40}


def test_token_lengths_and_the_dataset_benchmark(tmp_path: Path, model_cache_dir: Path) -> None:
    from dsfixtures import smollm2_tokenizer_json

    tok = smollm2_tokenizer_json(model_cache_dir)
    home = tmp_path / "home"
    long = chat_example(9, "Please summarise: " + "lorem ipsum " * 200)
    src = write(tmp_path / "t.jsonl", [weather_example(i, city=f"C{i}") for i in range(2)] + [long])
    r = cli(home, "validate", str(src), "--tokenizer", str(tok), "--family", "phi4-mini",
            "--max-tokens", "300", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["too_long"] == 1 and "token lengths: tokenizer.json" in r.stderr
    r = cli(home, "stats", str(src), "--tokenizer", str(tok), "--family", "phi4-mini",
            "--max-tokens", "300")
    assert r.returncode == 0 and "1 example(s) longer than 300 tokens" in r.stdout, r.stderr
    assert "estimated" not in r.stdout
    r = cli(home, "validate", str(src), "--max-tokens", "300")
    assert r.returncode == 2 and "need --tokenizer" in r.stderr
    r = cli(home, "validate", str(src), "--tokenizer", str(tmp_path / "nope"))
    assert r.returncode == 2 and "No tokenizer at" in r.stderr

    env = {**os.environ, "PHI4STUDIO_HOME": str(home)}
    r = subprocess.run(app_argv("bench", "dataset", "--n", "300", "--json"), capture_output=True,
                       text=True, env=env, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    figures = json.loads(r.stdout)
    for key in ("import (one transaction)", "first page (100 rows)", "filter by tool: count",
                "full-text search: count", "validate all", "peak_rss_mb"):
        assert figures[key] > 0
