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
from analysis.figures.findings import Findings
from analysis.figures.per_target import TargetAnalysis
from analysis.figures.ratios import Comparison, group_phrase
from analysis.figures.turns import LATER_TURNS
from analysis.report.plots import Plot

SCHEMA_VERSION = 1


def summary_dict(findings: Findings, plots: Sequence[Plot], report_dir: Path) -> dict[str, Any]:
    return _clean(
        {
            "schema_version": SCHEMA_VERSION,
            "emulated": findings.notice is not None,
            "emulated_notice": findings.notice,
            "slo": {**findings.slo.as_dict(), "is_default": findings.slo.is_default},
            "idle_timeout_s": findings.idle_timeout_s,
            "targets": {t.label: _target(t) for t in findings.targets},
            "comparisons": [_comparison(c) for c in findings.comparisons],
            "warnings": [dataclasses.asdict(c) for c in findings.caveats],
            "plots": {
                p.name: {"file": p.path.relative_to(report_dir).as_posix() if p.path else None, "skipped": p.skipped}
                for p in plots
            },
        }
    )


def _target(target: TargetAnalysis) -> dict[str, Any]:
    run = target.run
    start, end = run.window()
    ramp = target.ramp
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
        "cost": dataclasses.asdict(target.cost),
        "ramp": None
        if ramp is None
        else {
            "levels": [dataclasses.asdict(level) for level in ramp.levels],
            "capacity": dataclasses.asdict(ramp.capacity) if ramp.capacity else None,
        },
        "server_metrics": [dataclasses.asdict(m) for m in target.server],
        "connections": [dataclasses.asdict(c) for c in target.connections],  # [] when not recorded
        "completion_tokens_p50": target.completion_tokens_p50,
        "lagged_turns": target.lagged_turns,  # left out of latency figures: the load generator lagged
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
    """What `turnbench report` prints: TTFT p50 per turn side by side, cost, verdicts, warnings, the path."""
    lines = [" vs ".join(findings.labels)]
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
    costs = ", ".join(f"{t.label} {fmt.usd(t.cost.usd_per_conversation)}" for t in findings.targets)
    lines.append(f"cost per conversation: {costs}")
    for comparison in findings.comparisons:
        lines += [f"verdict: {row.verdict}" for row in comparison.headline()]
    lines += [f"warning: {c.message}" for c in findings.caveats]
    lines.append(f"report: {report_path}")
    return "\n".join(lines)
