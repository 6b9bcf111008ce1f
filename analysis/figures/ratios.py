"""Target against target: ratios candidate / baseline of latency percentiles, with bootstrap CIs.

Every run is compared with one baseline (the first run, or the one named with --baseline), per
turn, on turns >= 2 and on all turns. A verdict is claimed only when the 95% interval excludes 1;
all four metrics are latencies, so a ratio below 1 means the candidate is faster. Branches
(regenerate, edit) are compared as a group of their own, never inside a turn number.

Intervals resample runs and the conversations within them, never single turns
(analysis.figures.bootstrap says why). A target's requests may carry a `run` column (the run
directory's name) when several runs of it are analysed together; without one, it is one run.
Each group of turns draws from its own seed, so an interval does not depend on which other groups
or targets are in the report.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from analysis.figures.bootstrap import MIN_SAMPLES, SEED, ClusteredSample, RatioEstimate, ratios_of_percentiles
from analysis.figures.per_target import TargetAnalysis
from analysis.figures.turns import ALL_TURNS, BRANCHES, LATER_TURNS, TurnFigures, TurnGroup, lagged
from analysis.formats import ratio_digits

Outcome = Literal["faster", "slower", "no significant difference", "no interval"]


@dataclass(frozen=True)
class Metric:
    key: str
    column: str  # requests.csv column
    q: float
    label: str
    figure: str | None  # the TurnFigures field holding it, for Locust-CSV-only runs

    def of(self, figures: TurnFigures) -> float:
        return float(getattr(figures, self.figure)) if self.figure else math.nan


METRICS = (
    Metric("ttft_p50", "ttft_ms", 0.50, "median TTFT", "ttft_p50_ms"),
    Metric("ttft_p95", "ttft_ms", 0.95, "p95 TTFT", None),  # not among Locust-CSV-only figures
    Metric("e2e_p50", "e2e_ms", 0.50, "median E2E", "e2e_p50_ms"),
    Metric("tpot_p50", "tpot_ms", 0.50, "median TPOT", "tpot_p50_ms"),
)


@dataclass(frozen=True)
class MetricComparison:
    group: str  # "1", "2", ..., LATER_TURNS, BRANCHES, ALL_TURNS
    metric: Metric
    estimate: RatioEstimate
    outcome: Outcome
    verdict: str


@dataclass(frozen=True)
class Comparison:
    baseline: str
    candidate: str
    rows: tuple[MetricComparison, ...]

    def headline(self) -> list[MetricComparison]:
        """One verdict per metric: on turns >= 2 for TTFT (where caches differ), else on all turns."""
        chosen = []
        for metric in METRICS:
            rows = {row.group: row for row in self.rows if row.metric is metric}
            preferred = (LATER_TURNS, ALL_TURNS) if metric.column == "ttft_ms" else (ALL_TURNS, LATER_TURNS)
            for group in preferred:
                if group in rows and not math.isnan(rows[group].estimate.ratio):
                    chosen.append(rows[group])
                    break
        return chosen


def compare(baseline: TargetAnalysis, candidate: TargetAnalysis) -> Comparison:
    raw = bool(baseline.groups and candidate.groups)
    base_groups = _figures_by_group(baseline)
    cand_groups = _figures_by_group(candidate)
    samples_base = {g.label: g for g in baseline.groups}
    samples_cand = {g.label: g for g in candidate.groups}
    rows = []
    for group in [label for label in base_groups if label in cand_groups]:
        if raw:
            estimates = ratios_of_percentiles(
                _clustered(samples_base[group]),
                _clustered(samples_cand[group]),
                [metric.q for metric in METRICS],
                group_rng(group),
            )
        else:
            estimates = [_csv_only(metric, base_groups[group], cand_groups[group]) for metric in METRICS]
        for metric, estimate in zip(METRICS, estimates, strict=True):
            outcome, verdict = _verdict(baseline.label, candidate.label, metric, group, estimate, raw)
            rows.append(MetricComparison(group, metric, estimate, outcome, verdict))
    return Comparison(baseline.label, candidate.label, tuple(rows))


def group_rng(group: str) -> np.random.Generator:
    """The fixed random stream of one group of turns (crc32: stable across processes, unlike hash)."""
    return np.random.default_rng([SEED, zlib.crc32(group.encode())])


def clustered_sample(group: TurnGroup, column: str) -> ClusteredSample:
    """The values TurnGroup.samples gives (successful turns with trusted timings), each with its
    conversation and run; every conversation of the group is a unit, with a value or not."""
    rows = group.rows
    trusted = rows["ok"].to_numpy(dtype=bool) & ~lagged(rows)
    values = np.where(trusted, rows[column].to_numpy(dtype=np.float64), np.nan)
    conversations = pd.factorize(rows["conversation_id"])[0]
    runs = pd.factorize(rows["run"])[0] if "run" in rows else None
    return ClusteredSample.of(values, conversations, runs)


def _clustered(group: TurnGroup) -> list[ClusteredSample]:
    """One sample per metric, in METRICS order; metrics on the same column share theirs."""
    by_column = {metric.column: clustered_sample(group, metric.column) for metric in METRICS}
    return [by_column[metric.column] for metric in METRICS]


def _csv_only(metric: Metric, base: TurnFigures, cand: TurnFigures) -> RatioEstimate:
    """Locust-CSV-only figures: a ratio of Locust's bucketed percentiles, no samples, no interval."""
    b, c = metric.of(base), metric.of(cand)
    return RatioEstimate(c / b if b > 0 else math.nan, math.nan, math.nan, base.n, cand.n)


def group_phrase(group: str) -> str:
    return group if group in (ALL_TURNS, LATER_TURNS, BRANCHES) else f"turn {group}"


def _figures_by_group(target: TargetAnalysis) -> dict[str, TurnFigures]:
    return {figures.group: figures for figures in target.turns}


def _verdict(
    base: str, cand: str, metric: Metric, group: str, estimate: RatioEstimate, raw: bool
) -> tuple[Outcome, str]:
    subject = f"{cand}'s {metric.label} on {group_phrase(group)}"
    if math.isnan(estimate.ratio):
        return "no interval", f"{subject}: not comparable (no value on one side)"
    d = ratio_digits(estimate.low, estimate.high) if estimate.has_interval else 2
    ratio = f"{estimate.ratio:.{d}f}x {base}'s"
    if not estimate.has_interval:
        if not raw:
            why = "Locust-CSV-only mode has bucketed percentiles, no samples"
        elif min(estimate.n_baseline, estimate.n_candidate) < MIN_SAMPLES:
            why = f"too few turns: {estimate.n_baseline} vs {estimate.n_candidate}"
        else:
            why = f"too few conversations: {estimate.conversations_baseline} vs {estimate.conversations_candidate}"
        return "no interval", f"{subject} is {ratio} (no confidence interval: {why})"
    interval = f"{estimate.low:.{d}f}-{estimate.high:.{d}f}"
    if estimate.high < 1.0:
        return "faster", f"{subject} is {ratio} (95% CI {interval}): faster"
    if estimate.low > 1.0:
        return "slower", f"{subject} is {ratio} (95% CI {interval}): slower"
    return "no significant difference", (f"{subject} is {ratio}: no significant difference (CI {interval} includes 1)")
