"""`turnbench report --trend RUNS_DIR`: runs/index.csv in, trend.html + trend.md + trend.json + charts out.

A nightly schedule runs the same scenario against the same target every night; this answers "is
last night worse than usual?" for each (target, scenario), and with --gate turns the answer into
an exit code a scheduler can alert on. Verdicts come from analysis.trend.regressions; this module reads,
writes and words them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from analysis.errors import AnalysisError
from analysis.figures.caveats import EMULATED_NOTICE
from analysis.reading.run_index import TRACKED, is_emulated, read_index
from analysis.report.document import Block, Bullets, Heading, Image, Paragraph, Table
from analysis.report.render_html import render_html
from analysis.report.render_md import render_markdown
from analysis.trend.plots import draw_group
from analysis.trend.regressions import (
    CACHED_SHARE_MARGIN,
    FAILURE_RATE_MARGIN,
    LATENCIES,
    Breach,
    JudgedRun,
    TrendGroup,
    group_runs,
)

TREND_DIR = "trend"  # default output folder, inside RUNS_DIR
HTML_NAME, MARKDOWN_NAME, JSON_NAME = "trend.html", "trend.md", "trend.json"
HEADLINE = "ttft_p95_ms"  # the figure a line quotes when nothing regressed
RUN_COLUMNS = (
    "started (UTC)", "run", "status", "TTFT p95", "E2E p95", "TPOT p95", "failed", "cached", "baseline runs",
    "verdict",
)  # fmt: skip


@dataclass(frozen=True)
class TrendResult:
    out_dir: Path
    html: Path
    markdown: Path
    trend_json: Path
    plots: tuple[Path, ...]
    groups: tuple[TrendGroup, ...]
    summary: str  # one line per group, then the path of trend.html

    @property
    def regression(self) -> bool:
        """Whether any group's latest run regressed (what --gate turns into an exit code)."""
        return any(group.latest.regression for group in self.groups)


def build_trend(runs_dir: Path, out: Path | None, baseline_runs: int, tolerance: float) -> TrendResult:
    """Judge each group's runs against their predecessors and write the trend report."""
    index = read_index(runs_dir)
    groups = group_runs(index.runs, baseline_runs, tolerance)
    emulated = sorted({g.label for g in groups if any(is_emulated(runs_dir, j.run) for j in g.runs)})
    notice = EMULATED_NOTICE if emulated else None
    out_dir = out if out is not None else runs_dir / TREND_DIR
    lines = [group_line(group) for group in groups]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        plots = [draw_group(group, out_dir, notice) for group in groups]
        title = f"turnbench trend: {runs_dir.resolve().name}"
        content = _blocks(groups, plots, lines, baseline_runs, tolerance, index.left_out, notice, emulated)
        html_path, md_path, json_path = out_dir / HTML_NAME, out_dir / MARKDOWN_NAME, out_dir / JSON_NAME
        html_path.write_text(render_html(title, content), encoding="utf-8")
        md_path.write_text(render_markdown(title, content, out_dir), encoding="utf-8")
        summary = _json(index.path, groups, plots, baseline_runs, tolerance, notice)
        json_path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise AnalysisError(f"{out_dir}: cannot write the trend report: {exc.strerror or exc}; pass --out DIR") from exc
    text = lines + ([f"{notice} ({', '.join(emulated)})"] if notice else []) + [f"trend: {html_path}"]
    return TrendResult(out_dir, html_path, md_path, json_path, tuple(plots), groups, "\n".join(text))


def group_line(group: TrendGroup) -> str:
    """ "vllm / shared-context: 7 runs; latest ttft_p95 912 ms vs baseline 640 ms (+42%): REGRESSION"."""
    latest = group.latest
    count = f"{len(group.runs)} run{'s' if len(group.runs) != 1 else ''}"
    excluded_runs = sum(1 for j in group.runs if not j.run.counts_for_baseline)
    if excluded_runs:
        count += f" ({excluded_runs} not in baselines: interrupted, failed or saturated)"
    if latest.breaches:
        first, *others = latest.breaches
        said = describe_breach(first)
        if others:
            said += "; also " + ", ".join(_short(b.figure) for b in others)
    elif HEADLINE in latest.baseline and latest.run.figures[HEADLINE] is not None:
        value = latest.run.figures[HEADLINE]
        assert value is not None
        said = describe_breach(Breach(HEADLINE, value, latest.baseline[HEADLINE], latest.limits[HEADLINE]))
    elif not latest.baseline:
        said = "no baseline yet (no earlier complete run with a healthy load generator)"
    else:
        said = f"{_short(HEADLINE)} not measured"
    excluded = latest.run.excluded_because
    caveat = f" [latest run: {excluded}; not used in baselines]" if excluded else ""
    return f"{group.label}: {count}; latest {said}{caveat}: {'REGRESSION' if latest.regression else 'ok'}"


