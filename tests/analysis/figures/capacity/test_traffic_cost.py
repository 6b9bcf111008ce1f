"""What a stated traffic costs (analysis/figures/capacity/traffic_cost.py)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from analysis.errors import AnalysisError
from analysis.figures.capacity.estimate import LEVELS_AS_GIVEN, Capacity, capacity_of
from analysis.figures.capacity.traffic_cost import (
    HOURS_PER_MONTH,
    busy_share,
    cost_curve,
    cost_for_traffic,
    parse_traffic,
    replicas_for,
    traffic_grid,
)
from analysis.figures.prices import Price
from tests.analysis.figures.capacity.test_estimate import level

POD = Price("pod", 8.0, 2, "test")
SERVERLESS = Price("serverless", 3.6, 2, "test")  # $3.60 per GPU-hour: $0.001 per GPU-second


def capacity(per_hour: float, e2e_mean_s: float = 5.0) -> Capacity:
    held = replace(level(per_hour, 0.5), e2e_mean_s=e2e_mean_s, turns_per_conversation=4.0)
    return capacity_of([held], LEVELS_AS_GIVEN, 0.0)


@pytest.mark.parametrize(
    ("traffic", "headroom", "per_replica", "replicas"),
    [(1000, 0.0, 600, 2), (1000, 0.2, 600, 2), (1000, 0.25, 600, 3), (1200, 0.0, 600, 2), (1201, 0.0, 600, 3),
     (1, 0.0, 600, 1), (0, 0.2, 600, 0), (1000, 0.1, 100, 11)],
)  # fmt: skip
def test_replicas_are_rounded_up(traffic: float, headroom: float, per_replica: float, replicas: int) -> None:
    assert replicas_for(traffic, headroom, per_replica) == replicas


def test_pods_bill_every_hour_of_every_replica() -> None:
    cost = cost_for_traffic(capacity(450), POD, 1000, 0.2, 5.0)
    assert cost.replicas == 3 and cost.billing == "pod" and cost.busy_share == 1.0
    assert cost.usd_per_hour == 24.0
    assert cost.usd_per_month == 24.0 * HOURS_PER_MONTH
    assert cost.usd_per_conversation == pytest.approx(0.024)
    assert cost.capacity_per_hour == 450


def test_serverless_workers_bill_the_share_of_time_they_are_alive() -> None:
    cost = cost_for_traffic(capacity(600, e2e_mean_s=5.0), SERVERLESS, 1000, 0.0, 5.0)
    assert cost.replicas == 2
    # 1,000 conversations x 4 turns an hour over 2 workers: 0.556 turns/s each, each holding it 5 s + 5 s idle.
    q = 1000 * 4 / 3600 / 2
    assert cost.busy_share == pytest.approx(1 - math.exp(-q * 10.0))
    assert cost.usd_per_hour == pytest.approx(2 * cost.busy_share * 3.6 * 2)
    assert cost.usd_per_month == pytest.approx(cost.usd_per_hour * 730)
    quiet = cost_for_traffic(capacity(600), SERVERLESS, 10, 0.0, 5.0)
    assert quiet.replicas == 1 and quiet.busy_share < 0.15  # little traffic: the worker is mostly scaled away
    assert cost_for_traffic(capacity(600), SERVERLESS, 1000, 0.0, 5.0, turns_per_conversation=8).busy_share > (
        cost.busy_share
    )
    assert busy_share(0.0, 5.0, 5.0) == 0.0 and busy_share(100.0, 5.0, 5.0) == pytest.approx(1.0)


def test_no_capacity_means_no_replica_count() -> None:
    none = capacity_of([level(500, 1.5)], LEVELS_AS_GIVEN, 0.0)
    cost = cost_for_traffic(none, POD, 1000, 0.2, 5.0)
    assert cost.replicas is None and math.isnan(cost.usd_per_month)
    assert cost_for_traffic(None, POD, 1000, 0.2, 5.0).replicas is None


def test_the_cost_curve_is_a_step_function_of_traffic() -> None:
    grid = traffic_grid(2000, [500], 0.0, points=4)
    assert {0.0, 500.0, 1000.0, 1500.0, 2000.0} <= set(grid) and grid == sorted(grid)
    assert any(500 < t < 500.01 for t in grid)  # just after the step, so the chart draws it upright
    curve = dict(cost_curve(capacity(500), POD, grid, 0.0, 5.0))
    assert curve[500.0] == 8.0 * 730 and curve[1000.0] == 16.0 * 730
    assert min(v for t, v in curve.items() if 500 < t <= 1000) == 16.0 * 730
    assert curve[0.0] == 0.0


@pytest.mark.parametrize(
    ("text", "per_hour"),
    [("1000/h", 1000.0), ("1000", 1000.0), ("20/min", 1200.0), ("0.5/s", 1800.0), (" 1000 / hour ", 1000.0),
     ("1e3/h", 1000.0)],
)  # fmt: skip
def test_traffic_text(text: str, per_hour: float) -> None:
    assert parse_traffic(text) == pytest.approx(per_hour)


@pytest.mark.parametrize(
    ("text", "message"),
    [("lots", "--traffic: expected conversations per hour like 1000/h (or 20/min, 0.5/s; a bare number is per "
      "hour), got 'lots'"),
     ("1000/day", "--traffic: expected conversations per hour like 1000/h"),
     ("1,000/h", "--traffic: expected conversations per hour like 1000/h"),
     ("0/h", "--traffic: expected a traffic above 0 conversations per hour, got '0/h'"),
     ("-5", "--traffic: expected conversations per hour like 1000/h")],
)  # fmt: skip
def test_bad_traffic_text_is_one_line(text: str, message: str) -> None:
    with pytest.raises(AnalysisError) as caught:
        parse_traffic(text)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
