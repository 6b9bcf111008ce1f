"""Locust-CSV-only mode (analysis/reading/locust_csv.py): a folder with only Locust's --csv output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.figures.turns import ALL_TURNS
from analysis.reading.load import load_run
from analysis.reading.locust_csv import LIMITS, turn_of
from analysis.report.build import build_report
from tests.analysis.rundirs import LOCUST_HISTORY_HEADER, LOCUST_STATS_HEADER, Spec, locust_percentile, write_run

SPEC = Spec(conversations=200, failure_rate=0.05, seed=9)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_run(tmp_path, SPEC, locust_only=True)


def test_the_folder_holds_only_locust_files_with_locust_headers(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == ["locust_stats.csv", "locust_stats_history.csv"]
    assert (folder / "locust_stats.csv").read_text().splitlines()[0] == ",".join(LOCUST_STATS_HEADER)
    assert (folder / "locust_stats_history.csv").read_text().splitlines()[0] == ",".join(LOCUST_HISTORY_HEADER)


def test_turn_names() -> None:
    assert turn_of("turn 01") == 1 and turn_of("turn 12") == 12 and turn_of("support/turn 03") == 3
    assert turn_of("chat") is None and turn_of("Aggregated") is None


def test_per_turn_figures_are_locusts_bucketed_percentiles(folder: Path, tmp_path: Path) -> None:
    full = write_run(tmp_path / "full", SPEC)  # the same seed: the raw rows behind the Locust files
    raw = pd.read_csv(full / "requests.csv")
    ok = raw[raw["ok"]]
    result = build_report([folder], tmp_path / "out", None, None)
    summary = json.loads(result.summary_json.read_text())
    (target,) = summary["targets"].values()
    assert target["mode"] == "locust_csv_only" and target["limits"] == LIMITS
    rows = {row["group"]: row for row in target["per_turn"]}
    for turn in range(1, SPEC.turns + 1):
        subset = ok[ok["turn"] == turn]
        row = rows[str(turn)]
        assert row["n"] == len(subset)  # per-turn rows count successful turns only
        assert row["ttft_p50_ms"] == locust_percentile(subset["ttft_ms"].to_numpy(), 0.5)
        assert row["ttft_p90_ms"] == locust_percentile(subset["ttft_ms"].to_numpy(), 0.9)
        assert row["e2e_p95_ms"] == locust_percentile(subset["e2e_ms"].to_numpy(), 0.95)
        assert row["tpot_p50_ms"] == locust_percentile(subset["tpot_ms"].to_numpy() * 1000, 0.5) / 1000
        assert row["cached_share"] is None and row["ttfo_p50_ms"] is None and row["failure_rate"] is None
    assert rows[ALL_TURNS]["n"] == len(raw)
    assert rows[ALL_TURNS]["failure_rate"] == pytest.approx((~raw["ok"]).mean())
    assert target["conversations"] is None and target["cost"]["usd_per_conversation"] is None
    window_h = (SPEC.duration_s - 1) / 3600  # no run.json: from the history's first row to its last
    tokens = raw["completion_tokens"].sum()  # the chat row's requests x average content size
    assert target["cost"]["usd_per_million_output_tokens"] == pytest.approx(7.98 * window_h / tokens * 1e6)


def test_the_report_says_plainly_what_is_missing(folder: Path, tmp_path: Path) -> None:
    result = build_report([folder], tmp_path / "out", None, None)
    html = result.html.read_text()
    assert "no cached-token shares" in html and "no per-conversation figures" in html
    assert "bucketed" in html
    assert "Locust CSVs only (bucketed percentiles)" in result.markdown.read_text()


def test_a_comparison_with_a_locust_only_run_has_no_interval(folder: Path, tmp_path: Path) -> None:
    full = write_run(tmp_path / "full", Spec(target="sglang", engine="sglang", seed=2))
    result = build_report([full, folder], tmp_path / "out", None, None)
    summary = json.loads(result.summary_json.read_text())
    (comparison,) = summary["comparisons"]
    ttft = next(r for r in comparison["rows"] if r["metric"] == "ttft_p50" and r["turns"] == "2")
    assert ttft["ci_low"] is None and ttft["outcome"] == "no interval"
    assert "Locust-CSV-only mode has bucketed percentiles, no samples" in ttft["verdict"]
    assert not math.isnan(ttft["ratio"]) and np.isfinite(ttft["ratio"])


def test_run_json_next_to_locust_files_is_used(tmp_path: Path) -> None:
    folder = write_run(tmp_path, SPEC, locust_only=True)
    (folder / "run.json").write_text(json.dumps({"bad": True}))
    with pytest.raises(AnalysisError, match=r"run\.json: missing key target$"):
        load_run(folder)
