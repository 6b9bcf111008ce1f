"""Is a run worse than the runs before it? Baselines and regression verdicts, with no I/O.

A run's baseline is the median of each tracked figure over the previous N runs that count for a
baseline (complete, load generator not saturated): the median, because one noisy night should not
move "normal". Latencies regress by a relative margin (they scale with the model and hardware);
failure rate and cached share by absolute ones (they are already fractions, and a relative margin on
a failure rate of 0 would flag the first failed turn).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from analysis.reading.run_index import TRACKED, IndexedRun

DEFAULT_BASELINE_RUNS = (
    5  # a working week of nightly runs: long enough to smooth noise, short enough to follow upgrades
)
DEFAULT_TOLERANCE = 0.10  # latency may exceed its baseline by 10% before it is a regression
FAILURE_RATE_MARGIN = 0.01  # absolute: one more failed turn in a hundred than the baseline
CACHED_SHARE_MARGIN = 0.10  # absolute: ten points less of the prompt served from cache than the baseline
LATENCIES = ("ttft_p95_ms", "e2e_p95_ms", "tpot_p95_ms")


@dataclass(frozen=True)
class Breach:
    """One figure past its limit."""

    figure: str
    value: float
    baseline: float
    limit: float


@dataclass(frozen=True)
class JudgedRun:
    run: IndexedRun
    baseline: Mapping[str, float]  # figure -> median over the baseline runs; empty when there are none
    limits: Mapping[str, float]  # figure -> the worst value that is not a regression (a floor for cached_share)
    baseline_run_ids: tuple[str, ...]
    breaches: tuple[Breach, ...]

    @property
    def regression(self) -> bool:
        return bool(self.breaches)


@dataclass(frozen=True)
class TrendGroup:
    """Every run of one scenario against one target, oldest first, each judged against the runs before it."""

    target: str
    scenario: str
    runs: tuple[JudgedRun, ...]

    @property
    def latest(self) -> JudgedRun:
        return self.runs[-1]

    @property
    def label(self) -> str:
        return f"{self.target} / {self.scenario}"


def limit(figure: str, baseline: float, tolerance: float) -> float:
    """The worst value of `figure` that is still not a regression (a floor for cached_share)."""
    if figure in LATENCIES:
        return baseline * (1 + tolerance)
    if figure == "failure_rate":
        return baseline + FAILURE_RATE_MARGIN
    if figure == "cached_share":
        return baseline - CACHED_SHARE_MARGIN
    raise ValueError(f"not a tracked figure: {figure}")


def breached(figure: str, value: float, limit_value: float) -> bool:
    return value < limit_value if figure == "cached_share" else value > limit_value


def judge(runs: Sequence[IndexedRun], baseline_runs: int, tolerance: float) -> tuple[JudgedRun, ...]:
    """Each run (in the order given, oldest first) against the median of the `baseline_runs` before it.

    Every run is judged, including saturated or interrupted ones (a report should still show how
    they compare), but only runs that count for a baseline make one.
    """
    judged: list[JudgedRun] = []
    healthy: list[IndexedRun] = []
    for run in runs:
        window = healthy[-baseline_runs:]
        baseline: dict[str, float] = {}
        for figure in TRACKED:
            values = [v for v in (r.figures[figure] for r in window) if v is not None]
            if values:
                baseline[figure] = statistics.median(values)
        limits = {figure: limit(figure, base, tolerance) for figure, base in baseline.items()}
        breaches = []
        for figure, bound in limits.items():
            value = run.figures[figure]
            if value is not None and breached(figure, value, bound):
                breaches.append(Breach(figure, value, baseline[figure], bound))
        judged.append(JudgedRun(run, baseline, limits, tuple(r.run_id for r in window), tuple(breaches)))
        if run.counts_for_baseline:
            healthy.append(run)
    return tuple(judged)


def group_runs(runs: Sequence[IndexedRun], baseline_runs: int, tolerance: float) -> tuple[TrendGroup, ...]:
    """Runs grouped by (target, scenario), groups in order of their first run."""
    grouped: dict[tuple[str, str], list[IndexedRun]] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        grouped.setdefault((run.target, run.scenario), []).append(run)
    return tuple(
        TrendGroup(target, scenario, judge(members, baseline_runs, tolerance))
        for (target, scenario), members in grouped.items()
    )
