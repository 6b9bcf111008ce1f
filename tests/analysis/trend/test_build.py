"""`turnbench report --trend RUNS_DIR`: runs/index.csv in, charts and a regression verdict per group out.

index.csv files are written by hand here (harness.recording.run_dir.INDEX_COLUMNS), one nightly run a day,
so each test states exactly which runs exist and what they measured.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from analysis.cli import REGRESSION_EXIT_CODE, add_report_parser, run_report
from analysis.errors import AnalysisError
from harness.recording.run_dir import INDEX_COLUMNS, INDEX_CSV, RUN_JSON

ROOT = Path(__file__).resolve().parents[3]
DAY = 86_400.0
START = 1_790_000_000.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_row(night: int, **changes: Any) -> dict[str, Any]:
    """A healthy nightly run of shared-context against vllm-emulated, `night` days after START."""
    row: dict[str, Any] = {
        "run_id": f"night-{night}", "run_dir": f"runs/night-{night}", "started_at": START + night * DAY,
        "ended_at": START + night * DAY + 300, "target": "vllm-emulated", "engine": "vllm",
        "scenario": "shared-context", "users": 50, "turns": 400, "failure_rate": 0.0, "ttft_p50_ms": 300.0,
        "ttft_p95_ms": 640.0, "e2e_p50_ms": 4000.0, "e2e_p95_ms": 6000.0, "tpot_p95_ms": 21.5,
        "cached_share": 0.8, "lag_p99_ms": 1.5, "saturated": False, "status": "complete", "exit_code": 0,
    }  # fmt: skip
    row.update(changes)
    return row


def write_index(runs_dir: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = INDEX_COLUMNS) -> Path:
    """index.csv as `turnbench run` appends it: empty cells for None, True/False for booleans."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    with (runs_dir / INDEX_CSV).open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows(["" if row.get(c) is None else row.get(c) for c in columns] for row in rows)
    return runs_dir


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="turnbench")
    add_report_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["report", *argv])


