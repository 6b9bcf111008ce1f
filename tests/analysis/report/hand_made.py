"""Findings made by hand: two small synthetic runs analysed, then given levels, capacity and costs.

The report's tests build the capacity side themselves (LoadLevel, Capacity, TrafficCost values) so
they check what the report says about given numbers, whatever the search or the level judge found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from analysis.figures.capacity.estimate import Capacity, CapacityRatio, RatioOutcome
from analysis.figures.capacity.levels import LoadLevel
from analysis.figures.capacity.traffic_cost import HOURS_PER_MONTH, TrafficCost
from analysis.figures.caveats import caveats
from analysis.figures.findings import Findings
from analysis.figures.per_target import analyse
from analysis.figures.prices import resolve_price
from analysis.reading.load import load_runs
from harness.slo import Slo
from tests.analysis.rundirs import Spec, write_run

SLO = {"ttft_p95_ms": 2000.0, "tpot_p95_ms": 50.0}
POD_USD_PER_HOUR = 7.98  # the synthetic runs' pod price
START = 1_790_000_000.0
IDLE_TIMEOUT_S = 5.0


def analysed(root: Path, emulated: bool = False) -> Findings:
    """vllm (the baseline) and sglang, 40 conversations each, analysed; no per-turn comparison (tests that
    need one make it: the report's tests check what it says about given figures)."""
    runs = load_runs(
        [
            write_run(root, Spec(conversations=40, seed=1, emulator=emulated)),
            write_run(root, Spec(target="sglang", engine="sglang", conversations=40, seed=2, emulator=emulated)),
        ]
    )
    slo = Slo.from_mapping(SLO)
    targets = tuple(analyse(run, slo, resolve_price(run.info, None), IDLE_TIMEOUT_S) for run in runs)
    return Findings(targets, (), tuple(caveats(targets, ())), slo, IDLE_TIMEOUT_S)


def level(
    load: float,
    held: bool,
    *,
    ttft: float | None = None,
    tpot: float | None = None,
    failure_rate: float = 0.0,
    clear: bool = True,
) -> LoadLevel:
    """One arrival-rate level of 10 minutes; latencies default to under or over the SLO as `held` says."""
    ttft_p95 = (1500.0 if held else 2600.0) if ttft is None else ttft
    tpot_p95 = (30.0 if held else 45.0) if tpot is None else tpot
    score = max(ttft_p95 / SLO["ttft_p95_ms"], tpot_p95 / SLO["tpot_p95_ms"])
    margin = 0.05 if clear else 0.5
    conversations = int(load / 6)
    return LoadLevel(
        kind="arrivals",
        conversations_per_hour=load,
        started_per_hour=load,
        users=None,
        start=START,
        end=START + 600.0,
        turns=conversations * 5,
        misses=0 if math.isfinite(ttft_p95) else conversations,
        ttft_p95_ms=ttft_p95,
        tpot_p95_ms=tpot_p95,
        e2e_p95_ms=9000.0 if math.isfinite(ttft_p95) else math.inf,
        failure_rate=failure_rate,
        late_starts=0,
        conversations=conversations,
        concurrent_conversations=load / 60.0,
        e2e_mean_s=6.0,
        score=score,
        score_low=score * (1 - margin),
        score_high=score * (1 + margin),
        meets_slo=held,
        why=f"TTFT p95 {ttft_p95:,.0f} ms {'<=' if held else '>'} 2,000 ms",
        run_dir=None,
    )


def capacity(
    levels: Sequence[LoadLevel],
    low: float | None = None,
    high: float | None = None,
    estimate: float | None = None,
) -> Capacity:
    """Capacity = the highest load that held; interval ends default to that load and the next one failed."""
    held = [lv.conversations_per_hour for lv in levels if lv.meets_slo]
    best = max(held) if held else None
    failed = [
        lv.conversations_per_hour
        for lv in levels
        if not lv.meets_slo and (best is None or lv.conversations_per_hour > best)
    ]
    return Capacity(
        conversations_per_hour=best,
        low=best if low is None else low,
        high=(min(failed) if failed else math.inf) if high is None else high,
        estimate=best if estimate is None else estimate,
        concurrent_conversations=None if best is None else best / 60.0,
        levels=tuple(sorted(levels, key=lambda lv: lv.conversations_per_hour)),
        stop_reason="bisected to +-10%",
        pod_minutes=42.0,
    )


def traffic_cost(replicas: int | None, traffic: float = 1000.0, usd_per_hour: float = POD_USD_PER_HOUR) -> TrafficCost:
    per_hour = math.nan if replicas is None else replicas * usd_per_hour
    return TrafficCost(
        traffic_per_hour=traffic,
        headroom=0.0,
        replicas=replicas,
        billing="pod",
        usd_per_hour=per_hour,
        usd_per_month=per_hour * HOURS_PER_MONTH,
        usd_per_conversation=per_hour / traffic,
        busy_share=1.0,
    )


def cost_curve(per_replica: float, usd_per_hour: float = POD_USD_PER_HOUR) -> tuple[tuple[float, float], ...]:
    """$/month at traffic 100, 200, ... 3,000 per hour: whole replicas, so a step function."""
    return tuple((float(t), math.ceil(t / per_replica) * usd_per_hour * HOURS_PER_MONTH) for t in range(100, 3001, 100))


def ratio(candidate: str, baseline: str, value: float, low: float, high: float, outcome: RatioOutcome) -> CapacityRatio:
    return CapacityRatio(baseline, candidate, value, low, high, outcome, f"{candidate} / {baseline}: {outcome}")


def given(
    findings: Findings,
    capacities: Mapping[str, Capacity | None],
    costs: Mapping[str, TrafficCost | None] | None = None,
    ratios: Sequence[CapacityRatio] = (),
    traffic: float | None = None,
    workload_warnings: tuple[str, ...] = (),
    compared_at: str = "",
) -> Findings:
    """The findings with each target's capacity and cost for the traffic (and its cost curve) set."""
    costs = costs or {}
    targets = []
    for target in findings.targets:
        found = capacities.get(target.label)
        cph = found.conversations_per_hour if found else None
        curve = cost_curve(cph) if traffic is not None and cph else ()
        targets.append(replace(target, capacity=found, traffic=costs.get(target.label), cost_curve=curve))
    return replace(
        findings,
        targets=tuple(targets),
        capacity_ratios=tuple(ratios),
        traffic_per_hour=traffic,
        workload_warnings=workload_warnings,
        compared_at=compared_at,
    )
