"""From run directories to everything the report states: per-target figures, comparisons, warnings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import AnalysisError
from analysis.figures.caveats import EMULATED_NOTICE, Caveat, caveats
from analysis.figures.per_target import TargetAnalysis, analyse
from analysis.figures.prices import resolve_price
from analysis.figures.ratios import Comparison, compare
from analysis.reading.load import Run, load_runs
from harness.slo import DEFAULT_SLO, Slo, SloError


@dataclass(frozen=True)
class Findings:
    targets: tuple[TargetAnalysis, ...]
    comparisons: tuple[Comparison, ...]  # each other target against the baseline
    caveats: tuple[Caveat, ...]
    slo: Slo
    idle_timeout_s: float

    @property
    def notice(self) -> str | None:
        """The emulator notice, when any target is emulated: every page, table and chart carries it."""
        return EMULATED_NOTICE if any(t.run.emulated for t in self.targets) else None

    @property
    def labels(self) -> list[str]:
        return [t.label for t in self.targets]


def find(
    run_dirs: Sequence[Path],
    slo: Slo | Mapping[str, float] | None,
    prices: Mapping[str, float] | None,
    idle_timeout_s: float,
    baseline: str | None = None,
) -> Findings:
    if not (math.isfinite(idle_timeout_s) and idle_timeout_s >= 0):
        raise AnalysisError(f"--idle-timeout: expected seconds >= 0, got {idle_timeout_s}")
    objective = _objective(slo)
    runs = load_runs(run_dirs)
    overrides = _check_prices(prices or {}, runs)
    targets = [
        analyse(run, objective, resolve_price(run.info, overrides.get(run.target_name)), idle_timeout_s) for run in runs
    ]
    base = _baseline(targets, baseline)
    comparisons = tuple(compare(base, other) for other in targets if other is not base)
    return Findings(tuple(targets), comparisons, tuple(caveats(targets, comparisons)), objective, idle_timeout_s)


def _check_prices(prices: Mapping[str, float], runs: Sequence[Run]) -> dict[str, float]:
    names = sorted({run.target_name for run in runs})
    for name, value in prices.items():
        if name not in names:
            raise AnalysisError(f"--price: no run has target {name!r}; the targets are {', '.join(names)}")
        if not (math.isfinite(value) and value >= 0):
            raise AnalysisError(f"--price: {name}: expected USD per hour >= 0, got {value}")
    return dict(prices)


def _baseline(targets: Sequence[TargetAnalysis], name: str | None) -> TargetAnalysis:
    if name is None:
        return targets[0]
    for target in targets:
        if name in (target.label, target.run.target_name):
            return target
    raise AnalysisError(
        f"--baseline: no run has target {name!r}; the targets are {', '.join(t.label for t in targets)}"
    )


def _objective(slo: Slo | Mapping[str, float] | None) -> Slo:
    """The SLO the report holds conversations and load levels to; the default when none was given."""
    if slo is None:
        return DEFAULT_SLO
    try:
        objective = slo if isinstance(slo, Slo) else Slo.from_mapping(slo)
    except SloError as exc:
        raise AnalysisError(str(exc)) from exc
    if not objective.bounds:
        raise AnalysisError("--slo: give at least one bound, e.g. ttft_p95_ms=2000")
    return objective