def turnbench_report(*argv: str) -> subprocess.CompletedProcess[str]:
    """The real command line, as a scheduler runs it."""
    return subprocess.run(
        [sys.executable, "-m", "turnbench", "report", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def trend_json(runs_dir: Path) -> dict[str, Any]:
    return dict(json.loads((runs_dir / "trend" / "trend.json").read_text()))


def test_three_steady_runs_render_a_self_contained_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = write_index(tmp_path / "runs", [run_row(n, ttft_p95_ms=640.0 + n) for n in range(3)])
    assert run_report(parse("--trend", str(runs))) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "vllm-emulated / shared-context: 3 runs; latest ttft_p95 642 ms vs baseline 640 ms (+0%): ok"
    assert out[-1] == f"trend: {runs / 'trend' / 'trend.html'}"
    page = (runs / "trend" / "trend.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1
    assert base64.b64decode(images[0]).startswith(PNG_SIGNATURE)
    assert "http://" not in page and "https://" not in page  # nothing fetched when it is opened
    markdown = (runs / "trend" / "trend.md").read_text()
    assert "![vllm-emulated / shared-context: runs over time](trend-vllm-emulated-shared-context.png)" in markdown
    assert (runs / "trend" / "trend-vllm-emulated-shared-context.png").read_bytes().startswith(PNG_SIGNATURE)
    summary = trend_json(runs)
    assert summary["regression"] is False
    assert summary["groups"][0]["latest"]["baseline_run_ids"] == ["night-0", "night-1"]


def test_a_regression_in_the_latest_run_fails_the_gate(tmp_path: Path) -> None:
    rows = [run_row(n) for n in range(6)] + [run_row(6, ttft_p95_ms=909.0)]
    runs = write_index(tmp_path / "runs", rows)
    done = turnbench_report("--trend", str(runs), "--gate")
    assert done.returncode == REGRESSION_EXIT_CODE == 3, done.stderr
    assert done.stdout.splitlines()[0] == (
        "vllm-emulated / shared-context: 7 runs; latest ttft_p95 909 ms vs baseline 640 ms (+42%): REGRESSION"
    )
    latest = trend_json(runs)["groups"][0]["latest"]
    assert [b["figure"] for b in latest["breaches"]] == ["ttft_p95_ms"]
    assert "REGRESSION: ttft_p95 909 ms vs baseline 640 ms (+42%)" in (runs / "trend" / "trend.md").read_text()


def test_without_gate_a_regression_is_reported_but_exits_zero(tmp_path: Path) -> None:
    runs = write_index(tmp_path / "runs", [run_row(0), run_row(1, e2e_p95_ms=9000.0)])
    done = turnbench_report("--trend", str(runs))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("vllm-emulated / shared-context: 2 runs; latest e2e_p95 9000 ms vs baseline")
    assert "REGRESSION" in done.stdout


def test_no_regression_passes_the_gate(tmp_path: Path) -> None:
    runs = write_index(tmp_path / "runs", [run_row(n, ttft_p95_ms=640.0 + 5 * n) for n in range(5)])
    done = turnbench_report("--trend", str(runs), "--gate")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].endswith(": ok")


def test_only_the_latest_run_gates(tmp_path: Path) -> None:
    """A regression that was fixed the next night is history, not an alert."""
    rows = [run_row(0), run_row(1), run_row(2, ttft_p95_ms=2000.0), run_row(3)]
    runs = write_index(tmp_path / "runs", rows)
    assert run_report(parse("--trend", str(runs), "--gate")) == 0
    history = trend_json(runs)["groups"][0]["history"]
    assert [run["regression"] for run in history] == [False, False, True, False]


@pytest.mark.parametrize(
    ("latest", "regression"),
    [
        ({"ttft_p95_ms": 704.0}, False),  # +10% of 640 is the limit itself
        ({"ttft_p95_ms": 705.0}, True),
        ({"tpot_p95_ms": 24.0}, True),
        ({"failure_rate": 0.009}, False),  # failure rate: one point absolute over a baseline of 0
        ({"failure_rate": 0.011}, True),
        ({"cached_share": 0.71}, False),  # cached share: ten points absolute below 80%
        ({"cached_share": 0.69}, True),
        ({"cached_share": None}, False),  # not measured is not a regression
    ],
)
def test_each_figure_has_its_own_limit(tmp_path: Path, latest: dict[str, Any], regression: bool) -> None:
    runs = write_index(tmp_path / "runs", [run_row(0), run_row(1), run_row(2, **latest)])
    assert run_report(parse("--trend", str(runs), "--gate")) == (REGRESSION_EXIT_CODE if regression else 0)


def test_the_tolerance_and_baseline_window_are_options(tmp_path: Path) -> None:
    rows = [run_row(0, ttft_p95_ms=400.0), run_row(1), run_row(2), run_row(3, ttft_p95_ms=800.0)]
    runs = write_index(tmp_path / "runs", rows)
    assert run_report(parse("--trend", str(runs), "--gate")) == REGRESSION_EXIT_CODE
    assert run_report(parse("--trend", str(runs), "--gate", "--tolerance", "0.3")) == 0
    # The baseline is the median of the previous N runs: night 0's 400 ms drops out with N=2.
    run_report(parse("--trend", str(runs), "--baseline-runs", "2"))
    assert trend_json(runs)["groups"][0]["latest"]["baseline"]["ttft_p95_ms"] == 640.0


def test_saturated_and_interrupted_runs_are_shown_but_not_in_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Had the two fast but untrustworthy runs counted, the baseline would be 370 ms and 640 ms a regression.
    rows = [
        run_row(0, ttft_p95_ms=600.0),
        run_row(1, ttft_p95_ms=600.0),
        run_row(2, ttft_p95_ms=100.0, saturated=True),
        run_row(3, ttft_p95_ms=100.0, status="interrupted"),
        run_row(4, ttft_p95_ms=640.0),
    ]
    runs = write_index(tmp_path / "runs", rows)
    assert run_report(parse("--trend", str(runs), "--gate")) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line == (
        "vllm-emulated / shared-context: 5 runs (2 not in baselines: interrupted, failed or saturated); "
        "latest ttft_p95 640 ms vs baseline 600 ms (+7%): ok"
    )
    group = trend_json(runs)["groups"][0]
    assert group["latest"]["baseline_run_ids"] == ["night-0", "night-1"]
    assert [run["counts_for_baseline"] for run in group["history"]] == [True, True, False, False, True]
    markdown = (runs / "trend" / "trend.md").read_text()
    assert "| night-2 | complete, saturated |" in markdown
    assert "| night-3 | interrupted |" in markdown
    assert "excluded from baselines" in markdown


def test_a_saturated_latest_run_says_its_timings_are_suspect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = write_index(tmp_path / "runs", [run_row(0), run_row(1, saturated=True)])
    run_report(parse("--trend", str(runs)))
    assert "[latest run: load generator saturated; not used in baselines]" in capsys.readouterr().out


def test_each_target_and_scenario_is_its_own_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        run_row(0),
        run_row(0, run_id="sg-0", target="sglang-emulated", engine="sglang"),
        run_row(1, ttft_p95_ms=900.0),
        run_row(1, run_id="sg-1", target="sglang-emulated", engine="sglang"),
        run_row(1, run_id="support-1", scenario="support"),
    ]
    runs = write_index(tmp_path / "runs", rows)
    assert run_report(parse("--trend", str(runs), "--gate")) == REGRESSION_EXIT_CODE
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        "vllm-emulated / shared-context: 2 runs; latest ttft_p95 900 ms vs baseline 640 ms (+41%): REGRESSION",
        "sglang-emulated / shared-context: 2 runs; latest ttft_p95 640 ms vs baseline 640 ms (+0%): ok",
        "vllm-emulated / support: 1 run; latest no baseline yet (no earlier complete run with a healthy load "
        "generator): ok",
    ]
    assert len(list((runs / "trend").glob("*.png"))) == 3


