"""`phi4studio train`: config files (YAML/JSON, preset, relative paths) and refusals. The real
training path is the service's, covered end to end in test_train_e2e.py."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from phi4studio.cli import _parser
from phi4studio.core.training.headless import load_config_file, train_command


def test_config_file_with_preset_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text("")
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("preset: accuracy\nbase_model: microsoft/phi-4\ndataset: data.jsonl\n"
                        "lora_dropout: 0.1\nmethod: qlora\n")
    cfg = load_config_file(cfg_file)
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == (32, 64, 0.1)
    assert cfg.dataset == str(tmp_path / "data.jsonl") and cfg.base_model == "microsoft/phi-4"
    assert cfg.method == "qlora"
    js = tmp_path / "run.json"
    js.write_text('{"base_model": "m", "lora_r": 8}')
    assert load_config_file(js).lora_r == 8


def test_parser_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["train", "resume", "runs/r1", "--json"])
    assert (args.command, args.action, args.run, args.json) == ("train", "resume", "runs/r1", True)
    args = _parser().parse_args(["train", "--config", "x.yaml", "--allow-invalid"])
    assert args.config == Path("x.yaml") and args.allow_invalid and args.action is None
    bench = _parser().parse_args(["bench", "train", "--steps", "3", "--threads", "2"])
    assert (bench.target, bench.steps, bench.threads) == ("train", 3, 2)

    monkeypatch.setenv("PHI4STUDIO_HOME", str(tmp_path / "home"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("base_model: m\nlora_r: 0\n")
    ns = SimpleNamespace(action=None, run=None, config=bad, json=False, allow_invalid=False)
    assert train_command(ns, io.StringIO()) == 2
    assert "lora_r" in capsys.readouterr().err
    ns = SimpleNamespace(action="resume", run=str(tmp_path / "nothing"), config=None,
                         json=False, allow_invalid=False)
    assert train_command(ns, io.StringIO()) == 2
    assert "neither a run id nor a run folder" in capsys.readouterr().err
