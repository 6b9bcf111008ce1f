"""`turnbench report RUN_DIR...` and `turnbench report --trend RUNS_DIR`: the analysis stage's command line.

Imports nothing heavy at module level, so `turnbench --help` stays instant: pandas, numpy and
matplotlib load only when a report is actually built. Bad input raises `AnalysisError` (one line),
which the turnbench CLI prints as "turnbench report: <message>" with exit status 2.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from analysis.errors import AnalysisError
from analysis.trend.regressions import DEFAULT_BASELINE_RUNS, DEFAULT_TOLERANCE
from harness.key_value import number_pairs
from harness.slo import Slo, SloError

DEFAULT_IDLE_TIMEOUT_S = 5.0  # = analysis.figures.cost.DEFAULT_IDLE_TIMEOUT_S, repeated to keep this import light
# --trend --gate: 1 is taken by `turnbench run` (the run failed) and 2 by a user mistake, so a
# scheduler can tell "slower than usual" from both.
REGRESSION_EXIT_CODE = 3
FIRST = " (run directories go first)"  # what a KEY=VALUE mistake after RUN_DIR... usually is


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `report` subcommand to an argparse subparsers object; the caller sets its `run` default."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="turn run directories into report.html, report.md, summary.json and charts",
        description="Per-turn latency, cache hits, engine vs engine with confidence intervals, and cost per "
        "conversation, from one or more run directories (or folders of Locust --csv files). "
        "The first run is the baseline the others are compared with. With --trend RUNS_DIR instead: every "
        "run in RUNS_DIR/index.csv over time, each scenario and target against its own recent baseline.",
    )
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="run directories written by turnbench")
    parser.add_argument("--out", default=None, help="where to write the report (default: the run directory, or "
                        "a report-<runs> folder next to the first run when there are several; "
                        "with --trend: RUNS_DIR/trend)")  # fmt: skip
    add_judging_options(parser)
    parser.add_argument("--baseline", default=None, metavar="TARGET", help="compare the others with this target")
    parser.add_argument("--traffic", default=None, metavar="RATE",
                        help="conversations per hour to size replicas and price for, e.g. 1000/h")  # fmt: skip
    parser.add_argument("--headroom", type=float, default=0.0, metavar="SHARE",
                        help="share of each replica's capacity kept free when sizing for --traffic")  # fmt: skip
    parser.add_argument("--allow-different-workloads", action="store_true",
                        help="compare runs of different scenarios, seeds, loads or limits (pages warn)")  # fmt: skip
    trend = parser.add_argument_group("trend across runs (instead of RUN_DIR...)")
    trend.add_argument(
        "--trend",
        default=None,
        metavar="RUNS_DIR",
        help="chart every run in RUNS_DIR/index.csv and flag the latest when it regressed",
    )
    trend.add_argument(
        "--baseline-runs",
        type=int,
        default=None,
        metavar="N",
        help=f"baseline: the median of the previous N runs (default {DEFAULT_BASELINE_RUNS})",
    )
    trend.add_argument(
        "--tolerance",
        type=float,
        default=None,
        metavar="FRACTION",
        help=f"latency may exceed its baseline by this share (default {DEFAULT_TOLERANCE:g})",
    )
    trend.add_argument(
        "--gate",
        action="store_true",
        help=f"exit {REGRESSION_EXIT_CODE} when the latest run of any scenario and target regressed",
    )
    return parser


def add_judging_options(parser: argparse.ArgumentParser) -> None:
    """--slo, --price and --idle-timeout: how runs are judged and priced, alike in `report` and `cost`."""
    parser.add_argument(
        "--slo",
        nargs="+",
        action="extend",
        default=None,
        metavar="KEY=VALUE",
        help="service-level objective, e.g. ttft_p95_ms=2000 e2e_p95_ms=30000 failure_rate=0.01 (default: the one "
        "a capacity search recorded in run.json, else an interactive chat's)",
    )
    parser.add_argument(
        "--price",
        nargs="+",
        action="extend",
        default=None,
        metavar="TARGET=USD_PER_HOUR",
        help="override a target's price: USD per pod-hour for a pod, per GPU-hour for serverless",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT_S,
        metavar="S",
        help=f"serverless: seconds a worker stays billed after its last request (default {DEFAULT_IDLE_TIMEOUT_S:g})",
    )


def run_report(args: argparse.Namespace) -> int:
    """Build the report (or the trend), print the terminal summary, return the exit code.

    Raises AnalysisError for bad input.
    """
    trend = getattr(args, "trend", None)
    if trend is not None and args.run_dirs:
        raise AnalysisError("give either RUN_DIR... or --trend RUNS_DIR, not both (--trend reads RUNS_DIR/index.csv)")
    if trend is None and not args.run_dirs:
        raise AnalysisError(
            "give RUN_DIR... to report on runs (before --slo and --price), or --trend RUNS_DIR for their trend"
        )
    if trend is not None:
        return run_trend(args)
    for option in ("--gate", "--baseline-runs", "--tolerance"):
        if getattr(args, option[2:].replace("-", "_"), None) not in (None, False):
            raise AnalysisError(f"{option} works with --trend RUNS_DIR only")
    from analysis.figures.capacity.traffic_cost import parse_traffic
    from analysis.report.build import build_report, default_out_dir

    run_dirs = [Path(p) for p in args.run_dirs]
    out = Path(args.out) if args.out else default_out_dir(run_dirs)
    result = build_report(
        run_dirs,
        out,
        slo=_slo(args.slo) if args.slo else None,
        prices=number_pairs(args.price, "--price", "vllm=7.98", AnalysisError, FIRST) if args.price else None,
        idle_timeout_s=args.idle_timeout,
        baseline=args.baseline,
        traffic_per_hour=parse_traffic(args.traffic) if args.traffic else None,
        headroom=args.headroom,
        allow_different_workloads=args.allow_different_workloads,
    )
    print(result.summary)
    return 0


def run_trend(args: argparse.Namespace) -> int:
    """`--trend RUNS_DIR`: one line per (target, scenario), the path; REGRESSION_EXIT_CODE under --gate."""
    for option, given in (("--slo", args.slo), ("--price", args.price), ("--baseline", args.baseline),
                          ("--idle-timeout", args.idle_timeout != DEFAULT_IDLE_TIMEOUT_S)):  # fmt: skip
        if given:
            raise AnalysisError(f"{option} applies to reports on RUN_DIR..., not to --trend")
    baseline_runs = DEFAULT_BASELINE_RUNS if args.baseline_runs is None else args.baseline_runs
    if baseline_runs < 1:
        raise AnalysisError(f"--baseline-runs: expected a count >= 1, got {baseline_runs}")
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    if not math.isfinite(tolerance) or tolerance < 0:
        raise AnalysisError(f"--tolerance: expected a fraction >= 0 like 0.10, got {tolerance}")
    from analysis.trend.build import build_trend

    result = build_trend(Path(args.trend), Path(args.out) if args.out else None, baseline_runs, tolerance)
    print(result.summary)
    return REGRESSION_EXIT_CODE if args.gate and result.regression else 0


def _slo(items: list[str]) -> Slo:
    try:
        return Slo.parse(items, hint=FIRST)
    except SloError as exc:
        raise AnalysisError(str(exc)) from exc
