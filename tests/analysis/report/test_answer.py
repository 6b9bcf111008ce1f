"""The headline sentence and where each target wins (analysis/report/answer.py), on hand-made findings."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from analysis.figures.bootstrap import RatioEstimate
from analysis.figures.capacity.estimate import Capacity
from analysis.figures.findings import Findings
from analysis.figures.ratios import METRICS, Comparison, MetricComparison
from analysis.report.answer import answer, where_each_wins
from tests.analysis.report.hand_made import analysed, capacity, given, level, ratio, traffic_cost

SLO_TEXT = "the SLO (TTFT <= 2000 ms and TPOT <= 50 ms)"


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    return analysed(tmp_path_factory.mktemp("runs"))


def vllm_400() -> Capacity:
    return capacity([level(200, True), level(400, True), level(800, False)], low=380, high=460)


def sglang_600() -> Capacity:
    return capacity([level(300, True), level(600, True), level(1200, False)], low=560, high=700)


def test_the_target_with_fewer_replicas_and_lower_cost_is_named_with_the_capacity_ratio(findings: Findings) -> None:
    made = given(
        findings,
        {"vllm": vllm_400(), "sglang": sglang_600()},
        {"vllm": traffic_cost(3), "sglang": traffic_cost(2)},
        [ratio("sglang", "vllm", 1.5, 1.22, 1.84, "higher")],
        traffic=1000.0,
    )
    assert answer(made) == (
        f"For 1,000 conversations/hour within {SLO_TEXT}, sglang needs fewer replicas than vllm (2 vs 3) and costs "
        "less per month ($11,651 vs $17,476); sglang's capacity per replica is 1.50x vllm's (interval 1.22-1.84)."
    )


def test_the_baseline_winning_inverts_the_ratio(findings: Findings) -> None:
    made = given(
        findings,
        {"vllm": sglang_600(), "sglang": vllm_400()},
        {"vllm": traffic_cost(2), "sglang": traffic_cost(3)},
        [ratio("sglang", "vllm", 0.5, 0.25, 0.8, "lower")],
        traffic=1000.0,
    )
    assert answer(made).endswith("vllm's capacity per replica is 2.00x sglang's (interval 1.25-4.00).")
    assert "vllm needs fewer replicas than sglang (2 vs 3)" in answer(made)


def test_equal_replicas_say_so_and_which_is_cheaper_by_price(findings: Findings) -> None:
    caps = {"vllm": vllm_400(), "sglang": sglang_600()}
    cheaper = {"vllm": traffic_cost(3), "sglang": traffic_cost(3, usd_per_hour=6.0)}
    text = answer(given(findings, caps, cheaper, [ratio("sglang", "vllm", 1.5, 1.22, 1.84, "higher")], 1000.0))
    assert text.startswith(
        f"For 1,000 conversations/hour within {SLO_TEXT}, sglang and vllm both need 3 replicas, and sglang costs "
        "less per month by its price ($13,140 vs $17,476); "
    )
    same = {"vllm": traffic_cost(3), "sglang": traffic_cost(3)}
    text = answer(given(findings, caps, same, [ratio("sglang", "vllm", 1.5, 1.22, 1.84, "higher")], 1000.0))
    assert "both need 3 replicas and cost the same ($17,476 per month)" in text


def test_fewer_replicas_at_a_higher_price_is_not_called_cheaper(findings: Findings) -> None:
    caps = {"vllm": vllm_400(), "sglang": sglang_600()}
    costs = {"vllm": traffic_cost(3), "sglang": traffic_cost(2, usd_per_hour=20.0)}
    text = answer(given(findings, caps, costs, [ratio("sglang", "vllm", 1.5, 1.22, 1.84, "higher")], 1000.0))
    assert "vllm costs less per month than sglang ($17,476 vs $29,200) though it needs more replicas (3 vs 2)" in text


def test_no_significant_difference_in_capacity_is_said_and_the_replica_gap_doubted(findings: Findings) -> None:
    caps = {"vllm": vllm_400(), "sglang": capacity([level(420, True), level(840, False)], low=380, high=470)}
    costs = {"vllm": traffic_cost(3), "sglang": traffic_cost(3)}
    flat = [ratio("sglang", "vllm", 1.05, 0.83, 1.24, "no significant difference")]
    text = answer(given(findings, caps, costs, flat, 1000.0))
    assert text == (
        f"For 1,000 conversations/hour within {SLO_TEXT}, vllm and sglang both need 3 replicas and cost the same "
        "($17,476 per month); their capacities per replica do not differ significantly (vllm / sglang 0.95, "
        "interval 0.81-1.20)."
    )
    gap = {"vllm": traffic_cost(3), "sglang": traffic_cost(2)}
    text = answer(given(findings, caps, gap, flat, 1000.0))
    assert text.endswith(
        "their capacities per replica do not differ significantly (sglang / vllm 1.05, interval 0.83-1.24), so the "
        "replica gap may not hold."
    )


def test_without_a_traffic_the_answer_is_capacity_only(findings: Findings) -> None:
    caps = {"vllm": vllm_400(), "sglang": sglang_600()}
    text = answer(given(findings, caps, ratios=[ratio("sglang", "vllm", 1.5, 1.22, math.inf, "higher")]))
    assert text == (
        f"At {SLO_TEXT}, sglang serves more conversations per replica than vllm (600 vs 400 per hour), a capacity "
        "ratio of 1.50 (interval: at least 1.22); state a traffic (--traffic 1000/h) for replicas and cost per month."
    )
    flat = [ratio("sglang", "vllm", 1.02, 0.9, 1.2, "no significant difference")]
    text = answer(given(findings, {"vllm": vllm_400(), "sglang": vllm_400()}, ratios=flat))
    assert text.startswith(
        f"At {SLO_TEXT}, vllm and sglang serve about as many conversations per replica (400 and 400 per hour): the "
        "capacity ratio 0.98 (interval 0.83-1.11) includes 1, no significant difference"
    )


def test_a_target_no_level_held_cannot_serve(findings: Findings) -> None:
    failed = capacity([level(100, False), level(200, False)])
    assert failed.conversations_per_hour is None
    caps = {"vllm": failed, "sglang": sglang_600()}
    costs = {"vllm": traffic_cost(None), "sglang": traffic_cost(2)}
    no_ratio = [ratio("sglang", "vllm", math.nan, math.nan, math.nan, "no capacity")]
    text = answer(given(findings, caps, costs, no_ratio, 1000.0))
    assert text == (
        f"For 1,000 conversations/hour within {SLO_TEXT}, only sglang can serve it: 2 replicas at $11,651 per month, "
        "holding up to 600 conversations/hour (interval 560-700) per replica; vllm cannot serve at this SLO: it "
        "failed even at 100 conversations/hour, its lowest load."
    )
    text = answer(given(findings, {"vllm": failed, "sglang": failed}, traffic=1000.0))
    assert text == (
        f"At {SLO_TEXT}, vllm and sglang cannot serve: no load level measured held it; vllm failed even at 100 "
        "conversations/hour, its lowest load; sglang failed even at 100 conversations/hour, its lowest load."
    )


def test_no_level_measured_says_there_is_no_capacity(findings: Findings) -> None:
    none = given(findings, {"vllm": None, "sglang": None})
    assert answer(none).startswith(f"No load level was measured, so there is no capacity at {SLO_TEXT}")
    text = answer(given(findings, {"vllm": vllm_400(), "sglang": None}))
    assert text.startswith(f"At {SLO_TEXT}, vllm can serve: up to 400 conversations/hour (interval 380-460)")
    assert "; sglang had no load level measured; " in text


def row(group: str, key: str, value: float, low: float, high: float, outcome: str) -> MetricComparison:
    metric = next(m for m in METRICS if m.key == key)
    return MetricComparison(group, metric, RatioEstimate(value, low, high, 200, 200), outcome, "")  # type: ignore[arg-type]


def test_where_each_wins_lists_the_significant_turns_per_metric(findings: Findings) -> None:
    rows = (
        row("1", "ttft_p50", 0.98, 0.9, 1.05, "no significant difference"),
        row("2", "ttft_p50", 0.5, 0.45, 0.55, "faster"),
        row("3", "ttft_p50", 0.4, 0.35, 0.45, "faster"),
        row("turns >= 2", "ttft_p50", 0.45, 0.42, 0.48, "faster"),
        row("all turns", "e2e_p50", 1.25, 1.2, 1.3, "slower"),
        row("all turns", "tpot_p50", 1.0, 0.9, 1.1, "no significant difference"),
    )
    made = replace(findings, comparisons=(Comparison("vllm", "sglang", rows),))
    assert where_each_wins(made) == [
        "vllm is faster on median E2E: all turns (0.80x sglang's)",
        "sglang is faster on median TTFT: turn 2, turn 3, turns >= 2 (0.40x-0.50x vllm's)",
    ]
    quiet = replace(findings, comparisons=(Comparison("vllm", "sglang", rows[:1]),))
    assert where_each_wins(quiet) == []
