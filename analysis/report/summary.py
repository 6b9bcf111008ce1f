"""summary.json (the machine-readable report) and the short summary the CLI prints.

summary.json holds numbers, not formatted text: NaN ("not reported") becomes null, times are
epoch seconds, latencies milliseconds, shares fractions in [0, 1], money US dollars.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis import formats as fmt
from analysis.figures.capacity.estimate import Capacity
from analysis.figures.capacity.traffic_cost import TrafficCost
from analysis.figures.findings import Findings
from analysis.figures.per_target import TargetAnalysis
from analysis.figures.ratios import Comparison, group_phrase
from analysis.figures.turns import LATER_TURNS
from analysis.report import cache_state
from analysis.report.answer import answer, capacity_cell, interval_text, month, where_each_wins
from analysis.report.plots import Plot

SCHEMA_VERSION = 2  # 2: capacity and cost_for_traffic per target (ramp went), traffic, answer, capacity_ratios


def summary_dict(findings: Findings, plots: Sequence[Plot], report_dir: Path) -> dict[str, Any]:
    return _clean(
        {
            "schema_version": SCHEMA_VERSION,
            "answer": answer(findings),
            "where_each_wins": where_each_wins(findings),
            "workload_warnings": list(findings.workload_warnings),
            "emulated": findings.notice is not None,
            "emulated_notice": findings.notice,
            "slo": {**findings.slo.as_dict(), "is_default": findings.slo.is_default},
            "idle_timeout_s": findings.idle_timeout_s,
            "traffic": None
            if findings.traffic_per_hour is None
            else {"conversations_per_hour": findings.traffic_per_hour, "headroom": findings.headroom},
            "targets": {t.label: _target(t) for t in findings.targets},
            "capacity_ratios": [dataclasses.asdict(r) for r in findings.capacity_ratios],
            "compared_at": findings.compared_at or None,
            "comparisons": [_comparison(c) for c in findings.comparisons],
            "warnings": [dataclasses.asdict(c) for c in (*findings.caveats, *cache_state.warnings(findings))],
            "plots": {
                p.name: {"file": p.path.relative_to(report_dir).as_posix() if p.path else None, "skipped": p.skipped}
                for p in plots
            },
        }
    )


def _target(target: TargetAnalysis) -> dict[str, Any]:
    run = target.run
    start, end = run.window()
    return {
        "run_dir": str(run.path),
        "target": run.target_name,
        "engine": run.engine,
        "emulated": run.emulated,
        "mode": "locust_csv_only" if run.locust_only else "requests_csv",
        "limits": run.limits,
        "status": run.info["status"] if run.info else None,
        "window": {"start": start, "end": end},
        "per_turn": [dataclasses.asdict(row) for row in target.turns],
        "conversations": dataclasses.asdict(target.conversations) if target.conversations else None,
        "capacity": _capacity(target.capacity),
        "cost_for_traffic": _cost_for_traffic(target.traffic),
        "cost": dataclasses.asdict(target.cost),  # of the measured runs: price x measured window
        "server_metrics": [dataclasses.asdict(m) for m in target.server],
        "connections": [dataclasses.asdict(c) for c in target.connections],  # [] when not recorded
        "completion_tokens_p50": target.completion_tokens_p50,
        "lagged_turns": target.lagged_turns,  # left out of latency figures: the load generator lagged
        "cache_start": cache_state.cache_start(target).as_dict(),  # flushed or salted, per run
    }


def _capacity(capacity: Capacity | None) -> dict[str, Any] | None:
    if capacity is None:
        return None
    return {
        "conversations_per_hour": capacity.conversations_per_hour,
        "interval": [capacity.low, capacity.high],
        "estimate": capacity.estimate,
        "concurrent_conversations": capacity.concurrent_conversations,
        "levels": [{**dataclasses.asdict(level), "clear": level.clear} for level in capacity.levels],
        "stop_reason": capacity.stop_reason,
        "pod_minutes": capacity.pod_minutes,
    }


def _cost_for_traffic(cost: TrafficCost | None) -> dict[str, Any] | None:
    if cost is None:
        return None
    return {
        "traffic": cost.traffic_per_hour,
        "replicas": cost.replicas,
        "usd_per_hour": cost.usd_per_hour,
        "usd_per_month": cost.usd_per_month,
        "usd_per_conversation": cost.usd_per_conversation,
        "billing": cost.billing,
        "headroom": cost.headroom,
        "busy_share": cost.busy_share,
    }


def _comparison(comparison: Comparison) -> dict[str, Any]:
    return {
        "baseline": comparison.baseline,
        "candidate": comparison.candidate,
        "ratio": "candidate / baseline",
        "rows": [
            {
                "turns": row.group,
                "metric": row.metric.key,
                "ratio": row.estimate.ratio,
                "ci_low": row.estimate.low,
                "ci_high": row.estimate.high,
                "n_baseline": row.estimate.n_baseline,
                "n_candidate": row.estimate.n_candidate,
                "outcome": row.outcome,
                "verdict": row.verdict,
            }
            for row in comparison.rows
        ],
        "verdicts": [row.verdict for row in comparison.headline()],
    }


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities to null, numpy scalars to Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def terminal_text(findings: Findings, report_path: Path) -> str:
    """What `turnbench report` prints: the answer, capacity and cost per target, TTFT p50 per turn side by
    side, cost of the runs, verdicts, warnings, the path."""
    lines = [answer(findings)]
    lines += [_capacity_line(t, findings.traffic_per_hour is not None) for t in findings.targets]
    lines += [f"WARNING: the workloads differ: {warning}" for warning in findings.workload_warnings]
    lines.append(" vs ".join(findings.labels))
    if findings.notice:
        emulated = ", ".join(t.label for t in findings.targets if t.run.emulated)
        lines.append(f"{findings.notice} ({emulated})")
    labels = findings.labels
    width = max(10, *(len(label) for label in labels)) + 2
    groups: list[str] = []
    for target in findings.targets:
        groups += [row.group for row in target.turns if row.group not in groups]
    values = {(t.label, row.group): row.ttft_p50_ms for t in findings.targets for row in t.turns}
    lines.append("TTFT p50 (ms)".ljust(16) + "".join(label.rjust(width) for label in labels))
    for group in groups:
        name = group_phrase(group)
        cells = (fmt.ms(values.get((label, group), math.nan)).rjust(width) for label in labels)
        lines.append(name.ljust(16) + "".join(cells))
    later = [(t.label, c) for t in findings.targets for c in t.connections if c.group == LATER_TURNS]
    if later:
        shares = ", ".join(
            f"{label} {fmt.share(c.new_share)}"
            + (f" (connect p50 {fmt.ms(c.connect_p50_ms)} ms)" if not math.isnan(c.connect_p50_ms) else "")
            for label, c in later
        )
        lines.append(f"new connections on turns >= 2: {shares}")
    if findings.traffic_per_hour is None:  # with a traffic, the answer above gives $/conversation at it
        costs = ", ".join(f"{t.label} {fmt.usd(t.cost.usd_per_conversation)}" for t in findings.targets)
        lines.append(f"cost per conversation at the load offered: {costs}")
    if findings.compared_at:
        lines.append(f"per turn, {findings.compared_at}:")
    for comparison in findings.comparisons:
        lines += [f"verdict: {row.verdict}" for row in comparison.headline()]
    lines += [f"{t.label}: {cache_state.cache_start(t).line()}" for t in findings.targets]
    # The emulator notice is said once, above; the per-target caveat would repeat it.
    lines += [f"warning: {c.message}" for c in findings.caveats if c.kind != "emulated_engine"]
    lines += [f"warning: {c.message}" for c in cache_state.warnings(findings)]
    lines.append(f"report: {report_path}")
    return "\n".join(lines)


def _capacity_line(target: TargetAnalysis, costed: bool) -> str:
    """'vllm: capacity 1,200 conversations/h per replica (1,000-1,440), 3 replicas, $17,475/month'."""
    capacity = target.capacity
    if capacity is None or capacity.conversations_per_hour is None:
        return f"{target.label}: capacity {capacity_cell(capacity)}"
    text = (
        f"{target.label}: capacity {capacity_cell(capacity)} conversations/h per replica "
        f"({interval_text(capacity.low, capacity.high)})"
    )
    cost = target.traffic
    if costed and cost is not None and cost.replicas is not None:
        text += f", {cost.replicas} replica{'' if cost.replicas == 1 else 's'}, {month(cost.usd_per_month)}/month"
    return text
