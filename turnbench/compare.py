"""`turnbench compare`: which target serves the stated traffic within the SLO with fewer replicas.

This is the main job. By default it searches each target's capacity: conversations arrive at a
rate (open loop), and the rate is bracketed, then bisected, until the highest rate that held the
SLO is known to +-10%. The targets' levels run side by side (or one at a time, alternating who
goes first), each after the target's prefix cache was flushed (turnbench.cache_flush), so neither is
measured warm from the other's traffic or from a different moment; a level whose flush did not
happen (or every level, with --salt) begins its prompts with a run-unique salt instead
(harness.scenario.salt), so it starts cold all the same. With `--rate` or `-u` it is a fixed-load
comparison instead: each target runs `--repeats` times in A B B A order. With no targets file it
starts both emulated engines locally, so a new user sees the whole answer without a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.targets import Target, TargetsError, load_targets
from harness.slo import DEFAULT_SLO, Slo, SloError
from turnbench.cache_flush import CacheFlush, flush_cache
from turnbench.level_run import LevelError, LevelRun, LevelSettings, Load, run_level, stop_all
from turnbench.search import CapacitySearch, SearchSettings

DEMO_PROFILE = "h100x2-70b"
DEFAULT_TRAFFIC = "1000/h"  # the question turnbench is built around: 1,000 conversations an hour
# The first level offers about this many conversations at once. Failing levels are cheap (the watcher
# stops them early) and each doubling above the start costs a whole level, so it starts high-ish.
START_CONCURRENCY = 48.0
STREAM_TPS = 30.0  # a guess at one stream's decode speed, only to size the first level and the warm-up
LEVEL_OVERHEAD_S = 10.0  # start-up and drain of a level, for the budget


class CompareError(Exception):
    pass


def add_compare_parser(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare",
        help="find each target's capacity within the SLO, then say which serves a traffic with fewer replicas",
        description="The main job. Per target: the highest rate of arriving conversations that holds the SLO "
        "(a capacity search), then replicas, $/hour and $/month for --traffic. With --rate or -u: a fixed-load "
        "comparison, each target --repeats times in A B B A order. With no --targets it starts both emulated "
        "engines locally.",
    )
    compare.add_argument("--targets", default="", help="targets.toml (default: two local emulated engines)")
    compare.add_argument("--scenario", default="shared-context")
    compare.add_argument("--think-time-scale", type=float, default=0.5)
    compare.add_argument("--out", default="runs", help="where run directories and the report go")
    compare.add_argument("--profile", default=DEMO_PROFILE, help="emulator profile when no --targets is given")
    compare.add_argument("--slo", nargs="+", default=None, metavar="KEY=VALUE",
                         help=f"the objective (default: {DEFAULT_SLO.describe()})")  # fmt: skip
    compare.add_argument("--traffic", default=DEFAULT_TRAFFIC, help="conversations per hour to size and price for")
    compare.add_argument("--headroom", type=float, default=0.0, help="capacity share kept free, e.g. 0.2")
    compare.add_argument("--idle-timeout", type=float, default=5.0, help="serverless: seconds billed after a request")
    compare.add_argument("--processes", default="", help="passed to each `turnbench run` (a number or auto)")
    compare.add_argument("--warmup", default="auto", help="unjudged start of each level (default: one conversation)")
    compare.add_argument("--one-at-a-time", action="store_true",
                         help="one level at a time (default: side by side, each on its own server)")  # fmt: skip
    compare.add_argument("--salt", action="store_true",
                         help="salt every run's prompts (Locust's --cache-salt auto), flushed or not (default: "
                              "only runs whose cache flush did not happen)")  # fmt: skip
    search = compare.add_argument_group("capacity search (the default)")
    search.add_argument("--start-rate", default="auto", help="conversations/hour of the first level")
    search.add_argument("--resolution", type=float, default=0.10, help="stop within this share (default 0.10)")
    search.add_argument("--level-time", default="60s", help="measured window of each level, after its warm-up")
    search.add_argument("--budget", default="60m", help="stop searching after this long")
    search.add_argument("--max-levels", type=int, default=12)
    fixed = compare.add_argument_group("fixed load (instead of a search)")
    fixed.add_argument("--rate", default="", help="conversations arriving per hour, e.g. 1200/h")
    fixed.add_argument("-u", "--users", type=int, default=0, help="closed-loop users instead of arrivals")
    fixed.add_argument("-t", "--run-time", default="60s", help="measured time of each run")
    fixed.add_argument("--repeats", type=int, default=2, help="runs per target, interleaved A B B A")
    compare.add_argument("locust_args", nargs="*", metavar="-- LOCUST_OPTION",
                         help="after --: passed to every run's Locust, e.g. -- --max-tokens 64")  # fmt: skip


@dataclass(frozen=True)
class Shape:
    """A scenario's mean conversation: the first level, the warm-up and the lines are sized from it."""

    turns: float
    seconds: float  # think times plus answers streamed at STREAM_TPS, at light load
    slowest_s: float  # the longest a conversation can take with every turn at the SLO's bounds


