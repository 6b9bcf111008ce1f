"""The report's content, as blocks: the answer, its charts, warnings, per-turn comparisons, costs, one
section per target, the per-turn charts, and how the numbers were made.

The emulator notice is said once, at the top of the page, and on every chart (in the PNG), not
under each table: said everywhere, it stops being read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from analysis import formats as fmt
from analysis.figures.bootstrap import DESCRIPTION
from analysis.figures.capacity.traffic_cost import HOURS_PER_MONTH
from analysis.figures.caveats import Caveat
from analysis.figures.conversations import ConversationFigures
from analysis.figures.cost import CostFigures
from analysis.figures.findings import Findings
from analysis.figures.per_target import ConnectionFigures, TargetAnalysis
from analysis.figures.ratios import METRICS, Comparison, group_phrase
from analysis.figures.turns import ALL_TURNS, LATER_TURNS, TurnFigures
from analysis.report import cache_state, capacity_blocks
from analysis.report.document import Block, Bullets, Heading, Image, Paragraph, Table
from analysis.report.plots import Plot

TURN_COLUMNS = (
    "turn", "n", "TTFT p50", "TTFT p90", "TTFT p99", "TTFO p50", "TPOT p50", "ITL p99 (p50)",
    "E2E p50", "E2E p95", "prompt tokens p50", "cached share", "failures", "lagged (left out)",
)  # fmt: skip

CONNECTION_COLUMNS = (
    "turns", "n", "new connection", "connect p50", "connect p95", "TTFT p50", "TTFT p50 without connect",
    "TTFT p95", "TTFT p95 without connect",
)  # fmt: skip
CONVERSATION_COLUMNS = (
    "finished", "complete", "failed", "interrupted", "duration p50", "duration p90", "turns p50", "met SLO",
    "SLO share",
)  # fmt: skip
ANSWER_CHARTS = ("latency_vs_load", "cost_vs_traffic")  # shown under the summary; the others at the end
COST_ROWS: tuple[tuple[str, Callable[[CostFigures], str]], ...] = (
    ("billing", lambda c: c.price.describe()),
    ("measured window", lambda c: fmt.seconds(c.window_s)),
    ("billed time", lambda c: fmt.seconds(c.billed_s)),
    ("total cost", lambda c: fmt.usd(c.total_usd)),
    ("conversations completed", lambda c: fmt.count(c.conversations_completed)),
    ("conversations per hour", lambda c: fmt.number(c.conversations_per_hour, 0)),
    ("cost per conversation", lambda c: fmt.usd(c.usd_per_conversation)),
    ("cost per 1M output tokens", lambda c: fmt.usd(c.usd_per_million_output_tokens)),
    ("conversations meeting the SLO", lambda c: fmt.count(c.slo_conversations)),
    ("cost per SLO-meeting conversation", lambda c: fmt.usd(c.usd_per_slo_conversation)),
)


def title(findings: Findings) -> str:
    return "turnbench report: " + " vs ".join(findings.labels)


def blocks(findings: Findings, plots: Sequence[Plot]) -> list[Block]:
    note = findings.notice
    out: list[Block] = []
    if findings.workload_warnings:
        out.append(
            Paragraph(
                "The compared runs did not have the same workload, so they do not compare like with like:", alert=True
            )
        )
        out.append(Bullets(findings.workload_warnings, alert=True))
    if note:
        emulated = ", ".join(t.label for t in findings.targets if t.run.emulated)
        out.append(Paragraph(f"{note} ({emulated}).", alert=True))
    out += capacity_blocks.summary(findings)
    out += _plots("Latency and cost against load", [p for p in plots if p.name in ANSWER_CHARTS])
    out.append(Heading("Warnings"))
    warnings = _warnings(findings)
    if warnings:
        out.append(Bullets(tuple(c.message for c in warnings), alert=True))
    else:
        out.append(Paragraph("None: no run tripped a check (output parity, load generator, cache state, status)."))
    out += _per_turn(findings)
    for comparison in findings.comparisons:
        out += _comparison(comparison)
    out += _costs(findings)
    for target in findings.targets:
        out += _target(target, findings)
    out += _plots("Per-turn charts", [p for p in plots if p.name not in ANSWER_CHARTS])
    out += _method(findings)
    return out


def _warnings(findings: Findings) -> list[Caveat]:
    """The caveats the page shows (the emulator's is the notice at the top, said once), and the runs that started
    neither flushed nor salted."""
    return [*(c for c in findings.caveats if c.kind != "emulated_engine"), *cache_state.warnings(findings)]


def _per_turn(findings: Findings) -> list[Block]:
    out: list[Block] = [Heading("Per turn")]
    at = f" The comparison is {findings.compared_at}." if findings.compared_at else ""
    out.append(Paragraph(f"SLO: {findings.slo.describe()}. Latencies in milliseconds, over successful turns.{at}"))
    out.append(ttft_side_by_side(findings.targets))
    return out


def ttft_side_by_side(targets: Sequence[TargetAnalysis]) -> Table:
    groups: list[str] = []
    for target in targets:
        groups += [row.group for row in target.turns if row.group not in groups]
    values = {(t.label, row.group): row.ttft_p50_ms for t in targets for row in t.turns}
    rows = tuple((group_phrase(g), *(fmt.ms(values.get((t.label, g), math.nan)) for t in targets)) for g in groups)
    return Table("TTFT p50 by turn (ms)", ("turns", *(t.label for t in targets)), rows)


def _comparison(comparison: Comparison) -> list[Block]:
    out: list[Block] = [Heading(f"Comparison: {comparison.candidate} vs {comparison.baseline}")]
    groups: list[str] = []
    for row in comparison.rows:
        if row.group not in groups:
            groups.append(row.group)
    cells = {(row.group, row.metric.key): row for row in comparison.rows}
    table_rows = []
    for group in groups:
        first = cells[(group, METRICS[0].key)]
        estimates = [cells[(group, m.key)].estimate for m in METRICS]
        ratios = tuple(fmt.ratio(e.ratio, e.low, e.high) for e in estimates)
        table_rows.append(
            (group_phrase(group), fmt.count(first.estimate.n_baseline), fmt.count(first.estimate.n_candidate), *ratios)
        )
    base, cand = comparison.baseline, comparison.candidate
    caption = f"Ratio {cand} / {base} (95% bootstrap CI); below 1: {cand} is faster"
    columns = ("turns", f"n {comparison.baseline}", f"n {comparison.candidate}", *(m.label for m in METRICS))
    out.append(Table(caption, columns, tuple(table_rows)))
    verdicts = [row.verdict for row in comparison.rows if row.group in (LATER_TURNS, ALL_TURNS)]
    out.append(Bullets(tuple(verdicts)))
    return out


def _costs(findings: Findings) -> list[Block]:
    targets = findings.targets
    labels = tuple(t.label for t in targets)
    rows = tuple((name, *(show(t.cost) for t in targets)) for name, show in COST_ROWS)
    caption = "Cost of the measured runs (price x measured window; set by the load offered, not a capacity)"
    return [Heading("Cost of the runs"), Table(caption, ("", *labels), rows)]


def _target(target: TargetAnalysis, findings: Findings) -> list[Block]:
    run, info = target.run, target.run.info
    start, end = run.window()
    facts = [f"run directory: {run.path}", f"engine: {run.engine}"]
    if info:
        facts += [f"model: {info['target'].get('model', fmt.MISSING)}", f"status: {info['status']}"]
        facts.append(f"run id: {info.get('run_id', fmt.MISSING)}")
    if not math.isnan(start):
        facts.append(
            f"window: {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(start))} UTC, {fmt.seconds(end - start)}"
        )
    facts.append(f"price: {target.cost.price.describe()}")
    facts.append(cache_state.cache_start(target).line())
    facts.append(
        "data: " + ("Locust CSVs only (bucketed percentiles)" if run.locust_only else "requests.csv (raw samples)")
    )
    out: list[Block] = [Heading(f"Target: {target.label}"), Bullets(tuple(facts))]
    out.append(
        Table(
            f"{target.label}: per turn (ms unless stated)",
            TURN_COLUMNS,
            tuple(_turn_row(r) for r in target.turns),
        )
    )
    if target.connections:
        out.append(_connection_table(target.label, target.connections))
    if target.conversations:
        out.append(_conversation_table(target.label, target.conversations))
    out += capacity_blocks.levels(target)
    if target.server:
        metrics = tuple((m.name, fmt.number(m.last, 3), fmt.number(m.peak, 3)) for m in target.server)
        out.append(Table(f"{target.label}: engine metrics (Prometheus)", ("metric", "last", "peak"), metrics))
    own = [c.message for c in _warnings(findings) if target.label in c.targets]
    if own:
        out.append(Bullets(tuple(own), alert=True))
    return out


def _connection_table(label: str, connections: Sequence[ConnectionFigures]) -> Table:
    rows = tuple(
        (
            group_phrase(c.group), fmt.count(c.n), fmt.share(c.new_share), fmt.ms(c.connect_p50_ms),
            fmt.ms(c.connect_p95_ms), fmt.ms(c.ttft_p50_ms), fmt.ms(c.ttft_without_connect_p50_ms),
            fmt.ms(c.ttft_p95_ms), fmt.ms(c.ttft_without_connect_p95_ms),
        )
        for c in connections
    )  # fmt: skip
    caption = (
        f"{label}: new connections (ms). Turn 1 opens one for every new user; on turns >= 2 a new connection "
        "means the server closed the idle one while the person thought. TTFT includes it."
    )
    return Table(caption, CONNECTION_COLUMNS, rows)


def _conversation_table(label: str, c: ConversationFigures) -> Table:
    row = (
        fmt.count(c.finished), fmt.count(c.complete), fmt.count(c.failed), fmt.count(c.interrupted),
        fmt.seconds(c.duration_p50_s), fmt.seconds(c.duration_p90_s), fmt.number(c.turns_p50, 0),
        fmt.count(c.slo_met), fmt.share(c.slo_share),
    )  # fmt: skip
    return Table(f"{label}: conversations", CONVERSATION_COLUMNS, (row,))


def _turn_row(r: TurnFigures) -> tuple[str, ...]:
    return (
        group_phrase(r.group), fmt.count(r.n), fmt.ms(r.ttft_p50_ms), fmt.ms(r.ttft_p90_ms), fmt.ms(r.ttft_p99_ms),
        fmt.ms(r.ttfo_p50_ms), fmt.ms(r.tpot_p50_ms), fmt.ms(r.itl_p99_ms), fmt.ms(r.e2e_p50_ms), fmt.ms(r.e2e_p95_ms),
        fmt.number(r.prompt_tokens_p50, 0), fmt.share(r.cached_share), fmt.share(r.failure_rate), fmt.count(r.lagged),
    )  # fmt: skip


def _plots(heading: str, plots: Sequence[Plot]) -> list[Block]:
    out: list[Block] = [Heading(heading)]
    for plot in plots:
        if plot.path is not None:
            out.append(Image(plot.title, plot.path))
        else:
            out.append(Paragraph(f"{plot.title}: not drawn, because {plot.skipped}."))
    return out


def _method(findings: Findings) -> list[Block]:
    return [
        Heading("How these numbers were made"),
        Bullets(
            (
                "Percentiles are nearest-rank (numpy method inverted_cdf) of raw per-turn values from "
                "requests.csv: always an observed turn, never interpolated, never from Locust's buckets "
                "(except in Locust-CSV-only mode).",
                "Per-turn latency percentiles cover successful turns; failures are counted separately. TTFT, "
                "TTFO, TPOT, ITL and E2E are defined in harness/client/measurement.py.",
                "A load level is a stretch of steady offered load (a run at an arrival rate after its warm-up, or "
                "a step of a ramp), judged on the turns started in its measured window. There a failed or lagged "
                "turn is a miss and counts as infinitely slow in every p95, so shedding load with errors cannot "
                "win; the score is the worst figure over its bound, and the level holds below 1. Conversations "
                "that started over a second late count against the load offered.",
                "Capacity per replica is the highest load that held the SLO; its interval runs from the highest "
                "load that held clearly (the score's bootstrap interval below 1) to the lowest load above it that "
                "failed. Capacity ratios divide the estimates (where the score crosses 1); their interval divides "
                "the ends of the two capacity intervals.",
                "Cost for a traffic: replicas = traffic x (1 + headroom) / capacity per replica, rounded up; pods "
                "bill every hour, serverless workers the share of the time they are alive (busy, or within their "
                f"idle timeout); a month is {HOURS_PER_MONTH:g} hours; $/conversation = $/hour / traffic.",
                "A turn during which the load generator's event loop stalled beyond its lag limit ('lagged') is "
                "left out of every latency figure, since its timings include the client's own delay; the "
                "per-turn tables count them, and the failure rate still includes them.",
                "Per-turn rows and 'turns >= 2' count first asks only; regenerated answers and edited questions "
                "resend an earlier, mostly cached prompt and are the 'branches' row. The cached share is cached "
                "over prompt tokens of successful turns that reported their prompt size, a turn that reported "
                "no cached figure counting 0 once the run reported any (harness/recording/cached_rule.py).",
                "TTFT starts before the connection is taken, so a turn that opens one (DNS, TCP, TLS) waits for "
                "it inside TTFT, as a person would. vLLM and SGLang close a connection idle for 5 s, so after a "
                "longer think most turns reconnect; connect_ms is reported apart, and 'without connect' is each "
                "turn's TTFT minus its own connect_ms.",
                f"Confidence intervals: {DESCRIPTION}; a difference is claimed only when the 95% interval excludes 1.",
                "Cost of the runs: pod = price per pod-hour x measured window. Serverless = price per GPU-second "
                f"x GPUs x busy seconds (union of request intervals, each extended by a {findings.idle_timeout_s:g} s "
                "idle timeout).",
                "A conversation meets the SLO when it completed and every turn succeeded with "
                f"{findings.slo.describe()}.",
            )
        ),
    ]
