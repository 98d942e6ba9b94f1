"""`phi4studio export` for real: the tiny Phi3 to INT4 (k_quant_mixed), then the refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.exports import og_generate


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHI4STUDIO_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "phi4studio", "export", *args],
                          capture_output=True, text=True, timeout=600, env=env, check=False,
                          stdin=subprocess.PIPE)


def test_int4_export_from_the_command_line(tmp_path: Path, tiny_phi3_hf_dir: Path,
                                           figures: object) -> None:
    import onnx

    out = tmp_path / "tiny-int4"
    proc = cli(tmp_path / "home", "--source", str(tiny_phi3_hf_dir), "--precision", "int4",
               "--int4-algo", "k_quant_mixed", "--ep", "cpu", "--out", str(out),
               "--prompts", "2", "--max-new-tokens", "12", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    assert data["state"] == "succeeded" and data["output_dir"] == str(out)
    v = data["verification"]
    assert v["status"] in ("passed", "flagged") and 0 <= v["token_agreement"] <= 1
    assert v["prompts"] == 2 and v["load_s"] > 0
    if v["status"] == "flagged":  # a random model: INT4 may well flip its flat argmaxes
        assert "INT8" in v["advice"]
    assert data["record"]["recipe"] == "INT4 k_quant_mixed b32 · cpu · merged"
    assert "building: layer 2/2" in proc.stderr  # progress on stderr
    ops = {n.op_type for n in onnx.load(str(out / "model.onnx"),
                                        load_external_data=False).graph.node}
    assert "MatMulNBits" in ops
    assert len(og_generate(out, [1, 200, 300, 400], 6)) == 6
    # again into the same folder: refused, with a free name; nothing overwritten
    before = sorted(p.name for p in out.iterdir())
    again = cli(tmp_path / "home", "--source", str(tiny_phi3_hf_dir), "--out", str(out))
    assert again.returncode == 2
    assert "is not empty" in again.stderr and f"--out {out}-2" in again.stderr
    assert sorted(p.name for p in out.iterdir()) == before


def test_bad_sources_and_impossible_choices_exit_2(tmp_path: Path, tiny_phi3_hf_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from phi4studio.cli import main

    monkeypatch.setenv("PHI4STUDIO_HOME", str(tmp_path / "home"))

    def export(*args: str) -> tuple[int, str]:
        rc = main(["export", *args, "--out", str(tmp_path / "o")])
        return rc, capsys.readouterr().err

    rc, err = export("--source", str(tmp_path / "nope"))
    assert rc == 2 and "no such folder" in err
    rc, err = export("--source", str(tiny_phi3_hf_dir), "--strategy", "adapter",
                     "--precision", "fp32")
    assert rc == 2 and "no LoRA adapter" in err
    rc, err = export("--source", str(tiny_phi3_hf_dir), "--precision", "bf16", "--ep", "cpu")
    assert rc == 2 and "no BF16 build for CPU" in err
    rc, err = export("--source", str(tiny_phi3_hf_dir), "--int4-algo", "gptq")
    assert rc == 2 and "GPTQ and AWQ calibrate on a GPU" in err
    assert not (tmp_path / "o").exists()
