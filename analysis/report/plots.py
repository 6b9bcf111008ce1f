"""The report's charts, as PNG files (matplotlib's Agg renderer, no display, no pyplot state).

A chart whose data is absent is not drawn: it comes back with the reason instead, and the report
prints that reason where the chart would have been (an empty chart would look like a result).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before any pyplot import anywhere: rendering must work without a display

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from analysis.figures.capacity.estimate import Capacity
from analysis.figures.capacity.levels import LoadLevel
from analysis.figures.findings import Findings
from analysis.figures.per_target import TargetAnalysis

SIZE_IN = (7.5, 4.2)
TALL_IN = (7.5, 6.4)  # two panels on one load axis
DPI = 100
SLO_COLOR = "#b00020"
TOP_EDGE = 1.15  # headroom above the highest finite value, where infinite p95s are drawn (linear axis)
LOG_SPAN = 20.0  # finite values spanning more than this factor get a log axis, so a calm level is not flat at 0
NO_LEVELS = (
    "no target has a measured load level (a run at an arrival rate, or a ramp with per-turn data), so there is "
    "no curve to draw"
)
NO_TRAFFIC = "no traffic was stated (pass --traffic, e.g. --traffic 1000/h), so there is no cost to draw"
NO_CAPACITY = "no target held the SLO at any load measured, so no replica count serves a traffic"


@dataclass(frozen=True)
class Plot:
    name: str  # file stem: <name>.png
    title: str
    path: Path | None  # None when skipped
    skipped: str | None = None  # why it was not drawn


def draw_all(findings: Findings, out_dir: Path) -> list[Plot]:
    """Every chart, drawn into out_dir or skipped with a reason: the answer's two first, then per turn."""
    notice = findings.notice
    return [
        latency_vs_load(findings, out_dir),
        cost_vs_traffic(findings, out_dir),
        _ttft_by_turn(findings.targets, out_dir, notice),
        _cached_share_by_turn(findings.targets, out_dir, notice),
    ]


def latency_vs_load(findings: Findings, out_dir: Path) -> Plot:
    """TTFT p95 and TPOT p95 of every level against its load, SLO bounds across, capacity marked down."""
    name, title = "latency_vs_load", "TTFT p95 and TPOT p95 against load"
    measured = [(i, t) for i, t in enumerate(findings.targets) if t.capacity is not None and t.capacity.levels]
    if not measured:
        return Plot(name, title, None, NO_LEVELS)
    figure = Figure(figsize=TALL_IN, dpi=DPI, layout="constrained")
    ttft_axes, tpot_axes = figure.subplots(2, 1, sharex=True)
    ttft_axes.set_title(title)
    if findings.notice:
        figure.suptitle(findings.notice, color=SLO_COLOR, fontsize=8, x=0.01, ha="left")
    for axes, field, bound, label in (
        (ttft_axes, "ttft_p95_ms", findings.slo.ttft_p95_ms, "TTFT p95 (ms)"),
        (tpot_axes, "tpot_p95_ms", findings.slo.tpot_p95_ms, "TPOT p95 (ms)"),
    ):
        _latency_panel(axes, measured, field, bound)
        axes.set_ylabel(label)
        axes.grid(True, alpha=0.3)
    tpot_axes.set_xlabel("load (conversations per hour)")
    loads = [level.conversations_per_hour for _, target in measured for level in _levels(target)]
    heaviest = max((load for load in loads if math.isfinite(load)), default=0.0)
    # Room for the markers of the heaviest level; levels where no conversation started have load 0.
    tpot_axes.set_xlim(0, heaviest * 1.06 if heaviest > 0 else 1.0)
    handles, _ = ttft_axes.get_legend_handles_labels()
    handles += [
        Line2D([], [], color="grey", marker="o", linestyle="", label="held the SLO"),
        Line2D([], [], color="grey", marker="X", linestyle="", label="failed it"),
        Line2D([], [], color="grey", marker="^", linestyle="", label="p95 infinite: over 5% of turns missed"),
    ]
    ttft_axes.legend(handles=handles, fontsize=7, loc="upper left")
    return _save(figure, out_dir, name, title)


def _latency_panel(axes: Axes, measured: Sequence[tuple[int, TargetAnalysis]], field: str, bound: float | None) -> None:
    """One figure per level; a miss makes a p95 infinite, drawn on the top edge rather than dropped."""
    finite = [
        value
        for _, target in measured
        for level in _levels(target)
        if math.isfinite(value := float(getattr(level, field)))
    ]
    finite += [bound] if bound is not None else []
    log = bool(finite) and min(finite) > 0 and max(finite) / min(finite) > LOG_SPAN
    top = (max(finite) * (1.6 if log else TOP_EDGE)) if finite else 1.0
    for index, target in measured:
        color = f"C{index}"
        points = [
            (level.conversations_per_hour, float(getattr(level, field)), level.meets_slo)
            for level in _levels(target)
            if not math.isnan(float(getattr(level, field)))
        ]
        xs = [x for x, _, _ in points]
        ys = [y if math.isfinite(y) else top for _, y, _ in points]
        # Solid between measured values; a segment to an infinite p95 is dashed: it has no slope to show.
        axes.plot(xs, [y if math.isfinite(y) else math.nan for _, y, _ in points], color=color, label=target.label)
        axes.plot(xs, ys, color=color, linestyle="--", linewidth=0.8)
        for (x, y, held), drawn in zip(points, ys, strict=True):
            marker = "^" if math.isinf(y) else ("o" if held else "X")
            axes.plot([x], [drawn], color=color, marker=marker, linestyle="", clip_on=False)
        capacity = _capacity(target).conversations_per_hour
        if capacity is not None:
            axes.axvline(capacity, color=color, linestyle=":", label=f"{target.label} capacity")
    if bound is not None:
        axes.axhline(bound, color=SLO_COLOR, linestyle="--", linewidth=1, label="SLO")
    if log:
        axes.set_yscale("log")
        axes.set_ylim(min(finite) / 1.5, top)
    else:
        axes.set_ylim(0, top)