def conversation_shape(scenario: str, think_time_scale: float, max_tokens: int, slo: Slo) -> Shape:
    from harness.run.command import RunError, validate_scenario
    from harness.run.line_sizing import size_lines

    try:
        loaded = validate_scenario(scenario, "")
    except RunError as exc:
        raise CompareError(str(exc)) from exc
    sizing = size_lines(loaded, 1.0, think_time_scale, STREAM_TPS, max_tokens)
    answer_s = sizing.mean_output_tokens / STREAM_TPS
    slowest_answer_s = min(
        slo.e2e_ms / 1000.0,
        (slo.ttft_ms if slo.ttft_p95_ms else 0.0) / 1000.0
        + sizing.mean_output_tokens * (slo.tpot_ms / 1000.0 if slo.tpot_p95_ms else 1.0 / STREAM_TPS),
    )
    slowest_s = sizing.mean_turns * (sizing.mean_think_s + max(answer_s, slowest_answer_s))
    return Shape(sizing.mean_turns, sizing.conversation_s, slowest_s)


def flush(target: Target) -> bool | None:
    """Ask the engine to drop its prefix cache (turnbench.cache_flush): True when it did, None when it has no
    such endpoint, False otherwise."""
    done = flush_cache(target)
    return None if done.result == "unsupported" else done.flushed


@contextlib.contextmanager
def local_emulators(profile: str) -> Iterator[list[Target]]:
    """Both emulated engines, priced as the 2x H100 pod they emulate: the same billing (from deploy.pricing's
    dated table) as `deploy up --local` writes, so the demo's dollars match a local targets file's."""
    from deploy.emulator.process import running_emulator
    from deploy.local import EMULATOR_BILLING
    from deploy.pricing import H100_SXM

    with running_emulator("vllm", "--profile", profile) as vllm, running_emulator("sglang", "--profile", profile) as sg:
        yield [
            Target(f"{engine}-emulated", engine, url, "emulated", billing=dict(EMULATOR_BILLING), gpu_type=H100_SXM,
                   gpu_count=2)
            for engine, url in (("vllm", vllm), ("sglang", sg))
        ]  # fmt: skip


def compare(args: argparse.Namespace) -> int:
    slo = _parse_slo(args.slo)
    traffic = _rate(args.traffic)  # before a search that may take an hour, not after it
    shape = conversation_shape(args.scenario, args.think_time_scale, _max_tokens(args.locust_args), slo)
    settings = _settings(args, slo, shape)
    folder = Path(args.out) / time.strftime("%Y%m%dT%H%M%SZ-compare", time.gmtime())
    if args.targets:
        try:
            targets = load_targets(Path(args.targets))
        except TargetsError as exc:
            raise CompareError(str(exc)) from exc
        return _compare(targets, args, slo, traffic, settings, shape, folder)
    with local_emulators(args.profile) as targets:
        return _compare(targets, args, slo, traffic, settings, shape, folder)


def _compare(targets: list[Target], args: argparse.Namespace, slo: Slo, traffic: float, settings: LevelSettings,
             shape: Shape, folder: Path) -> int:  # fmt: skip
    if len({t.name for t in targets}) != len(targets):
        raise CompareError("targets need different names")
    if args.rate or args.users:
        runs = _fixed(targets, args, settings, folder)
    else:
        runs = _search(targets, args, settings, shape, folder)
    from analysis.errors import AnalysisError
    from analysis.report.build import build_report

    try:
        result = build_report([r.run_dir for r in runs], folder / "report", slo, None, args.idle_timeout,
                              traffic_per_hour=traffic, headroom=args.headroom)  # fmt: skip
    except AnalysisError as exc:
        raise CompareError(str(exc)) from exc
    print(result.summary)
    return 0