def describe_breach(breach: Breach) -> str:
    """One figure against its baseline, in the figure's own terms (percent for latencies, points for shares)."""
    name = _short(breach.figure)
    if breach.figure in LATENCIES:
        change = f"{100 * (breach.value / breach.baseline - 1):+.0f}%" if breach.baseline else "n/a"
        return f"{name} {_ms(breach.value)} vs baseline {_ms(breach.baseline)} ({change})"
    points = 100 * (breach.value - breach.baseline)
    return f"{name} {_pct(breach.value)} vs baseline {_pct(breach.baseline)} ({points:+.1f} pts)"


def _short(figure: str) -> str:
    return figure.removesuffix("_ms")


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f} ms" if abs(value) >= 100 else f"{value:.1f} ms"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def rule(baseline_runs: int, tolerance: float) -> str:
    return (
        f"Each run is compared with its baseline: the median of the previous {baseline_runs} runs of the same "
        f"scenario against the same target (fewer when fewer exist; none for the first). It is a regression when "
        f"TTFT, E2E or TPOT p95 exceeds the baseline by more than {100 * tolerance:g}%, when the share of failed "
        f"turns exceeds the baseline by more than {_points(FAILURE_RATE_MARGIN)}, or when the cached share of "
        f"prompt tokens falls more than {_points(CACHED_SHARE_MARGIN)} below it. Runs that did not "
        "complete, or whose load generator was saturated (timings may be inflated), are shown and judged but "
        "excluded from baselines."
    )


def _points(fraction: float) -> str:
    points = 100 * fraction
    return f"{points:g} percentage point{'' if points == 1 else 's'}"


def _blocks(
    groups: Sequence[TrendGroup],
    plots: Sequence[Path],
    lines: Sequence[str],
    baseline_runs: int,
    tolerance: float,
    left_out: int,
    notice: str | None,
    emulated: Sequence[str],
) -> list[Block]:
    out: list[Block] = []
    if notice:
        out.append(Paragraph(f"{notice} ({', '.join(emulated)}).", alert=True))
    out.append(Heading("Latest runs"))
    out.append(Bullets(tuple(lines), alert=any(g.latest.regression for g in groups)))
    out.append(Paragraph(rule(baseline_runs, tolerance)))
    if left_out:
        out.append(Paragraph(f"{left_out} row(s) of index.csv have no target or start time (runs that never "
                             "started) and are left out.", alert=True))  # fmt: skip
    for group, plot in zip(groups, plots, strict=True):
        out.append(Heading(group.label))
        out.append(Image(f"{group.label}: runs over time", plot))
        rows = tuple(_row(judged) for judged in reversed(group.runs))
        out.append(Table(f"{group.label}: every run, newest first (latencies in ms)", RUN_COLUMNS, rows, notice))
    return out


def _row(judged: JudgedRun) -> tuple[str, ...]:
    run = judged.run
    figures = run.figures
    status = run.status or "unknown"
    if run.saturated:
        status += ", saturated"
    if judged.regression:
        verdict = "REGRESSION: " + ", ".join(describe_breach(b) for b in judged.breaches)
    else:
        verdict = "ok" if judged.baseline else "no baseline"
    if run.excluded_because:
        verdict += " (not in baselines)"
    return (
        time.strftime("%Y-%m-%d %H:%M", time.gmtime(run.started_at)),
        run.run_id,
        status,
        *(_ms(figures[name]).removesuffix(" ms") for name in LATENCIES),
        _pct(figures["failure_rate"]),
        _pct(figures["cached_share"]),
        str(len(judged.baseline_run_ids)),
        verdict,
    )


def _json(
    index: Path,
    groups: Sequence[TrendGroup],
    plots: Sequence[Path],
    baseline_runs: int,
    tolerance: float,
    notice: str | None,
) -> dict[str, Any]:
    def run_dict(judged: JudgedRun) -> dict[str, Any]:
        run = judged.run
        return {
            "run_id": run.run_id,
            "run_dir": run.run_dir,
            "started_at": run.started_at,
            "status": run.status,
            "saturated": run.saturated,
            "counts_for_baseline": run.counts_for_baseline,
            "figures": {name: run.figures[name] for name in TRACKED},
            "baseline": dict(judged.baseline),
            "limits": dict(judged.limits),
            "baseline_run_ids": list(judged.baseline_run_ids),
            "regression": judged.regression,
            "breaches": [asdict(b) for b in judged.breaches],
        }

    return {
        "index": str(index),
        "rule": {
            "baseline_runs": baseline_runs,
            "latency_tolerance": tolerance,
            "failure_rate_margin": FAILURE_RATE_MARGIN,
            "cached_share_margin": CACHED_SHARE_MARGIN,
        },
        "emulated_notice": notice,
        "regression": any(g.latest.regression for g in groups),
        "groups": [
            {
                "target": g.target,
                "scenario": g.scenario,
                "runs": len(g.runs),
                "line": group_line(g),
                "plot": plot.name,
                "latest": run_dict(g.latest),
                "history": [run_dict(j) for j in g.runs],
            }
            for g, plot in zip(groups, plots, strict=True)
        ],
    }
