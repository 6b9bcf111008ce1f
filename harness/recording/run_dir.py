"""The run directory: the contract between a run (harness) and its analysis.

One run against one target writes `runs/<UTC time>-<target>-<scenario>/` with the files below.
The harness writes them; `analysis/` reads them and nothing else. This module holds only names,
columns and shapes (no Locust, no I/O beyond naming), so both sides can import it.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

RUN_JSON = "run.json"
REQUESTS_CSV = "requests.csv"
CONVERSATIONS_CSV = "conversations.csv"
SERVER_METRICS_CSV = "server_metrics.csv"
LOCUST_PREFIX = "locust"  # Locust's own --csv files: locust_stats.csv, locust_stats_history.csv, ...
LOCUST_STATS_CSV = f"{LOCUST_PREFIX}_stats.csv"
LOCUST_HISTORY_CSV = f"{LOCUST_PREFIX}_stats_history.csv"
LOCUST_FAILURES_CSV = f"{LOCUST_PREFIX}_failures.csv"
LOCUST_EXCEPTIONS_CSV = f"{LOCUST_PREFIX}_exceptions.csv"

# One row per turn request, from every worker. Times in ms from t0 (harness.client.measurement);
# started_at in epoch seconds; token counts as the server reported them (empty when it did not),
# except cached_tokens, which follows the one dialect rule (harness.recording.cached_rule).
# branch_kind: "" for a first ask, "regenerate" or "edit" for a turn that resends an earlier
# prompt; branch_of: the turn whose prompt it resends. connect_ms: time to open a new connection,
# inside TTFT (empty when the turn reused one; new_connection says which). user: the run-wide user
# number (the same workload whatever the process count). lag_ms: the longest stall of the load
# generator's event loop during the turn; lagged: above --lag-limit-ms, so its timings are not
# trusted and the report leaves it out of latency figures. start_late_ms: on a conversation's turn 1
# in arrival mode (run.json load.kind "arrivals"), t0 minus the arrival time it was scheduled for
# (>= 0; above LATE_START_S the generator did not offer the load it was asked to); empty otherwise.
REQUEST_COLUMNS = (
    "conversation_id", "user_class", "scenario", "turn", "branch", "branch_kind", "branch_of", "started_at",
    "ttft_ms", "ttfo_ms", "e2e_ms", "tpot_ms", "itl_p50_ms", "itl_p99_ms", "itl_max_ms",
    "connect_ms", "new_connection",
    "prompt_tokens", "cached_tokens", "completion_tokens",
    "ok", "error_kind", "error", "http_status", "worker", "request_id", "target",
    "user", "lag_ms", "lagged", "start_late_ms",
)  # fmt: skip
LATE_START_S = 1.0  # a conversation that starts later than this after its arrival time started late

# One row per conversation. status: complete (every planned turn done), failed (a turn failed and
# the person gave up), interrupted (the run ended first).
CONVERSATION_COLUMNS = (
    "conversation_id", "user_class", "scenario", "worker", "turns_planned", "turns_done",
    "turns_failed", "branches", "started_at", "ended_at", "status", "target",
)  # fmt: skip

# The engine's Prometheus metrics, scraped during the run. `common` maps engine names to shared
# ones (see harness.recording.metrics_scraper): cache_hit_rate, running, waiting, kv_usage,
# prompt_tokens_total, cached_tokens_total, generation_tokens_total; empty for other metrics.
SERVER_METRIC_COLUMNS = ("time", "name", "labels", "value", "common")

# runs/index.csv: one row per run, appended by `turnbench run`, read by `turnbench report --trend`.
# Times in ms, failure_rate and cached_share as fractions; started_at/ended_at epoch seconds.
INDEX_CSV = "index.csv"
INDEX_COLUMNS = (
    "run_id", "run_dir", "started_at", "ended_at", "target", "engine", "scenario", "users", "turns",
    "failure_rate", "ttft_p50_ms", "ttft_p95_ms", "e2e_p50_ms", "e2e_p95_ms", "tpot_p95_ms", "cached_share",
    "lag_p99_ms", "saturated", "status", "exit_code",
)  # fmt: skip

RunStatus = Literal["complete", "interrupted", "failed"]


class Billing(TypedDict):
    kind: Literal["pod", "serverless"]
    usd_per_hour: NotRequired[float]  # pod: per pod (all its GPUs), per hour
    usd_per_gpu_second: NotRequired[float]  # serverless: per GPU, per second of worker time
    source: NotRequired[str]  # where the price came from (live API, dated default, user)


class TargetInfo(TypedDict):
    name: str
    engine: Literal["vllm", "sglang", "openai"]
    base_url: str
    model: str
    api_key_env: NotRequired[str | None]  # the NAME of the variable, never the key
    metrics_url: NotRequired[str | None]
    gpu_type: NotRequired[str | None]
    gpu_count: NotRequired[int]
    billing: NotRequired[Billing]
    launch: NotRequired[dict[str, object]]


class LagWindow(TypedDict):
    start_s: float  # seconds after the run started
    turns: int  # turns that started in the window
    flagged_turns: int  # of them, turns during which the generator stalled beyond the limit
    lag_max_ms: float
    trusted: bool  # few enough flagged turns (harness.recording.lag_windows)


class LoadGeneratorHealth(TypedDict):
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    cpu_percent_max: float
    workers: int
    saturated: bool  # some window of the run is not trusted: its timings may be inflated
    flagged_turns: NotRequired[int]  # turns left out of latency figures (lagged)
    windows: NotRequired[list[LagWindow]]


class WorkerRecords(TypedDict):
    """One load-generating process's rows: what it said it sent against what arrived and was written."""

    sent_requests: int | None  # its own count, through its last message that arrived; None: none arrived
    received_requests: int
    sent_conversations: int | None
    received_conversations: int
    requests_csv_rows: int  # rows of requests.csv that name it
    conversation_turns: int  # turns_done summed over its rows of conversations.csv
    unsent_rows: int | None  # 0: it said its users had stopped and all it sent arrived; None: unknown
    lost: str | None  # why the master lost it (LostWorker.reason); then its unsent rows are unknown


