"""Capacity: the most conversations per hour one replica serves within the SLO, and how sure that is.

From a target's levels (analysis.figures.capacity.levels): capacity = the highest load that held. Its
interval runs from the highest load that held *clearly* (its score's bootstrap interval below 1)
to the lowest load above the capacity that failed (inf when none did). The estimate is where the
score crosses 1, interpolated in log(load) against log(score) between the highest held level and
the lowest failed one above it; when that level's score is infinite (more than 5% misses) or not
above 1 (it failed on no turns), the crossing is only known to be between them, and the estimate
is their geometric middle, which is where a bisection would measure next.

Stop reason and pod-minutes come from the capacity search (run.json "search": {"id", "index",
"stop_reason", "pod_seconds"}, pod_seconds being that level's own time on the target) when the
level runs have it; otherwise "levels as given" and the runs' windows summed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from analysis.figures.capacity.levels import LoadLevel, levels_of_run, run_json
from analysis.figures.prices import Price
from analysis.reading.load import Run
from harness.slo import Slo

# "lower bounds only": each target held the one load it ran (a fixed-load comparison); no capacity is known.
RatioOutcome = Literal["higher", "lower", "no significant difference", "no capacity", "lower bounds only"]
LEVELS_AS_GIVEN = "levels as given"  # no capacity search chose these levels
MIN_SCORE = 1e-3  # a held level's score of 0 (no failure, a failure-rate bound only) has no logarithm


@dataclass(frozen=True)
class Capacity:
    conversations_per_hour: float | None  # the highest load that held the SLO; None: no level held
    low: float | None  # the highest load that held clearly
    high: float  # the lowest load above it that failed; inf when none did
    estimate: float | None  # where the score crosses 1, interpolated between the two
    concurrent_conversations: float | None  # at the level that held
    levels: tuple[LoadLevel, ...]  # every level measured, by load
    stop_reason: str
    pod_minutes: float  # minutes of the target's time the levels used (start-up and drain included)

    @property
    def held_level(self) -> LoadLevel | None:
        """The level the capacity is: the highest load that held."""
        held = [level for level in self.levels if level.meets_slo]
        return max(held, key=lambda level: level.conversations_per_hour) if held else None


@dataclass(frozen=True)
class CapacityRatio:
    baseline: str
    candidate: str
    ratio: float  # candidate / baseline, of the estimates
    low: float
    high: float
    outcome: RatioOutcome
    verdict: str  # one sentence


def capacity_of(levels: Sequence[LoadLevel], stop_reason: str, pod_minutes: float) -> Capacity:
    """Capacity, interval and estimate from measured levels, in any order.

    Levels are ordered by the load they offered: the arrival rate, or for a ramp's closed-loop steps the
    users (their conversations started per hour falls once the engine saturates, so it cannot order them).
    A failed closed-loop step's load for the interval is what its users would offer at the held step's pace
    (Little's law: held rate x users / held users), unless it started more than that."""
    ordered = tuple(sorted(levels, key=_offered))
    held = [level for level in ordered if level.meets_slo]
    top = held[-1] if held else None
    clear = [level for level in held if level.clear]
    above = [level for level in ordered if not level.meets_slo and (top is None or _offered(level) > _offered(top))]
    failed = above[0] if above and top is not None else None
    high = _load_above(top, failed) if top is not None and failed is not None else math.inf
    return Capacity(
        conversations_per_hour=top.conversations_per_hour if top else None,
        low=clear[-1].conversations_per_hour if clear else None,
        high=high,
        estimate=None if top is None else _crossing(top, failed, high),
        concurrent_conversations=top.concurrent_conversations if top else None,
        levels=ordered,
        stop_reason=stop_reason,
        pod_minutes=pod_minutes,
    )


def _offered(level: LoadLevel) -> tuple[int, float]:
    if level.kind == "users" and level.users is not None:
        return (0, float(level.users))
    return (1, level.conversations_per_hour)


def _load_above(held: LoadLevel, failed: LoadLevel) -> float:
    """The failed level's load in conversations/hour, for the interval's upper end."""
    if failed.kind == "users" and held.kind == "users" and failed.users and held.users:
        return max(failed.conversations_per_hour, held.conversations_per_hour * failed.users / held.users)
    return failed.conversations_per_hour


def capacity_from_runs(runs: Sequence[Run], slo: Slo, price: Price, idle_timeout_s: float) -> Capacity | None:
    """The capacity of one target from its runs: arrival-mode runs (one level each) and ramps (a level
    per step). None when no run gives a level (analysis.figures.capacity.levels.why_no_levels says why)."""
    levels = [level for run in runs for level in levels_of_run(run, slo, price, idle_timeout_s)]
    if not levels:
        return None
    stop_reason, pod_minutes = _search_record(runs)
    return capacity_of(levels, stop_reason, pod_minutes)


def capacity_ratio(base_label: str, base: Capacity, cand_label: str, cand: Capacity) -> CapacityRatio:
    """candidate / baseline: the estimates' ratio, and the interval low = cand.low / base.high,
    high = cand.high / base.low (inf without a clearly held baseline level)."""
    # An estimate of 0: the only levels that held had no conversation start in their window (no load at all).
    if not (base.estimate and cand.estimate):
        missing = [label for label, c in ((base_label, base), (cand_label, cand)) if not c.estimate]
        verdict = (f"{' and '.join(missing)} held the SLO at no load measured, so there is no capacity ratio "
                   f"between {cand_label} and {base_label}.")  # fmt: skip
        return CapacityRatio(base_label, cand_label, math.nan, math.nan, math.nan, "no capacity", verdict)
    if all(math.isinf(c.high) and len({level.conversations_per_hour for level in c.levels}) <= 1 for c in (base, cand)):
        # A fixed-load comparison: each target held the one rate it ran, which bounds its capacity from below only.
        verdict = (f"Neither {cand_label} nor {base_label} failed at any load measured, so their capacities are only "
                   f"known to be at least {cand.conversations_per_hour:,.0f} and {base.conversations_per_hour:,.0f} "
                   "conversations/hour; a capacity search (compare without --rate or -u) finds them.")  # fmt: skip
        return CapacityRatio(base_label, cand_label, math.nan, math.nan, math.nan, "lower bounds only", verdict)
    ratio = cand.estimate / base.estimate
    low = (cand.low or 0.0) / base.high
    high = cand.high / base.low if base.low else math.inf
    outcome: RatioOutcome = "higher" if low > 1.0 else "lower" if high < 1.0 else "no significant difference"
    span = f"{ratio:.2f}x, at least {low:.2f}x" if math.isinf(high) else f"{ratio:.2f}x, {low:.2f}x to {high:.2f}x"
    if outcome == "higher":
        verdict = f"{cand_label} serves more conversations per hour than {base_label} within the SLO ({span})."
    elif outcome == "lower":
        verdict = f"{cand_label} serves fewer conversations per hour than {base_label} within the SLO ({span})."
    else:
        verdict = (f"{cand_label} and {base_label} serve no significantly different number of conversations per hour "
                   f"within the SLO ({span}).")  # fmt: skip
    return CapacityRatio(base_label, cand_label, ratio, low, high, outcome, verdict)


def _crossing(held: LoadLevel, failed: LoadLevel | None, failed_load: float) -> float:
    """Where log(score) crosses 0 on the line through the two levels in (log load, log score)."""
    if failed is None or held.conversations_per_hour <= 0 or failed_load <= held.conversations_per_hour:
        return held.conversations_per_hour  # nothing above failed (or no load held): capacity is at least this
    x1, x2 = math.log(held.conversations_per_hour), math.log(failed_load)
    if not (math.isfinite(failed.score) and failed.score > 1.0):
        return math.exp((x1 + x2) / 2.0)
    y1, y2 = math.log(max(held.score, MIN_SCORE)), math.log(failed.score)
    return math.exp(x1 + (0.0 - y1) * (x2 - x1) / (y2 - y1))


def _search_record(runs: Sequence[Run]) -> tuple[str, float]:
    """(stop reason, pod-minutes) from the runs' "search" records; the runs' windows for runs without one."""
    searches: list[Mapping[str, Any]] = []
    seconds = 0.0
    for run in runs:
        search = run_json(run).get("search")
        if isinstance(search, Mapping) and isinstance(search.get("pod_seconds"), int | float):
            searches.append(search)
            seconds += float(search["pod_seconds"])
        else:
            start, end = run.window()
            seconds += max(0.0, end - start) if math.isfinite(end - start) else 0.0
    if not searches:
        return LEVELS_AS_GIVEN, seconds / 60.0
    latest = sorted(searches, key=lambda s: int(s["index"]) if isinstance(s.get("index"), int) else -1)
    reasons = [str(s["stop_reason"]) for s in latest if s.get("stop_reason")]
    return (reasons[-1] if reasons else "the search recorded no stop reason"), seconds / 60.0