def _settings(args: argparse.Namespace, slo: Slo, shape: Shape) -> LevelSettings:
    from harness.run.command import parse_timespan

    try:
        window = float(parse_timespan(args.run_time if (args.rate or args.users) else args.level_time))
        warmup = min(120.0, max(10.0, shape.seconds)) if args.warmup == "auto" else float(parse_timespan(args.warmup))
    except ValueError as exc:
        raise CompareError(f"{exc}: use a duration like 60s or 5m") from exc
    e2e_bound_s = slo.e2e_ms / 1000.0 if slo.e2e_p95_ms else 60.0
    return LevelSettings(
        scenario=args.scenario,
        think_time_scale=args.think_time_scale,
        warmup_s=warmup,
        window_s=window,
        slo=slo,
        turns_per_conversation=shape.turns,
        slowest_conversation_s=shape.slowest_s,
        stop_timeout_s=min(120.0, max(30.0, 2 * e2e_bound_s)),
        processes=str(args.processes or ""),
        locust_args=tuple(args.locust_args),
    )


def _max_tokens(locust_args: Sequence[str]) -> int:
    """Locust's --max-tokens among the arguments passed through, as `turnbench run` reads it (0: the scenario's)."""
    from harness.run.command import locust_value

    value = locust_value(locust_args, "--max-tokens") or "0"
    return int(value) if value.isdigit() else 0


def _search(targets: list[Target], args: argparse.Namespace, settings: LevelSettings, shape: Shape,
            folder: Path) -> list[LevelRun]:  # fmt: skip
    """Search every target's capacity, a level of each per round, until each is done or the budget is spent."""
    from harness.run.command import parse_timespan

    start = START_CONCURRENCY * 3600.0 / shape.seconds if args.start_rate == "auto" else _rate(args.start_rate)
    searches = {t.name: CapacitySearch(SearchSettings(start, args.resolution, max_levels=args.max_levels))
                for t in targets}  # fmt: skip
    budget_end = time.monotonic() + parse_timespan(args.budget)
    runs: dict[str, list[LevelRun]] = {t.name: [] for t in targets}
    search_id = folder.name
    rounds = 0
    while True:
        due = [(t, searches[t.name].next_rate()) for t in targets]
        due = [(t, rate) for t, rate in due if rate is not None]
        if not due:
            break
        level_s = settings.warmup_s + max(Load(rate).window_s(settings) for _, rate in due) + LEVEL_OVERHEAD_S
        if time.monotonic() + level_s > budget_end:
            for target, _ in due:
                searches[target.name].stop(f"time budget ({args.budget}) reached")
            break
        order = due if rounds % 2 == 0 else due[::-1]
        done = _run_round([(t, Load(conversations_per_hour=r)) for t, r in order], args, settings, folder)
        for target, level in done:
            held, why = _judge(level, settings.slo, args.idle_timeout)
            searches[target.name].record(level.load.conversations_per_hour or 0.0, held)
            runs[target.name].append(level)
            _record_search(level, search_id, len(runs[target.name]) - 1, held, why, settings.slo)
            print(f"turnbench compare: {target.name}: {level.load.describe()}: {'held' if held else 'failed'} "
                  f"({why}; {level.pod_seconds / 60:.1f} pod-minutes)", flush=True)  # fmt: skip
        rounds += 1
    for target in targets:
        search = searches[target.name]
        print(f"turnbench compare: {target.name}: search done: {search.stop_reason}", flush=True)
        for level in runs[target.name]:
            _update_run_json(level.run_dir, lambda info, s=search: info["search"].update(stop_reason=s.stop_reason))
    return [level for target in targets for level in runs[target.name]]


def _fixed(targets: list[Target], args: argparse.Namespace, settings: LevelSettings, folder: Path) -> list[LevelRun]:
    """Each target `--repeats` times, in A B B A order: drift during the comparison hits both alike."""
    if args.repeats < 1:
        raise CompareError(f"--repeats {args.repeats}: expected at least 1")
    load = Load(conversations_per_hour=_rate(args.rate)) if args.rate else Load(users=args.users)
    runs: list[LevelRun] = []
    for repeat in range(args.repeats):
        for target in targets if repeat % 2 == 0 else targets[::-1]:
            for _, level in _run_round([(target, load)], args, settings, folder):
                # The compare's id in run.json is what makes the analysis read a target's repeats as one target.
                held, why = _judge(level, settings.slo, args.idle_timeout)
                _record_search(level, folder.name, repeat, held, why, settings.slo,
                               f"fixed load: {args.repeats} runs per target, no search")  # fmt: skip
                runs.append(level)
    return runs


