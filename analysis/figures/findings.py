"""From run directories to everything the report states: per-target figures, comparisons, warnings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from analysis.errors import AnalysisError
from analysis.figures.capacity.compared import compared_runs, grouped, recorded_slo
from analysis.figures.capacity.estimate import CapacityRatio, capacity_from_runs, capacity_ratio
from analysis.figures.capacity.traffic_cost import cost_curve, cost_for_traffic, traffic_grid
from analysis.figures.caveats import EMULATED_NOTICE, Caveat, caveats
from analysis.figures.per_target import TargetAnalysis, analyse
from analysis.figures.prices import resolve_price
from analysis.figures.ratios import Comparison, compare
from analysis.figures.workload import differences, unchecked
from analysis.reading.load import Run, load_runs
from analysis.reading.run_set import combined
from harness.slo import DEFAULT_SLO, Slo, SloError


@dataclass(frozen=True)
class Findings:
    targets: tuple[TargetAnalysis, ...]
    comparisons: tuple[Comparison, ...]  # each other target against the baseline
    caveats: tuple[Caveat, ...]
    slo: Slo
    idle_timeout_s: float
    capacity_ratios: tuple[CapacityRatio, ...] = ()  # each other target's capacity against the baseline's
    traffic_per_hour: float | None = None  # the traffic the buyer stated (--traffic); None: capacity only
    headroom: float = 0.0  # share of capacity kept free when sizing replicas
    workload_warnings: tuple[str, ...] = ()  # the compared runs' workloads differ: shown loudly on every page
    compared_at: str = ""  # how the per-turn comparison's load was chosen, e.g. "at 1,200 conversations/hour"

    @property
    def notice(self) -> str | None:
        """The emulator notice, when any target is emulated: said once on every page, and on every chart."""
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
    traffic_per_hour: float | None = None,
    headroom: float = 0.0,
    allow_different_workloads: bool = False,
) -> Findings:
    """Runs of one `turnbench compare` are read per target (its levels or repeats); other runs stand alone."""
    if not (math.isfinite(idle_timeout_s) and idle_timeout_s >= 0):
        raise AnalysisError(f"--idle-timeout: expected seconds >= 0, got {idle_timeout_s}")
    if not (math.isfinite(headroom) and headroom >= 0):
        raise AnalysisError(f"--headroom: expected a share >= 0 such as 0.2, got {headroom}")
    runs = load_runs(run_dirs)
    objective = _objective(slo if slo is not None else recorded_slo(runs))
    overrides = _check_prices(prices or {}, runs)
    groups = grouped(runs)
    price_of = [resolve_price(group[0].info, overrides.get(group[0].target_name)) for group in groups]
    capacities = {
        i: capacity_from_runs(group, objective, price_of[i], idle_timeout_s) for i, group in enumerate(groups)
    }
    chosen, compared_at = compared_runs(groups, capacities)
    warnings = _workload(groups, chosen, allow_different_workloads)
    targets = []
    for i, group in enumerate(groups):
        run = replace(combined(chosen[i]), label=group[0].label)
        analysis = analyse(run, objective, price_of[i], idle_timeout_s)
        capacity = capacities[i]
        if capacity is not None and traffic_per_hour is not None:
            top = max(traffic_per_hour * 2, *(c.conversations_per_hour or 0 for c in capacities.values() if c))
            grid = traffic_grid(top, [c.conversations_per_hour for c in capacities.values() if c], headroom)
            analysis = replace(
                analysis,
                capacity=capacity,
                traffic=cost_for_traffic(capacity, price_of[i], traffic_per_hour, headroom, idle_timeout_s),
                cost_curve=tuple(cost_curve(capacity, price_of[i], grid, headroom, idle_timeout_s)),
            )
        elif capacity is not None:
            analysis = replace(analysis, capacity=capacity)
        targets.append(analysis)
    base = _baseline(targets, baseline)
    comparisons = tuple(compare(base, other) for other in targets if other is not base)
    ratios = tuple(
        capacity_ratio(base.label, base.capacity, other.label, other.capacity)
        for other in targets
        if other is not base and base.capacity is not None and other.capacity is not None
    )
    return Findings(
        tuple(targets), comparisons, tuple(caveats(targets, comparisons)), objective, idle_timeout_s,
        capacity_ratios=ratios, traffic_per_hour=traffic_per_hour, headroom=headroom,
        workload_warnings=tuple(warnings), compared_at=compared_at,
    )  # fmt: skip


def _workload(groups: Sequence[Sequence[Run]], chosen: Sequence[Sequence[Run]], allowed: bool) -> list[str]:
    """What differs between the workloads compared: refused, unless the user allowed it (then warned loudly).

    Every run must share scenario, seed, token limits and version; the runs compared turn by turn also
    their load (a capacity search's levels differ in load by design)."""
    everything, compared = [run for group in groups for run in group], [run for c in chosen for run in c]
    found = list(dict.fromkeys(differences(everything, same_load=False) + differences(compared, same_load=True)))
    if found and not allowed:
        raise AnalysisError(
            f"the runs do not have the same workload ({'; '.join(found)}); compare runs of one workload, or pass "
            "--allow-different-workloads to compare them anyway (every page then says so)"
        )
    return found + list(dict.fromkeys(unchecked(everything, same_load=False) + unchecked(compared, same_load=True)))


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
