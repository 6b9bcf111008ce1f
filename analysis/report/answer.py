"""The headline: one sentence a buyer can act on, then where each target wins per turn.

The sentence answers "at my traffic and SLO, which target needs fewer replicas and costs less per
month?", with the capacity ratio and its interval, so the reader sees how sure it is. Without a
stated traffic it compares capacity per replica only; a target no load level held the SLO on is
said to be unable to serve at this SLO, never left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from analysis import formats as fmt
from analysis.figures.capacity.estimate import Capacity, CapacityRatio
from analysis.figures.capacity.traffic_cost import TrafficCost
from analysis.figures.findings import Findings
from analysis.figures.per_target import TargetAnalysis
from analysis.figures.ratios import METRICS, group_phrase

SAME_COST_USD = 0.005  # a month's costs closer than half a cent are the same price


@dataclass(frozen=True)
class _Serving:
    """A target that held the SLO at some load."""

    label: str
    capacity: Capacity
    cost: TrafficCost | None  # None: no traffic stated


def answer(findings: Findings) -> str:
    """The headline sentence (see the module docstring)."""
    slo = f"the SLO ({findings.slo.describe()})"
    measured = [t for t in findings.targets if t.capacity is not None]
    unmeasured = _names(t.label for t in findings.targets if t.capacity is None)
    if not measured:
        return (
            f"No load level was measured, so there is no capacity at {slo} to compare: run at an arrival rate "
            "(`turnbench compare` searches for it) or over a ramp; the per-turn comparison is below."
        )
    serving = [
        _Serving(t.label, capacity, t.traffic)
        for t in measured
        if (capacity := t.capacity) is not None and capacity.conversations_per_hour is not None
    ]
    failing = [t for t in measured if not _held(t)]
    clauses = [_cannot_serve(t) for t in failing]
    if unmeasured:
        clauses.append(f"{unmeasured} had no load level measured")
    traffic = findings.traffic_per_hour
    if not serving:
        lead = f"At {slo}, {_names(t.label for t in failing)} cannot serve: no load level measured held it"
        return _sentence(lead, [_lowest_tried(t, t.label) for t in failing] + clauses[len(failing) :])
    costed = traffic is not None and all(s.cost is not None and s.cost.replicas is not None for s in serving)
    if traffic is not None and costed:
        lead = _for_traffic(findings, serving, traffic, slo, only=bool(failing))
    else:
        lead = _capacity_only(findings, serving, slo, only=bool(failing))
        if traffic is None:
            clauses.append("state a traffic (--traffic 1000/h) for replicas and cost per month")
    return _sentence(lead, clauses)


def where_each_wins(findings: Findings) -> list[str]:
    """Per metric, the turns on which one target is significantly faster, with the range of its ratios."""
    order = {label: i for i, label in enumerate(findings.labels)}
    metric_order = {m.key: i for i, m in enumerate(METRICS)}
    wins: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    labels: dict[str, str] = {}
    for comparison in findings.comparisons:
        for row in comparison.rows:
            if row.outcome == "faster":  # the ratio is candidate / baseline: below 1, the candidate is faster
                winner, loser, factor = comparison.candidate, comparison.baseline, row.estimate.ratio
            elif row.outcome == "slower":
                winner, loser, factor = comparison.baseline, comparison.candidate, 1.0 / row.estimate.ratio
            else:
                continue
            wins.setdefault((winner, loser, row.metric.key), []).append((row.group, factor))
            labels[row.metric.key] = row.metric.label
    lines = []
    for winner, loser, key in sorted(wins, key=lambda k: (order.get(k[0], 0), order.get(k[1], 0), metric_order[k[2]])):
        rows = wins[(winner, loser, key)]
        low, high = min(f for _, f in rows), max(f for _, f in rows)
        span = f"{low:.2f}x" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}x-{high:.2f}x"
        groups = ", ".join(group_phrase(group) for group, _ in rows)
        lines.append(f"{winner} is faster on {labels[key]}: {groups} ({span} {loser}'s)")
    return lines


def capacity_cell(capacity: Capacity | None) -> str:
    """A target's capacity per replica as the report's tables and the terminal show it."""
    if capacity is None:
        return "not measured (no load level)"
    if capacity.conversations_per_hour is None:
        return "none: no load level held the SLO"
    return fmt.number(capacity.conversations_per_hour, 0)


def interval_text(low: float | None, high: float, digits: int = 0) -> str:
    """A capacity interval: the highest load held clearly to the lowest load that failed."""
    has_low = low is not None and math.isfinite(low) and low > 0
    has_high = math.isfinite(high)
    if has_low and has_high:
        return f"{fmt.number(low or 0.0, digits)}-{fmt.number(high, digits)}"
    if has_low:
        return f"at least {fmt.number(low or 0.0, digits)}"
    if has_high:
        return f"below {fmt.number(high, digits)}"
    return "unknown"


def month(usd: float) -> str:
    return f"${usd:,.0f}" if abs(usd) >= 100 else fmt.usd(usd)


def _held(target: TargetAnalysis) -> bool:
    return target.capacity is not None and target.capacity.conversations_per_hour is not None


def _for_traffic(findings: Findings, serving: Sequence[_Serving], traffic: float, slo: str, only: bool) -> str:
    ranked = sorted(serving, key=lambda s: (_cost(s).usd_per_month, _replicas(s)))
    best = ranked[0]
    lead = f"For {fmt.number(traffic, 0)} conversations/hour within {slo}, "
    if len(ranked) == 1:
        alone = "only " if only else ""
        replicas, usd = _replica_count(_replicas(best)), month(_cost(best).usd_per_month)
        return lead + (
            f"{alone}{best.label} can serve it: {replicas} at {usd} per month, "
            f"holding up to {_capacity_phrase(best.capacity)} per replica"
        )
    runner = ranked[1]
    a, b = _cost(best), _cost(runner)
    ra, rb = _replicas(best), _replicas(runner)
    same_cost = abs(a.usd_per_month - b.usd_per_month) < SAME_COST_USD
    costs = f"({month(a.usd_per_month)} vs {month(b.usd_per_month)})"
    if ra < rb:
        cost = f"the same per month ({month(a.usd_per_month)})" if same_cost else f"less per month {costs}"
        text = f"{best.label} needs fewer replicas than {runner.label} ({ra} vs {rb}) and costs {cost}"
    elif ra > rb:
        text = f"{best.label} costs less per month than {runner.label} {costs} though it needs more replicas "
        text += f"({ra} vs {rb})"
    elif same_cost:
        text = f"{best.label} and {runner.label} both need {_replica_count(ra)} and cost the same "
        text += f"({month(a.usd_per_month)} per month)"
    else:
        text = f"{best.label} and {runner.label} both need {_replica_count(ra)}, and {best.label} costs less "
        text += f"per month by its price {costs}"
    ratio = _ratio_phrase(findings, best.label, runner.label, gap=ra != rb)
    others = [f"{s.label} needs {_replica_count(_replicas(s))} ({month(_cost(s).usd_per_month)})" for s in ranked[2:]]
    return "; ".join([lead + text, *([ratio] if ratio else []), *others])


def _capacity_only(findings: Findings, serving: Sequence[_Serving], slo: str, only: bool) -> str:
    ranked = sorted(serving, key=lambda s: -(s.capacity.conversations_per_hour or 0.0))
    best = ranked[0]
    if len(ranked) == 1:
        alone = "only " if only else ""
        return f"At {slo}, {alone}{best.label} can serve: up to {_capacity_phrase(best.capacity)} per replica"
    runner = ranked[1]
    ratio = _find_ratio(findings, best.label, runner.label)
    a, b = (fmt.number(s.capacity.conversations_per_hour or 0.0, 0) for s in (best, runner))
    if ratio is not None and ratio.outcome == "lower bounds only":
        return (
            f"At {slo}, {best.label} and {runner.label} held every load they ran, so their capacities per replica "
            f"are only known to be at least {a} and {b} conversations per hour (a capacity search finds them)"
        )
    if ratio is not None and ratio.outcome == "no significant difference":
        value, interval = _ratio_numbers(ratio)
        return (
            f"At {slo}, {best.label} and {runner.label} serve about as many conversations per replica ({a} and {b} "
            f"per hour): the capacity ratio {value} ({interval}) includes 1, no significant difference"
        )
    text = f"At {slo}, {best.label} serves more conversations per replica than {runner.label} ({a} vs {b} per hour)"
    if ratio is not None and ratio.outcome in ("higher", "lower"):
        value, interval = _ratio_numbers(ratio)
        text += f", a capacity ratio of {value} ({interval})"
    others = [f"{s.label} {fmt.number(s.capacity.conversations_per_hour or 0.0, 0)} per hour" for s in ranked[2:]]
    return "; ".join([text, *others])


def _ratio_phrase(findings: Findings, best: str, runner: str, gap: bool) -> str | None:
    ratio = _find_ratio(findings, best, runner)
    if ratio is not None and ratio.outcome == "lower bounds only":
        return "both held every load they ran, so their capacities per replica are only lower bounds"
    if ratio is None or ratio.outcome == "no capacity" or math.isnan(ratio.ratio):
        return None
    value, interval = _ratio_numbers(ratio)
    if ratio.outcome == "no significant difference":
        tail = ", so the replica gap may not hold" if gap else ""
        return f"their capacities per replica do not differ significantly ({best} / {runner} {value}, {interval}){tail}"
    return f"{best}'s capacity per replica is {value}x {runner}'s ({interval})"


def _find_ratio(findings: Findings, first: str, second: str) -> CapacityRatio | None:
    """The ratio first / second, inverting the stored one (candidate / baseline) when needed."""
    for ratio in findings.capacity_ratios:
        if (ratio.candidate, ratio.baseline) == (first, second):
            return ratio
        if (ratio.baseline, ratio.candidate) == (first, second):
            flipped = {"higher": "lower", "lower": "higher"}.get(ratio.outcome, ratio.outcome)
            return CapacityRatio(
                baseline=second,
                candidate=first,
                ratio=_inverse(ratio.ratio),
                low=_inverse(ratio.high),
                high=_inverse(ratio.low),
                outcome=flipped,  # type: ignore[arg-type]
                verdict=ratio.verdict,
            )
    return None


def _inverse(value: float) -> float:
    if math.isnan(value):
        return math.nan
    return math.inf if value == 0 else 1.0 / value


def _ratio_numbers(ratio: CapacityRatio) -> tuple[str, str]:
    """('1.52', 'interval 1.30-1.80'); an open end is said in words."""
    d = fmt.ratio_digits(ratio.low, ratio.high) if math.isfinite(ratio.high - ratio.low) else 2
    value = f"{ratio.ratio:.{d}f}"
    has_low = math.isfinite(ratio.low) and ratio.low > 0
    has_high = math.isfinite(ratio.high)
    if has_low and has_high:
        return value, f"interval {ratio.low:.{d}f}-{ratio.high:.{d}f}"
    if has_low:
        return value, f"interval: at least {ratio.low:.{d}f}"
    if has_high:
        return value, f"interval: at most {ratio.high:.{d}f}"
    return value, "no interval"


def _capacity_phrase(capacity: Capacity) -> str:
    value = fmt.number(capacity.conversations_per_hour or 0.0, 0)
    return f"{value} conversations/hour (interval {interval_text(capacity.low, capacity.high)})"


def _cannot_serve(target: TargetAnalysis) -> str:
    return f"{target.label} cannot serve at this SLO: {_lowest_tried(target, 'it')}"


def _lowest_tried(target: TargetAnalysis, subject: str) -> str:
    levels = target.capacity.levels if target.capacity else ()
    if not levels:
        return f"{subject} has no level that held it"
    lowest = min(level.conversations_per_hour for level in levels)
    return f"{subject} failed even at {fmt.number(lowest, 0)} conversations/hour, its lowest load"


def _cost(serving: _Serving) -> TrafficCost:
    assert serving.cost is not None  # only called once every serving target has a cost
    return serving.cost


def _replicas(serving: _Serving) -> int:
    replicas = _cost(serving).replicas
    assert replicas is not None
    return replicas


def _replica_count(n: int) -> str:
    return f"{n} replica" if n == 1 else f"{n} replicas"


def _names(labels: Iterable[str]) -> str:
    names = list(labels)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _sentence(lead: str, clauses: Sequence[str]) -> str:
    return "; ".join([lead, *clauses]) + "."
