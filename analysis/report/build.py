"""build_report: run directories in, report.html + report.md + summary.json + PNG charts out.

This is the analysis stage's entry point for the CLI (`turnbench report`, `turnbench compare`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import AnalysisError
from analysis.figures.cost import DEFAULT_IDLE_TIMEOUT_S
from analysis.figures.findings import Findings, find
from analysis.report import sections
from analysis.report.plots import draw_all
from analysis.report.render_html import render_html
from analysis.report.render_md import render_markdown
from analysis.report.summary import summary_dict, terminal_text
from harness.slo import Slo

HTML_NAME, MARKDOWN_NAME, SUMMARY_NAME = "report.html", "report.md", "summary.json"


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    html: Path
    markdown: Path
    summary_json: Path
    plots: tuple[Path, ...]  # the charts drawn (skipped ones are explained in the report)
    summary: str  # the terminal summary, ending with the report's path


def build_report(
    run_dirs: Sequence[Path],
    out: Path,
    slo: Slo | Mapping[str, float] | None,
    prices: Mapping[str, float] | None,
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    baseline: str | None = None,
    traffic_per_hour: float | None = None,
    headroom: float = 0.0,
    allow_different_workloads: bool = False,
) -> ReportResult:
    """Analyse the runs (the first, or `baseline`, is what the others are compared with) and write the report."""
    findings = find([Path(p) for p in run_dirs], slo, prices, idle_timeout_s, baseline, traffic_per_hour, headroom,
                    allow_different_workloads)  # fmt: skip
    return write_report(findings, out)


def write_report(findings: Findings, out: Path) -> ReportResult:
    """The report of findings already made (`build_report`'s second half; the capacity search calls it too)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        plots = draw_all(findings, out)
        title = sections.title(findings)
        content = sections.blocks(findings, plots)
        html_path, md_path, json_path = out / HTML_NAME, out / MARKDOWN_NAME, out / SUMMARY_NAME
        html_path.write_text(render_html(title, content), encoding="utf-8")
        md_path.write_text(render_markdown(title, content, out), encoding="utf-8")
        summary = summary_dict(findings, plots, out)
        json_path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise AnalysisError(f"{out}: cannot write the report: {exc.strerror or exc}; pass --out DIR") from exc
    return ReportResult(
        out_dir=out,
        html=html_path,
        markdown=md_path,
        summary_json=json_path,
        plots=tuple(p.path for p in plots if p.path is not None),
        summary=terminal_text(findings, html_path),
    )


def default_out_dir(run_dirs: Sequence[Path]) -> Path:
    """One run: its own directory (the harness layout). Several: a sibling folder named after them."""
    if len(run_dirs) == 1:
        return Path(run_dirs[0])
    first = Path(run_dirs[0])
    return first.parent / ("report-" + "-vs-".join(Path(p).name for p in run_dirs))[:200]
