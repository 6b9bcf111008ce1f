"""The report's lead and each target's load levels, as blocks: the answer first, then how it was found.

The Summary opens with the answer sentence (analysis/report/answer.py) and a table of capacity per
replica, replicas and dollars per month for the stated traffic; each target's section lists every
load level measured, with why it held or failed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from analysis import formats as fmt
from analysis.figures.capacity.estimate import Capacity
from analysis.figures.capacity.levels import LoadLevel
from analysis.figures.findings import Findings
from analysis.figures.per_target import TargetAnalysis
from analysis.report.answer import answer, capacity_cell, interval_text, month, where_each_wins
from analysis.report.document import Block, Bullets, Heading, Paragraph, Table

LEVEL_COLUMNS = (
    "load (conversations/h)", "started/h", "turns", "TTFT p95", "TPOT p95", "E2E p95", "failures", "late starts",
    "score (interval)", "SLO", "why", "clear",
)  # fmt: skip
INFINITE = "inf"  # a p95 with more than 5% of turns missed (failed or lagged)


def summary(findings: Findings) -> list[Block]:
    out: list[Block] = [Heading("Summary"), Paragraph(answer(findings))]
    out.append(capacity_table(findings))
    wins = where_each_wins(findings)
    if findings.comparisons:
        where = f" ({findings.compared_at})" if findings.compared_at else ""
        out.append(Paragraph(f"Where each wins, per turn{where}:"))
        out.append(Bullets(tuple(wins) if wins else ("no per-turn difference is significant",)))
    return out


def capacity_table(findings: Findings) -> Table:
    traffic = findings.traffic_per_hour
    columns = ["target", "capacity (conversations/h per replica)", "interval", "concurrent conversations"]
    caption = f"Capacity per replica at the SLO ({findings.slo.describe()})"
    if traffic is not None:
        columns += ["replicas", "$/hour", "$/month", "$/conversation", "billing"]
        headroom = f", keeping {findings.headroom:.0%} of capacity free" if findings.headroom else ""
        caption += f", and what {fmt.number(traffic, 0)} conversations/hour cost{headroom}"
    columns += ["levels measured", "pod-minutes"]
    rows = []
    for target in findings.targets:
        capacity = target.capacity
        row = [target.label, capacity_cell(capacity), *_interval_cells(capacity)]
        if traffic is not None:
            row += _cost_cells(target)
        row += [
            fmt.count(len(capacity.levels)) if capacity else "0",
            fmt.number(capacity.pod_minutes, 1) if capacity else fmt.MISSING,
        ]
        rows.append(tuple(row))
    return Table(caption, tuple(columns), tuple(rows))


def levels(target: TargetAnalysis) -> list[Block]:
    """Every level measured for the target, then its capacity and why the search stopped."""
    capacity = target.capacity
    if capacity is None or not capacity.levels:
        return []
    caption = (
        f"{target.label}: load levels (ms; a failed or lagged turn is a miss, infinitely slow in every p95, so "
        f"'{INFINITE}': more than 5% missed; score: the worst figure / its bound, over 1 fails; clear: its "
        "bootstrap interval is on one side of 1)"
    )
    table = Table(caption, LEVEL_COLUMNS, tuple(_level_row(level) for level in capacity.levels))
    return [table, Bullets(tuple(_capacity_facts(capacity)))]


def _interval_cells(capacity: Capacity | None) -> list[str]:
    if capacity is None or capacity.conversations_per_hour is None:
        return [fmt.MISSING, fmt.MISSING]
    concurrent = capacity.concurrent_conversations
    return [interval_text(capacity.low, capacity.high), fmt.number(math.nan if concurrent is None else concurrent)]


def _cost_cells(target: TargetAnalysis) -> list[str]:
    cost = target.traffic
    if cost is None:
        return [fmt.MISSING] * 5
    if cost.replicas is None:
        return ["cannot serve", fmt.MISSING, fmt.MISSING, fmt.MISSING, cost.billing]
    return [
        fmt.count(cost.replicas),
        fmt.usd(cost.usd_per_hour),
        month(cost.usd_per_month),
        fmt.usd(cost.usd_per_conversation),
        cost.billing if cost.billing == "pod" else f"{cost.billing} (busy {fmt.share(cost.busy_share)})",
    ]


def _level_row(level: LoadLevel) -> tuple[str, ...]:
    load = fmt.number(level.conversations_per_hour, 0)
    if level.kind == "users" and level.users is not None:
        load += f" ({level.users} users)"
    late = fmt.count(level.late_starts)
    if level.late_starts and level.conversations:
        late += f" ({fmt.share(level.late_starts / level.conversations)})"
    return (
        load, fmt.number(level.started_per_hour, 0), fmt.count(level.turns), _p95(level.ttft_p95_ms),
        _p95(level.tpot_p95_ms), _p95(level.e2e_p95_ms), fmt.share(level.failure_rate), late, _score(level),
        "held" if level.meets_slo else "failed", level.why, "yes" if level.clear else "no",
    )  # fmt: skip


def _p95(value: float) -> str:
    return INFINITE if math.isinf(value) else fmt.ms(value)


def _score(level: LoadLevel) -> str:
    def show(value: float) -> str:
        return INFINITE if math.isinf(value) else fmt.number(value, 2)

    if level.score_low == level.score_high or math.isnan(level.score_low):
        return show(level.score)
    return f"{show(level.score)} ({show(level.score_low)}-{show(level.score_high)})"


def _capacity_facts(capacity: Capacity) -> Sequence[str]:
    facts = []
    if capacity.conversations_per_hour is None:
        facts.append("capacity: none, no load level held the SLO")
    else:
        facts.append(
            f"capacity: {fmt.number(capacity.conversations_per_hour, 0)} conversations/hour per replica, the highest "
            f"load that held (interval {interval_text(capacity.low, capacity.high)}: the highest load that held "
            "clearly to the lowest above it that failed)"
        )
    if capacity.estimate is not None:
        facts.append(f"where the score crosses 1 (interpolated in log load): {fmt.number(capacity.estimate, 0)}/h")
    if capacity.concurrent_conversations is not None:
        facts.append(f"conversations in progress at that load: {fmt.number(capacity.concurrent_conversations)}")
    facts.append(f"stopped: {capacity.stop_reason}; {fmt.number(capacity.pod_minutes, 1)} pod-minutes")
    return facts
