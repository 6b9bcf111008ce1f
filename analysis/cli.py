"""`turnbench report RUN_DIR...`: the analysis stage's command line.

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

DEFAULT_IDLE_TIMEOUT_S = 5.0  # = analysis.cost.DEFAULT_IDLE_TIMEOUT_S, repeated to keep this import light


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `report` subcommand to an argparse subparsers object; the caller sets its `run` default."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="turn run directories into report.html, report.md, summary.json and charts",
        description="Per-turn latency, cache hits, engine vs engine with confidence intervals, and cost per "
        "conversation, from one or more run directories (or folders of Locust --csv files). "
        "The first run is the baseline the others are compared with.",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by turnbench")
    parser.add_argument("--out", default=None, help="where to write the report (default: the run directory, or "
                        "a report-<runs> folder next to the first run when there are several)")  # fmt: skip
    parser.add_argument(
        "--slo",
        nargs="+",
        action="extend",
        default=None,
        metavar="KEY=MS",
        help="service-level objective, e.g. ttft_p95_ms=2000 e2e_p95_ms=30000 (default: those two)",
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
    parser.add_argument("--baseline", default=None, metavar="TARGET", help="compare the others with this target")
    return parser


def run_report(args: argparse.Namespace) -> int:
    """Build the report and print the terminal summary. Raises AnalysisError for bad input."""
    from analysis.report import build_report, default_out_dir

    run_dirs = [Path(p) for p in args.run_dirs]
    out = Path(args.out) if args.out else default_out_dir(run_dirs)
    result = build_report(
        run_dirs,
        out,
        slo=parse_pairs("--slo", args.slo, "ttft_p95_ms=2000") if args.slo else None,
        prices=parse_pairs("--price", args.price, "vllm=7.98") if args.price else None,
        idle_timeout_s=args.idle_timeout,
        baseline=args.baseline,
    )
    print(result.summary)
    return 0


def parse_pairs(option: str, items: list[str], example: str) -> dict[str, float]:
    """KEY=NUMBER items into a dict; anything else is a one-line AnalysisError."""
    pairs: dict[str, float] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise AnalysisError(
                f"{option}: expected KEY=NUMBER like {example}, got {item!r} (run directories go first)"
            )
        try:
            value = float(text)
        except ValueError:
            raise AnalysisError(f"{option}: {key}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise AnalysisError(f"{option}: {key}: {text!r} is not a finite number")
        pairs[key] = value
    return pairs
