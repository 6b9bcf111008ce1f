"""`turnbench report` as the CLI will wire it (analysis/cli.py), and what the stage may import."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import cli
from analysis.cli import add_report_parser, run_report
from analysis.errors import AnalysisError
from analysis.figures import cost
from tests.analysis.rundirs import Spec, write_run

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="turnbench")
    add_report_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["report", *argv])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("runs")
    return [
        str(write_run(root, Spec(conversations=60, seed=1))),
        str(write_run(root, Spec(target="sglang", engine="sglang", conversations=60, seed=2))),
    ]


def test_report_prints_the_summary_and_ends_with_the_path(
    runs: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse(*runs, "--out", str(tmp_path / "out"), "--slo", "ttft_p95_ms=1500", "e2e_p95_ms=20000",
                 "--price", "vllm=5.5", "sglang=6", "--idle-timeout", "3")  # fmt: skip
    assert run_report(args) == 0
    lines = capsys.readouterr().out.splitlines()
    # The answer first, then each target's capacity, then the per-turn comparison.
    assert lines[0].startswith("At the SLO (TTFT <= 1500 ms and E2E <= 20000 ms), vllm and sglang ")
    assert lines[1].startswith("vllm: capacity ") and lines[2].startswith("sglang: capacity ")
    assert lines[3] == "vllm vs sglang"
    out = "\n".join(lines)
    assert out.rstrip().endswith(f"report: {tmp_path / 'out' / 'report.html'}")
    assert "SLO: TTFT <= 1500 ms and E2E <= 20000 ms." in (tmp_path / "out" / "report.md").read_text()
    assert "$5.50/h per pod (--price)" in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--slo", "ttft_p95_ms"],
            "--slo: expected KEY=VALUE like ttft_p95_ms=2000, got 'ttft_p95_ms' (run directories go first)",
        ),
        (["--slo", "ttft_p95_ms=fast"], "--slo: ttft_p95_ms: 'fast' is not a number"),
        (["--slo", "ttft_p50_ms=100"], "--slo: unknown key 'ttft_p50_ms'"),
        (["--price", "tgi=2"], "--price: no run has target 'tgi'; the targets are sglang, vllm"),
        (["--price", "vllm=nan"], "--price: vllm: 'nan' is not a finite number"),
        (["--idle-timeout", "-1"], "--idle-timeout: expected seconds >= 0, got -1.0"),
        (["--baseline", "tgi"], "--baseline: no run has target 'tgi'"),
    ],
)
def test_bad_options_are_one_line_errors(runs: list[str], tmp_path: Path, extra: list[str], message: str) -> None:
    with pytest.raises(AnalysisError) as caught:
        run_report(parse(*runs, "--out", str(tmp_path), *extra))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_missing_run_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match=r"nope: no such directory"):
        run_report(parse(str(tmp_path / "nope")))


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_the_cli_module_stays_light_for_turnbench_help() -> None:
    assert not {"pandas", "numpy", "matplotlib"} & imported_after("import analysis.cli")
    assert cli.DEFAULT_IDLE_TIMEOUT_S == cost.DEFAULT_IDLE_TIMEOUT_S  # repeated there to stay light


def test_the_analysis_stage_imports_no_locust_gevent_or_later_harness_modules() -> None:
    modules = imported_after("import analysis.report.build, analysis.cli")
    assert not {m for m in modules if m.split(".")[0] in ("locust", "gevent")}
    harness = {m for m in modules if m.split(".")[0] == "harness"}
    facts = {"harness.recording.run_dir", "harness.slo", "harness.key_value", "harness.client.measurement",
             "harness.client.dialect", "harness.client.turn_result", "harness.recording.cached_rule"}  # fmt: skip
    assert harness <= facts | {"harness", "harness.recording", "harness.client"}
