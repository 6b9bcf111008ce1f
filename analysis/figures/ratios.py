"""Target against target: ratios candidate / baseline of latency percentiles, with bootstrap CIs.

Every run is compared with one baseline (the first run, or the one named with --baseline), per
turn, on turns >= 2 and on all turns. A verdict is claimed only when the 95% interval excludes 1;
all four metrics are latencies, so a ratio below 1 means the candidate is faster. Branches
(regenerate, edit) are compared as a group of their own, never inside a turn number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from analysis.figures.bootstrap import SEED, RatioEstimate, ratio_of_percentiles
from analysis.figures.per_target import TargetAnalysis
from analysis.figures.turns import ALL_TURNS, BRANCHES, LATER_TURNS, TurnFigures
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
    rng = np.random.default_rng(SEED)
    raw = bool(baseline.groups and candidate.groups)
    base_groups = _figures_by_group(baseline)
    cand_groups = _figures_by_group(candidate)
    samples_base = {g.label: g for g in baseline.groups}
    samples_cand = {g.label: g for g in candidate.groups}
    rows = []
    for group in [label for label in base_groups if label in cand_groups]:
        for metric in METRICS:
            if raw:
                estimate = ratio_of_percentiles(
                    samples_base[group].samples(metric.column),
                    samples_cand[group].samples(metric.column),
                    metric.q,
                    rng,
                )
            else:
                base, cand = metric.of(base_groups[group]), metric.of(cand_groups[group])
                ratio = cand / base if base > 0 else math.nan
                estimate = RatioEstimate(ratio, math.nan, math.nan, base_groups[group].n, cand_groups[group].n)
            outcome, verdict = _verdict(baseline.label, candidate.label, metric, group, estimate, raw)
            rows.append(MetricComparison(group, metric, estimate, outcome, verdict))
    return Comparison(baseline.label, candidate.label, tuple(rows))


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
        why = (
            "Locust-CSV-only mode has bucketed percentiles, no samples"
            if not raw
            else f"too few turns: {estimate.n_baseline} vs {estimate.n_candidate}"
        )
        return "no interval", f"{subject} is {ratio} (no confidence interval: {why})"
    interval = f"{estimate.low:.{d}f}-{estimate.high:.{d}f}"
    if estimate.high < 1.0:
        return "faster", f"{subject} is {ratio} (95% CI {interval}): faster"
    if estimate.low > 1.0:
        return "slower", f"{subject} is {ratio} (95% CI {interval}): slower"
    return "no significant difference", (f"{subject} is {ratio}: no significant difference (CI {interval} includes 1)")