def cost_vs_traffic(findings: Findings, out_dir: Path) -> Plot:
    """USD per month against traffic, a step function per target (replicas are whole), the traffic stated."""
    name, title = "cost_vs_traffic", "Cost per month against traffic"
    traffic = findings.traffic_per_hour
    if traffic is None:
        return Plot(name, title, None, NO_TRAFFIC)
    curves = [(i, t) for i, t in enumerate(findings.targets) if t.cost_curve]
    if not curves:
        return Plot(name, title, None, NO_CAPACITY)
    figure, axes = _new_figure(title, findings.notice)
    for index, target in curves:
        color = f"C{index}"
        xs, ys = [x for x, _ in target.cost_curve], [y for _, y in target.cost_curve]
        # Each grid point's cost holds up to it from the point before (replicas = ceil(traffic / capacity)).
        axes.plot(xs, ys, color=color, drawstyle="steps-pre", label=target.label)
        cost = target.traffic
        if cost is not None and cost.replicas is not None:
            axes.plot([traffic], [cost.usd_per_month], color=color, marker="o", linestyle="")
            replicas = f"{cost.replicas} replica" + ("" if cost.replicas == 1 else "s")
            axes.annotate(replicas, (traffic, cost.usd_per_month), textcoords="offset points", xytext=(6, 4),
                          color=color, fontsize=8)  # fmt: skip
    axes.axvline(traffic, color="grey", linestyle="--", label=f"stated traffic: {traffic:,.0f}/h")
    axes.set_xlabel("traffic (conversations per hour)")
    axes.set_ylabel("USD per month")
    axes.yaxis.set_major_formatter(StrMethodFormatter("${x:,.0f}"))
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=8)
    return _save(figure, out_dir, name, title)


def _capacity(target: TargetAnalysis) -> Capacity:
    assert target.capacity is not None  # callers keep only targets with levels
    return target.capacity


def _levels(target: TargetAnalysis) -> tuple[LoadLevel, ...]:
    return _capacity(target).levels


def _new_figure(title: str, notice: str | None) -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    if notice:  # above the chart, where constrained layout keeps room for it
        figure.suptitle(notice, color="#b00020", fontsize=8, x=0.01, ha="left")
    return figure, axes


def _save(figure: Figure, out_dir: Path, name: str, title: str) -> Plot:
    path = out_dir / f"{name}.png"
    figure.savefig(path, format="png")
    return Plot(name, title, path)


def _ttft_by_turn(targets: Sequence[TargetAnalysis], out_dir: Path, notice: str | None) -> Plot:
    name, title = "ttft_by_turn", "TTFT by turn (line: p50, band: p50 to p90)"
    figure, axes = _new_figure(title, notice)
    drawn = False
    for target in targets:
        rows = [(r.turn, r.ttft_p50_ms, r.ttft_p90_ms) for r in target.turns if r.turn is not None]
        rows = [row for row in rows if not math.isnan(row[1])]
        if not rows:
            continue
        turns, p50, p90 = ([row[i] for row in rows] for i in range(3))
        (line,) = axes.plot(turns, p50, marker="o", label=target.label)
        axes.fill_between(turns, p50, p90, color=line.get_color(), alpha=0.2)
        drawn = True
    if not drawn:
        return Plot(name, title, None, "no run reported a TTFT per turn")
    _by_turn(axes, "TTFT (ms)")
    axes.set_ylim(bottom=0)
    axes.legend()
    return _save(figure, out_dir, name, title)


def _by_turn(axes: Axes, ylabel: str) -> None:
    """Turns on the x axis, whole numbers only: there is no turn 2.5."""
    axes.set_xlabel("turn")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(ylabel)


def _cached_share_by_turn(targets: Sequence[TargetAnalysis], out_dir: Path, notice: str | None) -> Plot:
    name, title = "cached_share_by_turn", "Cached share of prompt tokens, by turn"
    figure, axes = _new_figure(title, notice)
    drawn = False
    for target in targets:
        points = [(r.turn, 100 * r.cached_share) for r in target.turns if r.turn is not None]
        points = [p for p in points if not math.isnan(p[1])]
        if points:
            axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=target.label)
            drawn = True
    if not drawn:
        return Plot(name, title, None, "no run reported cached tokens (usage.prompt_tokens_details.cached_tokens)")
    _by_turn(axes, "cached tokens / prompt tokens (%)")
    axes.set_ylim(0, 100)
    axes.legend()
    return _save(figure, out_dir, name, title)
