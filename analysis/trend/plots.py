"""One chart per (target, scenario): the tracked figures over time, regressions and excluded runs marked.

Drawn like the report's charts (analysis/report/plots.py): matplotlib's Agg renderer, no pyplot state,
the emulator notice above the chart when any run came from the emulator. The dashed line is the
regression limit each run was judged against, so a reader sees the gate, not only the points.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before any pyplot import anywhere: rendering must work without a display

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.reading.run_index import TRACKED
from analysis.trend.regressions import TrendGroup

SIZE_IN = (8.0, 10.5)
DPI = 100
# (axis label, scale from the index's unit to the plotted one)
AXES: dict[str, tuple[str, float]] = {
    "ttft_p95_ms": ("TTFT p95 (ms)", 1.0),
    "e2e_p95_ms": ("E2E p95 (ms)", 1.0),
    "tpot_p95_ms": ("TPOT p95 (ms)", 1.0),
    "failure_rate": ("failed turns (%)", 100.0),
    "cached_share": ("cached share (%)", 100.0),
}
REGRESSION_COLOR, SATURATED_COLOR, EXCLUDED_COLOR, HEALTHY_COLOR = "#c62828", "#ef6c00", "#757575", "#1565c0"


def plot_file_name(group: TrendGroup) -> str:
    return f"trend-{_slug(group.target)}-{_slug(group.scenario)}.png"


def draw_group(group: TrendGroup, out_dir: Path, notice: str | None) -> Path:
    """The group's chart as out_dir/<plot_file_name>; every run is drawn, missing figures are gaps."""
    figure = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    axes_list = figure.subplots(len(TRACKED), 1, sharex=True)
    figure.suptitle(f"{group.label}: p95 latencies, failures and cache reuse per run", fontsize=11)
    when = [datetime.fromtimestamp(j.run.started_at, tz=UTC) for j in group.runs]
    for axes, name in zip(axes_list, TRACKED, strict=True):
        label, scale = AXES[name]
        values = [j.run.figures[name] for j in group.runs]
        shown = [float("nan") if v is None else v * scale for v in values]
        axes.plot(when, shown, color=HEALTHY_COLOR, linewidth=1, alpha=0.6)
        limits = [j.limits[name] * scale if name in j.limits else float("nan") for j in group.runs]
        axes.plot(when, limits, color=REGRESSION_COLOR, linestyle="--", linewidth=1, alpha=0.7)
        for at, value, judged in zip(when, shown, group.runs, strict=True):
            run = judged.run
            if run.saturated:
                style = {"marker": "^", "markerfacecolor": "none", "markeredgecolor": SATURATED_COLOR}
            elif not run.counts_for_baseline:
                style = {"marker": "s", "markerfacecolor": "none", "markeredgecolor": EXCLUDED_COLOR}
            else:
                style = {"marker": "o", "color": HEALTHY_COLOR}
            axes.plot([at], [value], linestyle="none", markersize=6, **style)
            if judged.regression:
                axes.axvline(at, color=REGRESSION_COLOR, alpha=0.25, linewidth=3)
                if any(b.figure == name for b in judged.breaches):
                    axes.plot([at], [value], linestyle="none", marker="X", markersize=11, color=REGRESSION_COLOR)
        axes.set_ylabel(label, fontsize=8)
        axes.grid(True, alpha=0.3)
        if name == "cached_share":
            axes.set_ylim(0, 105)  # a share: the whole scale, so a drop reads as large as it is
        else:
            axes.set_ylim(bottom=0)
    locator = AutoDateLocator()
    axes_list[-1].xaxis.set_major_locator(locator)
    axes_list[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes_list[-1].set_xlabel("run start (UTC)")
    figure.legend(handles=_legend(), loc="outside lower center", ncols=3, fontsize=8)
    if notice:  # where the report's charts carry it: above the chart
        axes_list[0].set_title(notice, color="#b00020", fontsize=8, loc="left")
    path = out_dir / plot_file_name(group)
    figure.savefig(path, format="png")
    return path


def _legend() -> list[Line2D]:
    return [
        Line2D([], [], marker="o", color=HEALTHY_COLOR, linestyle="none", label="run (counts for baselines)"),
        Line2D(
            [],
            [],
            marker="^",
            markerfacecolor="none",
            markeredgecolor=SATURATED_COLOR,
            linestyle="none",
            label="load generator saturated (not in baselines)",
        ),
        Line2D(
            [],
            [],
            marker="s",
            markerfacecolor="none",
            markeredgecolor=EXCLUDED_COLOR,
            linestyle="none",
            label="interrupted or failed (not in baselines)",
        ),
        Line2D([], [], marker="X", color=REGRESSION_COLOR, linestyle="none", markersize=9, label="regression"),
        Line2D([], [], color=REGRESSION_COLOR, linestyle="--", label="regression limit (from the baseline)"),
    ]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"
