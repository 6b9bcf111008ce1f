"""Capacity from load levels, and the capacity ratio of two targets (analysis/figures/capacity/estimate.py)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from analysis.figures.capacity.estimate import (
    LEVELS_AS_GIVEN,
    Capacity,
    capacity_from_runs,
    capacity_of,
    capacity_ratio,
)
from analysis.figures.capacity.levels import LoadLevel
from analysis.figures.prices import Price
from analysis.reading.load import load_run
from harness.slo import Slo
from tests.analysis.rundirs import arrivals, write_run

POD = Price("pod", 7.98, 2, "test")


def level(load: float, score: float, low: float | None = None, high: float | None = None) -> LoadLevel:
    """A made-up level: `score` decides whether it held; (low, high) its bootstrap interval."""
    return LoadLevel(
        kind="arrivals", conversations_per_hour=load, started_per_hour=load, users=64, start=0.0, end=600.0,
        turns=400, misses=0, ttft_p95_ms=2000.0 * score, tpot_p95_ms=math.nan, e2e_p95_ms=math.nan,
        failure_rate=0.0, late_starts=0, conversations=100, concurrent_conversations=load / 100.0, e2e_mean_s=5.0,
        score=score, score_low=score * 0.9 if low is None else low, score_high=score * 1.1 if high is None else high,
        meets_slo=score <= 1.0, why="", run_dir=None,
    )  # fmt: skip


def test_capacity_interval_and_estimate_from_made_up_levels() -> None:
    levels = [
        level(2000, 1.6),  # failed clearly
        level(500, 0.4),  # held clearly
        level(1000, 0.8),  # held clearly
        level(1400, 0.95, high=1.05),  # held, but not clearly
        level(1700, 1.1, low=0.97),  # failed, not clearly
    ]
    capacity = capacity_of(levels, "resolution reached", 12.5)
    assert [lv.conversations_per_hour for lv in capacity.levels] == [500, 1000, 1400, 1700, 2000]
    assert capacity.conversations_per_hour == 1400
    assert capacity.low == 1000  # the highest level that held clearly
    assert capacity.high == 1700  # the lowest level above capacity that failed
    # log score crosses 0 between (log 1400, log 0.95) and (log 1700, log 1.1).
    t = -math.log(0.95) / (math.log(1.1) - math.log(0.95))
    assert capacity.estimate == pytest.approx(math.exp(math.log(1400) + t * (math.log(1700) - math.log(1400))))
    assert 1400 < (capacity.estimate or 0) < 1700
    assert capacity.concurrent_conversations == 14.0
    assert capacity.held_level is not None and capacity.held_level.conversations_per_hour == 1400
    assert (capacity.stop_reason, capacity.pod_minutes) == ("resolution reached", 12.5)


def test_an_infinite_score_above_puts_the_estimate_in_the_geometric_middle() -> None:
    capacity = capacity_of([level(1000, 0.5), level(4000, math.inf)], LEVELS_AS_GIVEN, 0.0)
    assert capacity.estimate == pytest.approx(2000.0)
    assert capacity.high == 4000


def test_nothing_failed_above_means_no_upper_bound() -> None:
    capacity = capacity_of([level(500, 0.3), level(1000, 0.6)], LEVELS_AS_GIVEN, 0.0)
    assert capacity.conversations_per_hour == capacity.estimate == capacity.low == 1000
    assert math.isinf(capacity.high)


def test_no_level_held_means_no_capacity() -> None:
    capacity = capacity_of([level(500, 1.3), level(1000, 2.0)], LEVELS_AS_GIVEN, 0.0)
    assert capacity.conversations_per_hour is None and capacity.estimate is None and capacity.low is None
    assert capacity.held_level is None and math.isinf(capacity.high)


def capacity(held: float, low: float | None, failed: float, estimate: float) -> Capacity:
    return Capacity(held, low, failed, estimate, 10.0, (), LEVELS_AS_GIVEN, 0.0)


def test_capacity_ratio_outcomes_and_verdicts() -> None:
    base = capacity(1000, 900, 1100, 1050)
    higher = capacity_ratio("vllm", base, "sglang", capacity(1600, 1500, 1800, 1700))
    assert higher.ratio == pytest.approx(1700 / 1050)
    assert (higher.low, higher.high) == pytest.approx((1500 / 1100, 1800 / 900))
    assert higher.outcome == "higher"
    assert higher.verdict.startswith("sglang serves more conversations per hour than vllm within the SLO (1.62x")
    assert capacity_ratio("vllm", base, "slow", capacity(600, 500, 700, 650)).outcome == "lower"
    same = capacity_ratio("vllm", base, "vllm-b", capacity(1000, 900, 1200, 1100))
    assert same.outcome == "no significant difference" and same.low < 1 < same.high
    assert "no significantly different" in same.verdict
    unbounded = capacity_ratio("vllm", capacity(1000, None, math.inf, 1000), "b", base)
    assert unbounded.low == 0.0 and math.isinf(unbounded.high) and unbounded.outcome == "no significant difference"
    none = capacity_ratio("vllm", base, "tgi", Capacity(None, None, math.inf, None, None, (), LEVELS_AS_GIVEN, 0.0))
    assert none.outcome == "no capacity" and math.isnan(none.ratio)
    assert none.verdict == "tgi held the SLO at no load measured, so there is no capacity ratio between tgi and vllm."


def test_a_saturated_ramp_step_is_above_the_held_one_though_it_started_fewer_conversations() -> None:
    # Closed loop: at 40 users the engine queues, so fewer conversations start per hour than at 8 users.
    steps = [replace(level(rate, score), kind="users", users=users)
             for users, rate, score in ((2, 474.0, 0.46), (8, 1895.0, 0.52), (40, 1184.0, 2.85))]  # fmt: skip
    found = capacity_of(steps, LEVELS_AS_GIVEN, 0.0)
    assert [step.users for step in found.levels] == [2, 8, 40]
    assert found.conversations_per_hour == 1895.0
    assert found.high == pytest.approx(1895.0 * 40 / 8)  # what 40 users offer at the 8-user step's pace
    assert found.estimate is not None and 1895.0 < found.estimate < found.high


def test_two_targets_that_held_every_load_have_no_capacity_ratio() -> None:
    # A fixed-load comparison: each held the one rate it ran, so neither capacity is known, only a lower bound.
    one_rate = replace(capacity(3000, 3000, math.inf, 3000), levels=(level(3000, 0.5, 0.4, 0.6),))
    found = capacity_ratio("fast", one_rate, "slow", one_rate)
    assert found.outcome == "lower bounds only" and math.isnan(found.ratio)
    assert "at least 3,000 and 3,000 conversations/hour" in found.verdict and "capacity search" in found.verdict


def test_levels_where_no_conversation_started_give_no_capacity_ratio() -> None:
    # A short closed-loop window in which no conversation began: its load is 0, and it "held" on the turns it saw.
    idle = capacity_of([level(0.0, 0.2), level(0.0, 0.3)], LEVELS_AS_GIVEN, 0.0)
    assert idle.conversations_per_hour == idle.estimate == 0.0
    below_a_failure = capacity_of([level(0.0, 0.2), level(1000, 2.0)], LEVELS_AS_GIVEN, 0.0)
    assert below_a_failure.estimate == 0.0 and below_a_failure.high == 1000
    found = capacity_ratio("vllm", idle, "sglang", idle)
    assert found.outcome == "no capacity" and math.isnan(found.ratio)
    assert found.verdict.startswith("vllm and sglang held the SLO at no load measured")


def test_capacity_from_level_runs_reads_the_search_record(tmp_path: Path) -> None:
    slo = Slo(ttft_p95_ms=2000.0)
    first = {"id": "s1", "index": 0, "stop_reason": "", "pod_seconds": 150.0}
    last = {"id": "s1", "index": 1, "stop_reason": "resolution reached", "pod_seconds": 180.0}
    fast = arrivals(600, 120, ttft_ms=300.0, search=first)
    slow = arrivals(1200, 120, ttft_ms=3000.0, seed=1, search=last)
    runs = [load_run(write_run(tmp_path, spec)) for spec in (slow, fast)]
    found = capacity_from_runs(runs, slo, POD, 5.0)
    assert found is not None
    assert [lv.conversations_per_hour for lv in found.levels] == [600, 1200]
    assert found.conversations_per_hour == 600 and found.high == 1200
    assert found.stop_reason == "resolution reached"
    assert found.pod_minutes == pytest.approx(330.0 / 60.0)


def test_levels_without_a_search_are_levels_as_given_and_their_windows(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path, arrivals(600, 120)))
    found = capacity_from_runs([run], Slo(ttft_p95_ms=2000.0), POD, 5.0)
    assert found is not None and found.stop_reason == LEVELS_AS_GIVEN
    assert found.pod_minutes == pytest.approx(2.0)
