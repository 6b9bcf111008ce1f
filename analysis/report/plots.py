"""The report's charts, as PNG files (matplotlib's Agg renderer, no display, no pyplot state).

A chart whose data is absent is not drawn: it comes back with the reason instead, and the report
prints that reason where the chart would have been (an empty chart would look like a result).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before any pyplot import anywhere: rendering must work without a display

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis.figures.per_target import TargetAnalysis
from analysis.figures.ramp import LoadLevel

SIZE_IN = (7.5, 4.2)
DPI = 100
NO_RAMP = (
    "no run has more than one load level with per-turn data (locust_stats_history.csv shows a single "
    "user count, or the run has no requests.csv), so there is no curve to draw"
)


@dataclass(frozen=True)
class Plot:
    name: str  # file stem: <name>.png
    title: str
    path: Path | None  # None when skipped
    skipped: str | None = None  # why it was not drawn


def draw_all(targets: Sequence[TargetAnalysis], out_dir: Path, notice: str | None) -> list[Plot]:
    """Every chart, drawn into out_dir or skipped with a reason."""
    return [
        _ttft_by_turn(targets, out_dir, notice),
        _cached_share_by_turn(targets, out_dir, notice),
        _ramp_chart(
            targets,
            out_dir,
            notice,
            "ttft_p95_vs_users",
            "TTFT p95 vs users",
            "users",
            "TTFT p95 (ms)",
            lambda level: (level.users, level.ttft_p95_ms),
        ),
        _ramp_chart(
            targets,
            out_dir,
            notice,
            "throughput_vs_latency",
            "Conversations per hour vs E2E p95",
            "E2E p95 (ms)",
            "conversations completed per hour",
            lambda level: (level.e2e_p95_ms, level.conversations_per_hour),
        ),
        _ramp_chart(
            targets,
            out_dir,
            notice,
            "cost_vs_load",
            "Cost per conversation vs load",
            "users",
            "USD per conversation",
            lambda level: (level.users, level.usd_per_conversation),
        ),
    ]


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


def _ramp_chart(
    targets: Sequence[TargetAnalysis],
    out_dir: Path,
    notice: str | None,
    name: str,
    title: str,
    x_label: str,
    y_label: str,
    point: Callable[[LoadLevel], tuple[float, float]],
) -> Plot:
    ramps = [(t.label, t.ramp) for t in targets if t.ramp is not None and t.ramp.is_ramp]
    if not ramps:
        return Plot(name, title, None, NO_RAMP)
    figure, axes = _new_figure(title, notice)
    for label, ramp in ramps:
        points = sorted(point(level) for level in ramp.levels)
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.legend()
    return _save(figure, out_dir, name, title)
