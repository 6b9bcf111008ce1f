"""The report files (analysis/report/build.py, summary.py, sections.py, render_*.py): what lands on disk."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from analysis.errors import AnalysisError
from analysis.report.build import build_report, default_out_dir
from analysis.report.plots import NO_TRAFFIC
from tests.analysis.rundirs import Spec, write_run

LEVELS = ((8, 300.0), (16, 300.0), (32, 300.0))
PLOTS = {"latency_vs_load", "cost_vs_traffic", "ttft_by_turn", "cached_share_by_turn"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("runs")
    return [
        write_run(root, Spec(conversations=400, levels=LEVELS, load_factor=0.03, seed=1)),
        write_run(
            root,
            Spec(target="sglang", engine="sglang", conversations=400, levels=LEVELS, load_factor=0.02, seed=2,
                 ttft_ms=320.0, billing={"kind": "serverless", "usd_per_gpu_second": 0.00116}),
        ),
    ]  # fmt: skip


def drawn(summary: dict[str, Any]) -> set[str]:
    return {name for name, plot in summary["plots"].items() if plot["file"]}


def test_all_files_are_written_and_summary_json_has_the_expected_shape(pair: list[Path], tmp_path: Path) -> None:
    result = build_report(pair, tmp_path / "out", {"ttft_p95_ms": 1500, "e2e_p95_ms": 20000}, None)
    summary = json.loads(result.summary_json.read_text())
    assert set(summary["plots"]) == PLOTS and drawn(summary) >= {"ttft_by_turn", "cached_share_by_turn"}
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "report.html", "report.md", "summary.json", *(f"{name}.png" for name in drawn(summary))
    }  # fmt: skip
    assert set(summary) == {
        "schema_version", "answer", "where_each_wins", "workload_warnings", "emulated", "emulated_notice", "slo",
        "idle_timeout_s", "traffic", "targets", "capacity_ratios", "compared_at", "comparisons", "warnings", "plots",
    }  # fmt: skip
    assert summary["schema_version"] == 2 and summary["answer"] == result.summary.splitlines()[0]
    assert summary["slo"] == {
        "ttft_p95_ms": 1500, "e2e_p95_ms": 20000, "tpot_p95_ms": None, "failure_rate": None, "is_default": False
    }  # fmt: skip
    assert list(summary["targets"]) == ["vllm", "sglang"]
    vllm = summary["targets"]["vllm"]
    assert [row["group"] for row in vllm["per_turn"]] == ["1", "2", "3", "4", "turns >= 2", "all turns"]
    assert set(vllm["per_turn"][0]) >= {"n", "ttft_p50_ms", "ttft_p90_ms", "ttft_p99_ms", "cached_share"}
    assert vllm["cost"]["price"]["kind"] == "pod" and summary["targets"]["sglang"]["cost"]["price"]["kind"] == (
        "serverless"
    )
    assert "capacity" in vllm and vllm["cost_for_traffic"] is None  # no --traffic
    (comparison,) = summary["comparisons"]
    assert (comparison["baseline"], comparison["candidate"]) == ("vllm", "sglang")
    row = comparison["rows"][0]
    assert set(row) == {
        "turns", "metric", "ratio", "ci_low", "ci_high", "n_baseline", "n_candidate", "outcome", "verdict"
    }  # fmt: skip
    assert row["ci_low"] < row["ratio"] < row["ci_high"]
    assert len(comparison["verdicts"]) == 4
    assert summary["plots"]["ttft_by_turn"] == {"file": "ttft_by_turn.png", "skipped": None}
    assert result.plots and all(p.exists() for p in result.plots)


def test_a_ramp_reports_its_levels_and_capacity(pair: list[Path], tmp_path: Path) -> None:
    result = build_report(pair, tmp_path / "out", {"ttft_p95_ms": 1500, "e2e_p95_ms": 20000}, None)
    summary = json.loads(result.summary_json.read_text())
    capacity = summary["targets"]["vllm"]["capacity"]
    assert len(capacity["levels"]) == 3 and capacity["levels"][0]["users"] == 8
    assert capacity["conversations_per_hour"] in [level["conversations_per_hour"] for level in capacity["levels"]]
    assert summary["plots"]["latency_vs_load"] == {"file": "latency_vs_load.png", "skipped": None}


def test_html_is_self_contained_and_markdown_links_its_images(pair: list[Path], tmp_path: Path) -> None:
    result = build_report(pair, tmp_path / "out", None, None)
    html = result.html.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<link" not in html and "<script" not in html
    images = drawn(json.loads(result.summary_json.read_text()))
    assert html.count('src="data:image/png;base64,') == len(images)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", result.markdown.read_text())
    assert sorted(links) == sorted(f"{name}.png" for name in images)
    assert all((result.out_dir / link).is_file() for link in links)
    for text in (html, result.markdown.read_text()):
        assert "vllm: per turn" in text and "sglang: per turn" in text
        assert "Comparison: sglang vs vllm" in text and "Capacity per replica at the SLO" in text


def test_the_terminal_summary(pair: list[Path], tmp_path: Path) -> None:
    result = build_report(pair, tmp_path / "out", None, None)
    lines = result.summary.splitlines()
    assert lines[0] == json.loads(result.summary_json.read_text())["answer"]
    assert lines[1].startswith("vllm: capacity ") and lines[2].startswith("sglang: capacity ")
    assert lines[3] == "vllm vs sglang"
    assert re.fullmatch(r"TTFT p50 \(ms\)\s+vllm\s+sglang", lines[4])
    assert re.fullmatch(r"turn 1\s+\d[\d,]*\s+\d[\d,]*", lines[5])
    assert any(line.startswith("cost per conversation at the load offered: vllm $") for line in lines)
    assert any(line.startswith("verdict: sglang's median TTFT on turns >= 2 is ") for line in lines)
    assert lines[-1] == f"report: {result.html}"


def test_without_a_traffic_the_cost_chart_is_skipped_and_says_why(tmp_path: Path) -> None:
    run = write_run(tmp_path, Spec(conversations=50))
    result = build_report([run], tmp_path / "out", None, None)
    summary = json.loads(result.summary_json.read_text())
    assert summary["plots"]["cost_vs_traffic"] == {"file": None, "skipped": NO_TRAFFIC}
    assert not (tmp_path / "out" / "cost_vs_traffic.png").exists()
    for text in (result.html.read_text(), result.markdown.read_text()):
        assert f"Cost per month against traffic: not drawn, because {NO_TRAFFIC}." in text
        assert "no ramp (single load level)" not in text
    assert summary["comparisons"] == []


def test_one_run_reports_into_its_own_directory(tmp_path: Path) -> None:
    run = write_run(tmp_path, Spec(conversations=20))
    assert default_out_dir([run]) == run
    assert default_out_dir([run, tmp_path / "other"]) == tmp_path / f"report-{run.name}-vs-other"


def test_an_unwritable_output_is_one_line(tmp_path: Path) -> None:
    run = write_run(tmp_path, Spec(conversations=20))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AnalysisError, match=r"^.*/file: cannot write the report: .*; pass --out DIR$"):
        build_report([run], blocker, None, None)
