"""How each target's runs started (analysis/report/cache_state.py): one line per target on the page, in the
terminal and in summary.json, and a warning for every run that was neither flushed nor salted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analysis.report.build import ReportResult, build_report
from tests.analysis.rundirs import arrivals, requests_frame, run_info, write_run

SALTED = {"on": True, "kind": "auto", "tokens": 5}
UNSALTED = {"on": False, "kind": "off", "tokens": 0}


def flush(result: str) -> dict[str, Any]:
    return {"result": result, "attempts": 1, "seconds": 0.1, "detail": ""}


def compared_run(root: Path, target: str, index: int, **cache: Any) -> Path:
    """One run of a target in one `turnbench compare` (its search id), with run.json's cache keys as given."""
    search = {"id": "cmp", "index": index, "stop_reason": "", "pod_seconds": 100.0}
    spec = arrivals(600, 120, target=target, engine=target, seed=index, search=search)
    requests = requests_frame(spec)
    return write_run(root, spec, requests=requests, info=run_info(spec, requests, **cache))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    root = tmp_path_factory.mktemp("runs")
    runs = [
        compared_run(root, "vllm", 0, cache_flushed=True, cache_flush=flush("flushed"), cache_salt=UNSALTED),
        compared_run(root, "sglang", 1, cache_flushed=False, cache_flush=flush("unsupported"), cache_salt=UNSALTED),
        compared_run(root, "vllm", 2, cache_flushed=False, cache_flush=flush("busy"), cache_salt=SALTED),
    ]
    return build_report(runs, root / "report", None, None)


def test_each_target_says_in_one_line_how_its_runs_started(report: ReportResult) -> None:
    markdown = report.markdown.read_text()
    assert "- cache at start (2 runs): 1 flushed, 1 salted; flush busy\n" in markdown
    assert "- cache at start (1 run): 1 neither; flush unsupported\n" in markdown
    assert "vllm: cache at start (2 runs): 1 flushed, 1 salted; flush busy" in report.summary.splitlines()
    summary = json.loads(report.summary_json.read_text())
    assert summary["targets"]["vllm"]["cache_start"] == {
        "runs": 2, "flushed": 1, "flushed_and_salted": 0, "salted": 1, "neither": 0, "not_recorded": 0,
        "flush_results": ["busy"],
    }  # fmt: skip


def test_a_run_neither_flushed_nor_salted_is_warned_about(report: ReportResult) -> None:
    summary = json.loads(report.summary_json.read_text())
    [warning] = [w for w in summary["warnings"] if w["kind"] == "cache_not_reset"]
    assert warning["targets"] == ["sglang"]
    assert warning["message"].startswith("sglang: 1 of 1 runs started from whatever the prefix cache held")
    assert "(flush unsupported)" in warning["message"]
    markdown = report.markdown.read_text()
    warnings = markdown[markdown.index("## Warnings") : markdown.index("## Per turn")]
    assert warning["message"] in warnings
    assert f"warning: {warning['message']}" in report.summary


def test_runs_recorded_before_the_cache_keys_are_not_recorded_and_not_warned_about(tmp_path: Path) -> None:
    spec = arrivals(600, 120)
    requests = requests_frame(spec)
    info = run_info(spec, requests)
    del info["cache_flushed"]
    result = build_report([write_run(tmp_path, spec, requests=requests, info=info)], tmp_path / "report", None, None)
    assert "- cache at start (1 run): 1 not recorded\n" in result.markdown.read_text()
    assert "cache_not_reset" not in result.summary_json.read_text()