class Reconciliation(TypedDict):
    """Whether every row the run produced reached the run directory (harness.recording.reconciliation)."""

    complete: bool  # no differences
    requests_csv_rows: int
    conversation_turns: int  # turns_done summed over conversations.csv (interrupted ones included)
    run_json_turns: int  # `turns`: the rows the master received
    late_rows: int  # rows that arrived after the run's files were closed: appended, and counted here
    workers: dict[str, WorkerRecords]  # by the name the rows give (worker-<index>, or local)
    differences: list[str]  # one line each, for people


LostReason = Literal["missing heartbeat", "did not quit in time"]


class LostWorker(TypedDict):
    worker: str  # worker-<index>, as the rows name it
    reason: LostReason


class LoadInfo(TypedDict):
    """What the test offered (harness.plugin.arrivals.load_of), written when it starts."""

    kind: Literal["arrivals", "users", "shape"]  # open loop; closed-loop users (-u); a load shape
    conversations_per_hour: float | None  # arrivals: the rate asked for, all processes together
    users: int  # -u (lines, in arrival mode), or a ramp shape's top level
    warmup_s: float  # seconds at the start that the analysis does not judge
    think_time_scale: float
    max_tokens: int  # 0: the scenario's
    min_tokens: int  # -1: the scenario's


class ArrivalCounts(TypedDict):
    """Arrival mode, summed over processes at the end: whether the load asked for was offered."""

    due: int  # arrival times that had passed by the stop (the drain)
    started: int  # conversations begun (turn 1 sent)
    late: int  # of them, begun more than LATE_START_S after their arrival time
    lines: int  # users that held the conversations


class CacheFlushInfo(TypedDict):
    """How the prefix cache was flushed before the run (turnbench compare; turnbench.cache_flush)."""

    result: Literal["flushed", "busy", "unsupported", "failed"]  # busy: the engine never went idle in time
    attempts: int  # flush requests sent (0: the engine has no flush endpoint)
    seconds: float  # from the first request to the answer that decided
    detail: str  # the last answer or error, for people; "" when flushed at once


class CacheSaltInfo(TypedDict):
    """Whether every prompt of the run began with a run-unique salt (harness.scenario.salt); never its text."""

    on: bool
    kind: Literal["off", "auto", "given"]  # --cache-salt: auto (new each run), off, or a text given
    tokens: int  # the salt's tokens in the scenario's tokenizer (0 when off)


class RunInfo(TypedDict):
    turnbench_version: str
    run_id: str
    scenario: dict[str, object]  # name, seed, source, tokenizer, exact_tokens, ...
    target: TargetInfo
    locust: dict[str, object]  # users, spawn_rate, run_time, processes, shape, ...
    server: dict[str, object]  # version and flags as the server reports them; emulator: bool
    started_at: float
    ended_at: float | None
    status: RunStatus
    load_generator: LoadGeneratorHealth | None
    cache_flushed: NotRequired[bool | None]  # a flush was requested before the run, and succeeded
    cache_flush: NotRequired[CacheFlushInfo]  # what the flush before it did (turnbench compare)
    cache_salt: NotRequired[CacheSaltInfo]  # every run since salting came in
    turns: NotRequired[int]  # turn rows the master received (requests.csv)
    failed_turns: NotRequired[int]
    reconciliation: NotRequired[Reconciliation]
    lost_workers: NotRequired[list[LostWorker]]  # workers that went missing or did not quit: rows may be lost
    load: NotRequired[LoadInfo]  # every run since arrivals came in
    arrivals: NotRequired[ArrivalCounts]  # arrival mode only


def run_dir_name(target: str, scenario: str, when: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when if when is not None else time.time()))
    return f"{stamp}-{_slug(target)}-{_slug(scenario)}"


def new_run_dir(root: Path, target: str, scenario: str) -> Path:
    path = root / run_dir_name(target, scenario)
    path.mkdir(parents=True, exist_ok=False)
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def figures_word(figures: Mapping[str, object]) -> str:
    """Figures as one command-line word (`a=1,b=x`), for a Locust option that run.json will keep."""
    return ",".join(f"{key}={value}" for key, value in figures.items())


def read_figures(word: str) -> dict[str, int | float | str]:
    """`figures_word` back, as run.json keeps it: numbers as numbers."""
    figures: dict[str, int | float | str] = {}
    for item in word.split(","):
        key, _, value = item.partition("=")
        for kind in (int, float, str):
            with contextlib.suppress(ValueError):
                figures[key] = kind(value)
                break
    return figures