def _run_round(levels: list[tuple[Target, Load]], args: argparse.Namespace, settings: LevelSettings,
               folder: Path) -> list[tuple[Target, LevelRun]]:  # fmt: skip
    def one(target: Target, load: Load) -> tuple[Target, LevelRun]:
        began = time.time()
        cache = flush_cache(target)
        salt = _salt(args, settings, cache)
        out = folder / target.name
        rate = f"{load.conversations_per_hour:.0f}ph" if load.conversations_per_hour is not None else f"{load.users}u"
        log_path = folder / f"{target.name}-{rate}-{int(began)}.locust.log"
        seconds = f"{settings.warmup_s:g}s + {load.window_s(settings):.0f}s"
        how = "" if cache.flushed and cache.attempts == 1 else f"flush {cache.describe()}; "
        how += "prompts salted; " if salt else ""
        print(f"turnbench compare: {target.name}: cache flushed: {cache.flushed}; {how}{load.describe()} for "
              f"{seconds} (Locust's output: {log_path})", flush=True)  # fmt: skip
        try:
            level = run_level(target, load, settings, out, cache.flushed, began, log_path, salt)
        except LevelError as exc:
            raise CompareError(str(exc)) from exc
        _record_target(level.run_dir, target, cache)
        return target, level

    folder.mkdir(parents=True, exist_ok=True)
    if args.one_at_a_time or len(levels) == 1:
        return [one(t, load) for t, load in levels]
    with ThreadPoolExecutor(len(levels)) as pool:
        futures = [pool.submit(one, t, load) for t, load in levels]
        try:
            return [future.result() for future in futures]
        except BaseException:  # Ctrl-C or a failed level: the other target's level must not run on unwatched
            stop_all()
            raise


def _salt(args: argparse.Namespace, settings: LevelSettings, cache: CacheFlush) -> str:
    """The level's --cache-salt: auto when its flush did not happen (or with --salt); none when the user passed
    their own after --, which every level then gets as it is."""
    from harness.run.command import locust_value

    if locust_value(settings.locust_args, "--cache-salt") is not None:
        return ""
    return "auto" if args.salt or not cache.flushed else ""


def _judge(level: LevelRun, slo: Slo, idle_timeout_s: float) -> tuple[bool, str]:
    """Did the level hold the SLO, and the one reason why (or why not)."""
    if level.stopped_early:
        return False, level.stopped_early
    from analysis.errors import AnalysisError
    from analysis.figures.capacity.levels import level_of_run
    from analysis.figures.prices import resolve_price
    from analysis.reading.load import load_runs

    try:
        run = load_runs([level.run_dir])[0]
        judged = level_of_run(run, slo, resolve_price(run.info, None), idle_timeout_s)
    except AnalysisError as exc:
        return False, f"not measured: {exc}"
    if judged is None:
        return False, "not measured: the run has no arrival-rate level"
    return judged.meets_slo, judged.why


def _record_target(run_dir: Path, target: Target, cache: CacheFlush) -> None:
    """Add what only the targets file knows (billing, GPUs, launch flags) and the flush to run.json."""

    def add(info: dict[str, Any]) -> None:
        info["cache_flushed"] = cache.flushed
        info["cache_flush"] = cache.record()
        info["target"].update(gpu_type=target.gpu_type, gpu_count=target.gpu_count, launch=target.launch)
        if target.billing:
            info["target"]["billing"] = target.billing

    _update_run_json(run_dir, add)


def _record_search(level: LevelRun, search_id: str, index: int, held: bool, why: str, slo: Slo,
                   stop_reason: str = "") -> None:  # fmt: skip
    """What the search knew of this level: re-reading its runs (`turnbench cost`, `report`) judges them alike."""
    record = {"id": search_id, "index": index, "held": held, "why": why, "pod_seconds": round(level.pod_seconds, 1),
              "stopped_early": level.stopped_early or None, "stop_reason": stop_reason,
              "slo": slo.as_dict()}  # fmt: skip
    _update_run_json(level.run_dir, lambda info: info.__setitem__("search", record))


def _update_run_json(run_dir: Path, change: Any) -> None:
    path = run_dir / "run.json"
    info = json.loads(path.read_text())
    change(info)
    path.write_text(json.dumps(info, indent=2) + "\n")


def _rate(text: str) -> float:
    from analysis.errors import AnalysisError
    from analysis.figures.capacity.traffic_cost import parse_traffic

    try:
        return parse_traffic(text)
    except AnalysisError as exc:
        raise CompareError(str(exc)) from exc


def _parse_slo(items: list[str] | None) -> Slo:
    if not items:
        return DEFAULT_SLO
    try:
        return Slo.parse(items)
    except SloError as exc:
        raise CompareError(str(exc)) from exc
