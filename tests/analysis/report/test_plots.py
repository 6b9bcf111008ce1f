"""The answer's charts (analysis/report/plots.py): latency against load and cost against traffic."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from analysis.figures.findings import Findings
from analysis.report.plots import NO_CAPACITY, NO_LEVELS, NO_TRAFFIC, cost_vs_traffic, draw_all, latency_vs_load
from tests.analysis.report.hand_made import analysed, capacity, given, level, traffic_cost

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    return analysed(tmp_path_factory.mktemp("runs"), emulated=True)


def measured(findings: Findings, traffic: float | None = 1000.0) -> Findings:
    # sglang's top level missed more than 5% of its turns: every p95 is infinite, drawn on the top edge.
    overloaded = level(1200, False, ttft=math.inf, tpot=math.inf, failure_rate=0.2)
    return given(
        findings,
        {
            "vllm": capacity([level(200, True), level(400, True), level(800, False)]),
            "sglang": capacity([level(300, True), level(600, True), overloaded]),
        },
        {"vllm": traffic_cost(3), "sglang": traffic_cost(2)} if traffic else None,
        traffic=traffic,
    )


def test_both_charts_are_drawn_from_levels_and_the_cost_curve(findings: Findings, tmp_path: Path) -> None:
    made = measured(findings)
    for plot in (latency_vs_load(made, tmp_path), cost_vs_traffic(made, tmp_path)):
        assert plot.skipped is None and plot.path is not None
        assert plot.path.read_bytes()[:8] == PNG and plot.path.stat().st_size > 10_000
    assert {p.name for p in tmp_path.iterdir()} == {"latency_vs_load.png", "cost_vs_traffic.png"}


def test_a_single_target_with_one_level_is_still_a_chart(findings: Findings, tmp_path: Path) -> None:
    made = given(findings, {"vllm": capacity([level(500, True)]), "sglang": None})
    plot = latency_vs_load(made, tmp_path)
    assert plot.path is not None and plot.path.is_file()


def test_charts_with_nothing_to_draw_are_skipped_with_their_reason(findings: Findings, tmp_path: Path) -> None:
    nothing = given(findings, {"vllm": None, "sglang": None})
    assert latency_vs_load(nothing, tmp_path).skipped == NO_LEVELS
    assert cost_vs_traffic(nothing, tmp_path).skipped == NO_TRAFFIC
    assert cost_vs_traffic(given(findings, {"vllm": None, "sglang": None}, traffic=1000.0), tmp_path).skipped == (
        NO_CAPACITY
    )
    assert cost_vs_traffic(measured(findings, traffic=None), tmp_path).skipped == NO_TRAFFIC
    assert not list(tmp_path.iterdir())


def test_draw_all_puts_the_answers_charts_first_and_keeps_the_per_turn_ones(findings: Findings, tmp_path: Path) -> None:
    plots = draw_all(measured(findings), tmp_path)
    assert [p.name for p in plots] == ["latency_vs_load", "cost_vs_traffic", "ttft_by_turn", "cached_share_by_turn"]
    assert all(p.path is not None and p.path.is_file() for p in plots)
