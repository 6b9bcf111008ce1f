"""`turnbench cost RUN_DIR... --traffic 1000/h`: the replicas and dollars a stated traffic needs, per target.

RUN_DIR may be a capacity search's level runs (one arrival rate each), a ramp's run directory, or a
folder holding only a ramp's Locust CSVs. Runs are grouped by target name; each target's levels give
its capacity per replica (analysis.figures.capacity.estimate), which gives replicas, $/hour, $/month and
$/conversation for the traffic (analysis.figures.capacity.traffic_cost). Like analysis.cli, nothing heavy is
imported at module level; bad input is one AnalysisError line.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis import formats as fmt
from analysis.cli import FIRST, add_judging_options
from analysis.errors import AnalysisError
from analysis.figures.capacity.traffic_cost import DEFAULT_HEADROOM, TRAFFIC_EXAMPLE, TrafficCost, parse_traffic
from harness.key_value import number_pairs
from harness.slo import DEFAULT_SLO, Slo, SloError

if TYPE_CHECKING:
    from analysis.figures.capacity.estimate import Capacity
    from analysis.figures.capacity.levels import LoadLevel
    from analysis.figures.prices import Price
    from analysis.reading.load import Run


def add_cost_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `cost` subcommand to an argparse subparsers object; the caller sets its `run` default."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cost",
        help="replicas, $/hour and $/month per target for a stated traffic, from run directories",
        description="Capacity per replica at the SLO, from each target's load levels (a capacity search's level "
        "runs, a ramp, or a ramp's Locust CSVs alone), then the replicas, $/hour, $/month and $/conversation "
        "the traffic needs on each target, and which needs fewer replicas and costs less per month.",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories or folders of Locust CSVs")
    parser.add_argument(
        "--traffic", required=True, metavar="RATE", help=f"conversations per hour, e.g. {TRAFFIC_EXAMPLE}"
    )
    parser.add_argument(
        "--headroom",
        type=float,
        default=DEFAULT_HEADROOM,
        metavar="SHARE",
        help=f"share of each replica's capacity kept free, e.g. 0.2 (default {DEFAULT_HEADROOM:g})",
    )
    add_judging_options(parser)
    parser.add_argument(
        "--turns",
        type=float,
        default=None,
        metavar="N",
        help="serverless: turns per conversation of the traffic (default: as measured at the capacity level)",
    )
    return parser


def run_cost(args: argparse.Namespace) -> int:
    """Print the per-target blocks and the answer; raises AnalysisError for bad input."""
    traffic = parse_traffic(args.traffic)
    for option, value, lowest in (("--headroom", args.headroom, 0.0), ("--idle-timeout", args.idle_timeout, 0.0)):
        if not (math.isfinite(value) and value >= lowest):
            raise AnalysisError(f"{option}: expected a number >= 0, got {value}")
    if args.turns is not None and not (math.isfinite(args.turns) and args.turns > 0):
        raise AnalysisError(f"--turns: expected turns per conversation above 0, got {args.turns}")
    prices = number_pairs(args.price, "--price", "vllm=7.98", AnalysisError, FIRST) if args.price else {}
    print(cost_text([Path(p) for p in args.run_dirs], traffic, prices, args.headroom, _slo(args.slo),
                    args.idle_timeout, args.turns))  # fmt: skip
    return 0


def cost_text(run_dirs: Sequence[Path], traffic_per_hour: float, prices: Mapping[str, float], headroom: float,
              slo: Slo | None, idle_timeout_s: float, turns_per_conversation: float | None = None) -> str:  # fmt: skip
    """What `turnbench cost` prints: the SLO and traffic, one block per target, then the one-line answer."""
    from analysis.figures.capacity.compared import recorded_slo
    from analysis.figures.capacity.estimate import capacity_from_runs
    from analysis.figures.capacity.levels import why_no_levels
    from analysis.figures.capacity.traffic_cost import cost_for_traffic
    from analysis.figures.caveats import EMULATED_NOTICE
    from analysis.figures.prices import resolve_price
    from analysis.reading.load import load_runs

    runs = load_runs(run_dirs)
    # Without --slo, a capacity search's runs are judged by the SLO the search used (run.json "search").
    slo = slo or recorded_slo(runs) or DEFAULT_SLO
    by_target: dict[str, list[Run]] = {}
    for run in runs:
        by_target.setdefault(run.target_name, []).append(run)
    for name, value in prices.items():
        if name not in by_target:
            raise AnalysisError(f"--price: no run has target {name!r}; the targets are {', '.join(sorted(by_target))}")
        if not value >= 0:
            raise AnalysisError(f"--price: {name}: expected USD per hour >= 0, got {value}")
    for run in runs:
        missing = why_no_levels(run)
        if missing is not None:
            raise AnalysisError(f"{run.path}: no load level to judge: {missing}")
    lines = [f"SLO: {slo.describe()}", f"traffic: {fmt.count(traffic_per_hour)} conversations/hour"
             + (f", {headroom:.0%} headroom" if headroom else "")]  # fmt: skip
    if any(run.emulated for run in runs):
        lines.append(EMULATED_NOTICE)
    costs: dict[str, TrafficCost] = {}
    for name, target_runs in by_target.items():
        price = resolve_price(target_runs[0].info, prices.get(name))
        capacity = capacity_from_runs(target_runs, slo, price, idle_timeout_s)
        if capacity is None:  # why_no_levels found nothing missing, yet no level came out
            raise AnalysisError(f"{target_runs[0].path}: no load level to judge in the measured window")
        cost = cost_for_traffic(capacity, price, traffic_per_hour, headroom, idle_timeout_s, turns_per_conversation)
        costs[name] = cost
        lines += ["", *target_block(name, len(target_runs), capacity, cost, price)]
    lines += ["", answer(costs, traffic_per_hour)]
    return "\n".join(lines)


def target_block(name: str, runs: int, capacity: Capacity, cost: TrafficCost, price: Price) -> list[str]:
    levels = capacity.levels
    held = sum(level.meets_slo for level in levels)
    lines = [f"{name} ({_plural(len(levels), 'level')} from {_plural(runs, 'run')}, {held} held the SLO)"]
    if capacity.conversations_per_hour is None:
        lines.append(f"  capacity: no level held the SLO, down to {fmt.count(levels[0].conversations_per_hour)} "
                     "conversations/hour")  # fmt: skip
    else:
        low = (
            f"held clearly up to {fmt.count(capacity.low)}" if capacity.low is not None else "held clearly at no level"
        )
        high = (
            f"first failed at {fmt.count(capacity.high)}" if math.isfinite(capacity.high) else "no level above failed"
        )
        estimate = fmt.count(capacity.estimate) if capacity.estimate is not None else fmt.MISSING
        concurrent = capacity.concurrent_conversations
        in_progress = (
            "" if concurrent is None or math.isnan(concurrent) else f", {concurrent:.1f} conversations in progress"
        )
        lines.append(f"  capacity: {fmt.count(capacity.conversations_per_hour)} conversations/hour per replica "
                     f"(estimate {estimate}; {low}, {high}){in_progress}")  # fmt: skip
    lines.append("  levels (conversations/hour, score and its interval, the deciding bound):")
    lines += [f"    {level_line(level)}" for level in levels]
    if any(level.locust_only for level in levels):
        lines.append(
            "    (from Locust's history rows: bucketed percentiles, turns that ended in the window, no interval)"
        )
    lines.append(f"  {capacity.stop_reason}; {capacity.pod_minutes:.1f} pod-minutes")
    lines.append(f"  for {fmt.count(cost.traffic_per_hour)} conversations/hour: {_replicas(cost)}")
    lines.append(f"  price: {price.describe()}")
    return lines


def level_line(level: LoadLevel) -> str:
    verdict = "held  " if level.meets_slo else "failed"
    users = f" ({level.users} users)" if level.kind == "users" else ""
    interval = "" if level.locust_only else f" ({level.score_low:.2f}-{level.score_high:.2f})"
    return (
        f"{fmt.count(level.conversations_per_hour):>9}{users:<12}  {verdict}  {level.score:.2f}{interval}  {level.why}"
    )


def answer(costs: Mapping[str, TrafficCost], traffic_per_hour: float) -> str:
    """Which target needs fewer replicas and costs less per month, in one line."""
    at = f"for {fmt.count(traffic_per_hour)} conversations/hour within the SLO"
    sized = {name: cost for name, cost in costs.items() if cost.replicas is not None}
    if not sized:
        return f"Answer: no target held the SLO at any level measured, so none can be sized {at}; measure lower loads."
    if len(sized) == 1:
        name, cost = next(iter(sized.items()))
        alone = "" if len(costs) == 1 else f" ({', '.join(n for n in costs if n not in sized)} held it at no level)"
        replicas = _plural(int(cost.replicas or 0), "replica")
        return f"Answer: {name} needs {replicas} and {fmt.usd(cost.usd_per_month)}/month {at}{alone}."
    counts = {name: int(cost.replicas or 0) for name, cost in sized.items()}
    fewest = _best(counts)
    if len(fewest) == len(sized):
        first = f"{_and(list(sized))} need the same replicas ({next(iter(counts.values()))})"
    else:
        first = f"{_and(fewest)} need{'s' if len(fewest) == 1 else ''} fewer replicas ({_versus(counts, fewest, str)})"
    monthly = {name: cost.usd_per_month for name, cost in sized.items()}
    if any(math.isnan(value) for value in monthly.values()):
        return f"Answer: {first} {at}; the monthly cost is not known for every target."
    cheapest = _best(monthly)
    if len(cheapest) == len(sized):
        return f"Answer: {first} and cost the same per month ({fmt.usd(next(iter(monthly.values())))}) {at}."
    second = f"costs less per month ({_versus(monthly, cheapest, fmt.usd)})"
    if cheapest == fewest and len(fewest) == 1:
        return f"Answer: {first} and {second} {at}."
    return f"Answer: {first}, and {_and(cheapest)} {second} {at}."


def _replicas(cost: TrafficCost) -> str:
    if cost.replicas is None:
        return "no replica count, since no level held the SLO"
    if cost.billing == "serverless":
        share = "each alive a share unknown" if math.isnan(cost.busy_share) else f"each alive {cost.busy_share:.0%}"
        what = f"{_plural(cost.replicas, 'serverless worker')} ({share} of the time)"
    else:
        what = f"{_plural(cost.replicas, 'pod')}"
    return (f"{what}, {fmt.usd(cost.usd_per_hour)}/hour, {fmt.usd(cost.usd_per_month)}/month, "
            f"{fmt.usd(cost.usd_per_conversation)}/conversation")  # fmt: skip


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _best(values: Mapping[str, float]) -> list[str]:
    lowest = min(values.values())
    return [name for name, value in values.items() if value <= lowest * (1 + 1e-9)]


def _versus(values: Mapping[str, Any], best: Sequence[str], show: Any) -> str:
    others = [show(value) for name, value in values.items() if name not in best]
    return f"{show(values[best[0]])} vs {', '.join(others)}"


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _slo(items: list[str] | None) -> Slo | None:
    if not items:
        return None
    try:
        slo = Slo.parse(items, hint=FIRST)
    except SloError as exc:
        raise AnalysisError(str(exc)) from exc
    if not slo.bounds:
        raise AnalysisError("--slo: give at least one bound, e.g. ttft_p95_ms=2000")
    return slo
