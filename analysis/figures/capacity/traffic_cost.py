"""What a stated traffic costs on each target: replicas from capacity, then dollars per hour and month.

- Replicas: ceil(traffic x (1 + headroom) / capacity per replica), where capacity is the highest
  load that held the SLO (analysis.figures.capacity.estimate).
- Pod: every replica bills every hour: replicas x usd_per_hour.
- Serverless: the same number of workers, each billed per GPU-second while alive. A worker gets
  turns at q per second (the traffic's turns, shared by the workers), each holding it s seconds
  (the mean turn E2E at the capacity level), and stays alive the idle timeout tau after each. With
  Poisson arrivals it is idle only when no turn came in the last s + tau seconds, so it is alive a
  share 1 - exp(-q (s + tau)) of the time: usd_per_hour = workers x share x GPU-hour price x GPUs.
- $/month = $/hour x HOURS_PER_MONTH; $/conversation = $/hour / traffic.

Imports nothing heavy, so the command line can parse --traffic before pandas loads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analysis.errors import AnalysisError

if TYPE_CHECKING:
    from analysis.figures.capacity.estimate import Capacity
    from analysis.figures.prices import Price

HOURS_PER_MONTH = 730.0  # 365 x 24 / 12, the month cloud price sheets use
DEFAULT_HEADROOM = 0.0  # size replicas for the traffic itself unless the buyer asks for a margin
PER_HOUR = {"h": 1.0, "hr": 1.0, "hour": 1.0, "min": 60.0, "m": 60.0, "s": 3600.0, "sec": 3600.0}
TRAFFIC_EXAMPLE = "1000/h (or 20/min, 0.5/s; a bare number is per hour)"
_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(?:/\s*([a-z]+))?\s*$", re.IGNORECASE)
MAX_STEPS = 200  # traffic_grid marks replica steps up to this many
_SLACK = 1e-9  # 1,200 / 600 must be 2 replicas, however the float rounds


@dataclass(frozen=True)
class TrafficCost:
    traffic_per_hour: float  # conversations per hour the buyer states
    headroom: float  # extra share of capacity kept free, e.g. 0.2
    replicas: int | None  # pods or serverless workers; None: no load held the SLO
    billing: str  # "pod" | "serverless"
    usd_per_hour: float
    usd_per_month: float
    usd_per_conversation: float
    busy_share: float  # serverless: share of the time a worker is alive and billed; pod: 1
    capacity_per_hour: float = math.nan  # per replica, what the replicas were sized from


def parse_traffic(text: str, option: str = "--traffic") -> float:
    """Conversations per hour from "1000/h", "1000", "20/min" or "0.5/s"; one-line AnalysisError otherwise."""
    match = _RATE.match(text)
    unit = (match.group(2) or "h").lower() if match else ""
    if not match or unit not in PER_HOUR:
        raise AnalysisError(f"{option}: expected conversations per hour like {TRAFFIC_EXAMPLE}, got {text!r}")
    per_hour = float(match.group(1)) * PER_HOUR[unit]
    if not (math.isfinite(per_hour) and per_hour > 0):
        raise AnalysisError(f"{option}: expected a traffic above 0 conversations per hour, got {text!r}")
    return per_hour


def replicas_for(traffic_per_hour: float, headroom: float, capacity_per_hour: float) -> int:
    """Replicas, rounded up, to serve the traffic with `headroom` of each replica's capacity kept free."""
    if traffic_per_hour <= 0:
        return 0
    return max(1, math.ceil(traffic_per_hour * (1.0 + headroom) / capacity_per_hour - _SLACK))


def cost_for_traffic(capacity: Capacity | None, price: Price, traffic_per_hour: float, headroom: float,
                     idle_timeout_s: float, turns_per_conversation: float | None = None) -> TrafficCost:  # fmt: skip
    """Replicas, $/hour, $/month and $/conversation for the traffic. `turns_per_conversation` (serverless
    only) defaults to what the capacity level measured; idle_timeout_s is serverless' tau."""
    per_hour = capacity.conversations_per_hour if capacity is not None else None
    if per_hour is None or not per_hour > 0:
        nan = math.nan
        return TrafficCost(traffic_per_hour, headroom, None, price.kind, nan, nan, nan, nan)
    replicas = replicas_for(traffic_per_hour, headroom, per_hour)
    share = 1.0
    if price.kind == "serverless":
        assert capacity is not None
        level = capacity.held_level
        turns = turns_per_conversation if turns_per_conversation is not None else math.nan
        if turns_per_conversation is None and level is not None:
            turns = level.turns_per_conversation
        hold_s = level.e2e_mean_s if level is not None else math.nan
        share = busy_share(traffic_per_hour * turns / 3600.0 / replicas, hold_s, idle_timeout_s) if replicas else 0.0
        usd_per_hour = replicas * share * price.usd_per_hour * price.gpu_count
    else:
        usd_per_hour = replicas * price.usd_per_hour
    return TrafficCost(
        traffic_per_hour=traffic_per_hour,
        headroom=headroom,
        replicas=replicas,
        billing=price.kind,
        usd_per_hour=usd_per_hour,
        usd_per_month=usd_per_hour * HOURS_PER_MONTH,
        usd_per_conversation=usd_per_hour / traffic_per_hour if traffic_per_hour > 0 else math.nan,
        busy_share=share,
        capacity_per_hour=per_hour,
    )


def busy_share(turns_per_s: float, hold_s: float, idle_timeout_s: float) -> float:
    """Share of the time a serverless worker is alive: 1 - exp(-q (s + tau)) for Poisson turns at q/s."""
    return 1.0 - math.exp(-turns_per_s * (hold_s + idle_timeout_s))


def cost_curve(
    capacity: Capacity | None,
    price: Price,
    traffics: Iterable[float],
    headroom: float,
    idle_timeout_s: float,
    turns_per_conversation: float | None = None,
) -> list[tuple[float, float]]:
    """(traffic per hour, $/month) at each traffic: for pods a step function, one step per replica."""
    return [
        (traffic, cost_for_traffic(capacity, price, traffic, headroom, idle_timeout_s, turns_per_conversation)
         .usd_per_month)
        for traffic in traffics
    ]  # fmt: skip


def traffic_grid(up_to: float, capacities_per_hour: Iterable[float | None], headroom: float = DEFAULT_HEADROOM,
                 points: int = 100) -> list[float]:  # fmt: skip
    """Traffics from 0 to `up_to` for a cost chart: an even grid, plus both sides of every replica step
    of each capacity, so each step function is drawn with vertical edges where the replicas change."""
    grid = {up_to * i / points for i in range(points + 1)}
    for capacity in capacities_per_hour:
        if capacity is None or not capacity > 0:
            continue
        step = capacity / (1.0 + headroom)
        if up_to / step > MAX_STEPS:
            continue  # so many replicas that the even grid already shows the curve
        for k in range(1, math.floor(up_to / step) + 1):
            grid.update((k * step, k * step * (1.0 + 1e-6)))
    return sorted(t for t in grid if 0 <= t <= up_to)
