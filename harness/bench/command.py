"""`turnbench bench`: what the load generator costs and how true its timings are, against ground truth.

A load tester that saturates its own CPU reports its own delay as the engine's latency, so the
client is measured the way an engine would be: against a server (`harness.bench.groundtruth`, its own
process) that logs when it really wrote every token. This process runs only the clients, so its
CPU time is theirs. Loads:

    paced   N streams at once, 200 ms TTFT, 20 ms between tokens, 64 tokens (N = 1, 64, 256)
    burst   64 streams x 256 tokens, no delays: the per-token cost alone

Figures per client and load: client CPU per 1,000 streamed tokens, tokens/s, and the error of
TTFT and ITL (client minus server, same monotonic clock) at p50 and p99. ITL errors compare each
stream's own ITL p50 (and p99) with the server's for that stream. Connections are opened in a
warm-up round first: the server cannot see connect time. Each figure is the median of --runs runs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import locust  # noqa: F401  (monkey-patches with gevent before any socket is made)
from gevent.pool import Group
from locust.env import Environment
from locust.event import Events

from harness.bench.groundtruth.process import GroundTruth, running_groundtruth
from harness.bench.streamers import STREAMERS, BenchError, BenchUser, Sample
from harness.client.measurement import percentile
from harness.client.request import ChatRequest, user_message

__all__ = ["BenchError", "run"]

ACCURACY_BUDGET_CORES = 0.5  # above about half a core, a gevent loop starts to lag (notes/locust.md 1.5)


@dataclass(frozen=True)
class Load:
    kind: str  # "paced" | "burst"
    streams: int
    tokens: int
    ttft_ms: float
    itl_ms: float
    rounds: int

    @property
    def name(self) -> str:
        return f"{self.kind} {self.streams}"


@dataclass(frozen=True)
class Figures:
    client: str
    load: str
    turns: int
    tokens: int
    cpu_ms_per_1k_tokens: float
    tokens_per_s: float
    ttft_err_p50_ms: float | None
    ttft_err_p99_ms: float | None
    itl_err_p50_ms: float | None
    itl_err_p99_ms: float | None


def loads(rounds: int, quick: bool) -> list[Load]:
    if quick:
        return [Load("paced", 1, 16, 200, 20, 2), Load("paced", 16, 16, 200, 20, 1), Load("burst", 16, 64, 0, 0, 1)]
    return [
        Load("paced", 1, 64, 200, 20, max(rounds, 5)),
        Load("paced", 64, 64, 200, 20, rounds),
        Load("paced", 256, 64, 200, 20, rounds),
        Load("burst", 64, 256, 0, 0, rounds),
    ]


def request_for(load: Load) -> ChatRequest:
    return ChatRequest(
        "groundtruth",
        [user_message("Summarise the refund policy in two sentences.")],
        load.tokens,
        extra_body={"groundtruth": {"ttft_ms": load.ttft_ms, "itl_ms": load.itl_ms}},
    )


def measure(server: GroundTruth, load: Load, user_class: type[BenchUser]) -> Figures:
    """One client under one load: `load.streams` Locust users, each with its own connection."""
    user_class = type(user_class.__name__, (user_class,), {"host": server.url})
    environment = Environment(user_classes=[user_class], events=Events(), host=server.url)
    environment.create_local_runner()  # Locust's stats listeners, as in a real run
    users = [user_class(environment) for _ in range(load.streams)]
    request = request_for(load)
    group = Group()
    group.map(lambda user: user.stream(request), users)  # warm-up: open the connections
    server.log()
    samples: list[Sample] = []
    cpu0, wall0 = time.process_time(), time.monotonic()
    for _ in range(load.rounds):
        samples += group.map(lambda user: user.stream(request), users)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    truth = server.log()
    if environment.runner is not None:
        environment.runner.quit()
    tokens = sum(s.tokens for s in samples)
    if not tokens:
        raise BenchError("no tokens were streamed")
    figures: dict[str, float | None] = {
        "ttft_err_p50_ms": None, "ttft_err_p99_ms": None, "itl_err_p50_ms": None, "itl_err_p99_ms": None,
    }  # fmt: skip
    if load.kind == "paced":
        figures.update(_errors(samples, truth))
    return Figures(
        user_class.label,
        load.name,
        len(samples),
        tokens,
        cpu * 1e6 / tokens,
        tokens / wall,
        **figures,
    )


def _errors(samples: list[Sample], truth: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    ttft, itl50, itl99 = [], [], []
    for s in samples:
        record = truth[s.response_id]
        times = record["token_times"]
        ttft.append(s.ttft_ms - (times[0] - record["received"]) * 1000)
        gaps = sorted(b - a for a, b in itertools.pairwise(times))
        if gaps and s.itl_p50_ms is not None and s.itl_p99_ms is not None:
            itl50.append(s.itl_p50_ms - percentile(gaps, 0.5) * 1000)
            itl99.append(s.itl_p99_ms - percentile(gaps, 0.99) * 1000)
    ttft.sort(), itl50.sort(), itl99.sort()
    return {
        "ttft_err_p50_ms": percentile(ttft, 0.5),
        "ttft_err_p99_ms": percentile(ttft, 0.99),
        "itl_err_p50_ms": percentile(itl50, 0.5) if itl50 else None,
        "itl_err_p99_ms": percentile(itl99, 0.99) if itl99 else None,
    }


def median_figures(runs: list[list[Figures]]) -> list[Figures]:
    """Each figure is the median over runs (runs hold the same client/load cells in the same order)."""
    merged = []
    for cells in zip(*runs, strict=True):
        values: dict[str, Any] = asdict(cells[0])
        for key, value in values.items():
            if isinstance(value, float):
                values[key] = statistics.median(getattr(c, key) for c in cells)
        merged.append(Figures(**values))
    return merged


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    return {
        "cpu": model or "unknown",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{name: version(name) for name in ("locust", "gevent", "geventhttpclient")},
    }


def table(figures: list[Figures]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:+.2f}"

    head = (
        "| client | load | tokens | CPU ms / 1k tokens | tokens/s | TTFT err p50 | TTFT err p99 "
        "| ITL err p50 | ITL err p99 |\n|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [
        f"| {f.client} | {f.load} | {f.tokens} | {f.cpu_ms_per_1k_tokens:.1f} | {f.tokens_per_s:,.0f} "
        f"| {ms(f.ttft_err_p50_ms)} | {ms(f.ttft_err_p99_ms)} | {ms(f.itl_err_p50_ms)} | {ms(f.itl_err_p99_ms)} |"
        for f in figures
    ]
    return "\n".join([head, *lines])


def summary(figures: list[Figures]) -> list[str]:
    """The lines a reader wants: capacity, and turnbench against the bare-Locust baselines."""
    cell = {(f.client, f.load): f for f in figures}
    lines = []
    paced = next((f for f in reversed(figures) if f.client == "turnbench" and f.load.startswith("paced")), None)
    if paced is not None:
        capacity = ACCURACY_BUDGET_CORES * 1e6 / paced.cpu_ms_per_1k_tokens
        lines.append(
            f"one process holds about {capacity:,.0f} streamed tokens/s within the accuracy budget "
            f"({ACCURACY_BUDGET_CORES:g} core at {paced.cpu_ms_per_1k_tokens:.1f} ms per 1k tokens, {paced.load})"
        )
        for baseline in ("locust readline", "locust iter_lines"):
            other = cell.get((baseline, paced.load))
            if other is not None:
                lines.append(
                    f"{paced.load}: turnbench uses {paced.cpu_ms_per_1k_tokens / other.cpu_ms_per_1k_tokens:.2f}x "
                    f"the CPU of {baseline}; TTFT error p50 {paced.ttft_err_p50_ms:+.2f} ms vs "
                    f"{other.ttft_err_p50_ms:+.2f} ms"
                )
    return lines


def run(args: argparse.Namespace) -> int:
    if args.runs < 1 or args.rounds < 1:
        raise BenchError(f"--runs {args.runs} --rounds {args.rounds}: both must be at least 1")
    clients = ["turnbench"] if args.no_baseline else list(STREAMERS)
    plan = loads(args.rounds, args.quick)
    out = Path(args.out) / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    results: list[list[Figures]] = []
    with running_groundtruth() as server:
        for number in range(1, args.runs + 1):
            figures = []
            for client in clients:
                for load in plan:
                    figures.append(measure(server, load, STREAMERS[client]))
                    f = figures[-1]
                    print(
                        f"run {number}/{args.runs}  {client:<17} {load.name:<10} "
                        f"{f.cpu_ms_per_1k_tokens:6.1f} ms CPU / 1k tokens  TTFT err p50 "
                        f"{'-' if f.ttft_err_p50_ms is None else f'{f.ttft_err_p50_ms:+.2f} ms'}",
                        flush=True,
                    )
            results.append(figures)
    medians = median_figures(results)
    about = machine()
    report = [
        f"# turnbench bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {about['cpu']}, {about['cores']} cores, Python {about['python']}, locust {about['locust']}.",
        f"Medians of {args.runs} run(s). Errors are client minus server (ms); CPU is this process only.",
        "",
        table(medians),
        "",
        *(f"- {line}" for line in summary(medians)),
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.md").write_text("\n".join(report) + "\n")
    (out / "bench.json").write_text(
        json.dumps({"machine": about, "runs": args.runs, "medians": [asdict(f) for f in medians],
                    "each_run": [[asdict(f) for f in run] for run in results]}, indent=2) + "\n"
    )  # fmt: skip
    print("\n" + "\n".join(report[4:]))
    # For --processes auto: the dearer of the many-stream paced loads (fewer streams share fewer
    # wake-ups, so a token costs more); one stream is all idle-loop overhead and says nothing.
    paced = [f.cpu_ms_per_1k_tokens for f, load in zip(medians, plan * len(clients), strict=True)
             if f.client == "turnbench" and load.kind == "paced" and load.streams >= 64]  # fmt: skip
    if paced and not args.quick:
        from harness.bench import cpu_per_token as client_cost

        path = client_cost.save(max(paced), f"{about['cpu']}, {about['cores']} cores")
        print(f"\nsaved the client's cost per token to {path} (used by `turnbench run --processes auto`)")
    print(f"wrote {out / 'bench.md'} and bench.json")
    return 0