def test_emulated_runs_carry_the_notice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = write_index(tmp_path / "runs", [run_row(0), run_row(1)])
    (runs / "night-1").mkdir()
    (runs / "night-1" / RUN_JSON).write_text(json.dumps({"server": {"emulator": True}}))
    run_report(parse("--trend", str(runs), "--out", str(tmp_path / "elsewhere")))
    assert "emulated engine: these numbers come from a model, not a GPU" in capsys.readouterr().out
    assert "these numbers come from a model" in (tmp_path / "elsewhere" / "trend.html").read_text()


def test_rows_of_runs_that_never_started_are_left_out_and_counted(tmp_path: Path) -> None:
    rows = [run_row(0), run_row(1, target=None, started_at=None, status=None), run_row(2)]
    runs = write_index(tmp_path / "runs", rows)
    assert run_report(parse("--trend", str(runs))) == 0
    assert "1 row(s) of index.csv have no target or start time" in (runs / "trend" / "trend.md").read_text()
    assert trend_json(runs)["groups"][0]["runs"] == 2


def test_a_missing_column_is_one_line_and_exit_2(tmp_path: Path) -> None:
    columns = [c for c in INDEX_COLUMNS if c != "cached_share"]
    runs = write_index(tmp_path / "runs", [run_row(0)], columns)
    done = turnbench_report("--trend", str(runs), "--gate")
    assert done.returncode == 2
    assert done.stderr == (
        f"turnbench report: {runs / INDEX_CSV}: missing column 'cached_share'; "
        "expected the columns of harness.recording.run_dir.INDEX_COLUMNS\n"
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (None, "index.csv: missing; `turnbench run --out"),
        ([], "index.csv: no runs recorded yet"),
        ([run_row(0, ttft_p95_ms="fast")], "index.csv line 2: column 'ttft_p95_ms': 'fast' is not a number"),
        ([run_row(0, saturated="maybe")], "index.csv line 2: column 'saturated': expected True or False"),
    ],
)
def test_bad_index_files_are_one_line_errors(tmp_path: Path, rows: list[dict[str, Any]] | None, message: str) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    if rows is not None:
        write_index(runs, rows)
    with pytest.raises(AnalysisError) as caught:
        run_report(parse("--trend", str(runs)))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give RUN_DIR... to report on runs (before --slo and --price), or --trend RUNS_DIR for their trend"),
        (["some-run", "--trend", "runs"], "give either RUN_DIR... or --trend RUNS_DIR, not both"),
        (["some-run", "--gate"], "--gate works with --trend RUNS_DIR only"),
        (["--trend", "runs", "--slo", "ttft_p95_ms=100"], "--slo applies to reports on RUN_DIR..., not to --trend"),
        (["--trend", "runs", "--baseline-runs", "0"], "--baseline-runs: expected a count >= 1, got 0"),
        (["--trend", "runs", "--tolerance", "-0.1"], "--tolerance: expected a fraction >= 0 like 0.10, got -0.1"),
    ],
)
def test_mixing_the_two_modes_is_a_one_line_error(argv: list[str], message: str) -> None:
    with pytest.raises(AnalysisError) as caught:
        run_report(parse(*argv))
    assert str(caught.value).startswith(message)


def test_neither_mode_through_the_command_line_is_exit_2() -> None:
    done = turnbench_report()
    assert done.returncode == 2
    assert done.stderr.startswith("turnbench report: give RUN_DIR...")
    assert len(done.stderr.splitlines()) == 1
