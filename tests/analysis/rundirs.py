"""Synthetic run directories, written exactly as harness/recording/run_dir.py defines them.

`Spec` describes a run (target, conversations, latency distributions, billing, load levels, ...);
`write_run` writes run.json, requests.csv (REQUEST_COLUMNS, in order), conversations.csv,
server_metrics.csv, and Locust 2.47's locust_stats.csv / locust_stats_history.csv with their exact
headers and Locust's own bucketing, from numpy distributions with a fixed seed. Tests that need a
hand-made case pass their own `requests` / `conversations` frames instead.

`arrivals(rate, seconds)` is a run in arrival mode (run.json "load" kind "arrivals", Poisson starts,
start_late_ms on turn 1); `Spec.full_history` writes the history as --csv-full-history does: every
second a row per entry with Locust's 10-s current percentiles and running totals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.recording import run_dir
from harness.recording.run_dir import (
    CONVERSATION_COLUMNS,
    LATE_START_S,
    REQUEST_COLUMNS,
    SERVER_METRIC_COLUMNS,
    Billing,
    RunInfo,
)

# notes/locust.md §4.1: Locust 2.47's exact --csv headers.
LOCUST_STATS_HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
    "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
).split(",")
LOCUST_HISTORY_HEADER = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,"
    "Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,"
    "Total Min Response Time,Total Max Response Time,Total Average Content Size"
).split(",")
PERCENTILES = (0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0)
START = 1_790_000_000.0  # 2026-09-21, any fixed epoch
CURRENT_WINDOW_S = 10  # Locust's CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW


@dataclass(frozen=True)
class Spec:
    target: str = "vllm"
    engine: str = "vllm"
    conversations: int = 300
    turns: int = 4
    seed: int = 0
    start: float = START
    levels: tuple[tuple[int, float], ...] = ((16, 900.0),)  # (users, seconds) as locust_stats_history shows
    ttft_ms: float = 400.0  # median on turn 1
    later_turn_factor: float = 0.5  # median TTFT on later turns, as a share of turn 1's (prefix cache hits)
    ttft_sigma: float = 0.4
    # Latency factor per conversation, on all its turns (lognormal sigma): turns of a conversation
    # share its context and its moment of load, so they are correlated.
    conversation_sigma: float = 0.0
    # run.json's scenario seed. Not `seed`, which draws the latencies: runs of one workload differ in
    # what the engine did, not in which conversations were planned (analysis.figures.workload).
    scenario_seed: int = 1
    load_factor: float = 0.0  # latency grows by this share per user above the first level's
    e2e_ms: float = 6000.0
    e2e_sigma: float = 0.25
    completion_tokens: float = 200.0
    prompt_tokens: int = 2000
    failure_rate: float = 0.0
    think_s: float = 3.0
    billing: Billing | None = field(default_factory=lambda: Billing(kind="pod", usd_per_hour=7.98))
    gpu_count: int = 2
    emulator: bool = False
    saturated: bool = False
    cache_flushed: bool | None = True
    status: str = "complete"
    arrival_rate: float | None = None  # conversations per hour: arrival mode (levels then holds (lines, seconds))
    warmup_s: float = 0.0
    late_share: float = 0.0  # arrival mode: share of conversations whose turn 1 started over 1 s late
    lagged_share: float = 0.0  # share of turns the load generator lagged on
    full_history: bool = False  # locust_stats_history.csv as --csv-full-history writes it
    search: Mapping[str, Any] | None = None  # run.json "search", as the capacity search writes it

    @property
    def duration_s(self) -> float:
        return sum(seconds for _, seconds in self.levels)


def requests_frame(spec: Spec) -> pd.DataFrame:
    """One row per turn request, REQUEST_COLUMNS in order, lognormal latencies, seeded."""
    rng = np.random.default_rng(spec.seed)
    n, turns = spec.conversations, spec.turns
    starts = _conversation_starts(spec, rng)
    users = _users_at(spec, starts)
    load = 1.0 + spec.load_factor * (users - spec.levels[0][0])[:, None]
    if spec.conversation_sigma:  # drawn only when asked, so other specs keep their numbers
        load = load * rng.lognormal(0.0, spec.conversation_sigma, (n, 1))
    turn = np.tile(np.arange(1, turns + 1), (n, 1))
    median = np.where(turn == 1, spec.ttft_ms, spec.ttft_ms * spec.later_turn_factor) * load
    ttft = median * rng.lognormal(0.0, spec.ttft_sigma, (n, turns))
    completion = np.maximum(2, np.round(rng.normal(spec.completion_tokens, spec.completion_tokens * 0.05, (n, turns))))
    e2e = ttft + spec.e2e_ms * load * rng.lognormal(0.0, spec.e2e_sigma, (n, turns))
    prompt = spec.prompt_tokens + (turn - 1) * (completion.mean() + 60)
    cached = np.where(turn == 1, spec.prompt_tokens // 2, np.floor((prompt - 60 - completion) / 16) * 16)
    gaps = (e2e / 1000.0) + spec.think_s
    started = starts[:, None] + np.concatenate([np.zeros((n, 1)), np.cumsum(gaps, axis=1)[:, :-1]], axis=1)
    ok = rng.random((n, turns)) >= spec.failure_rate
    after_failure = np.cumsum(~ok, axis=1) - (~ok) > 0  # a person gives up after a failed turn
    keep = ~after_failure & (started < spec.start + spec.duration_s)
    tpot = (e2e - ttft) / (completion - 1)
    late_ms = np.full((n, turns), np.nan)
    if spec.arrival_rate is not None:
        late = rng.random(n) < spec.late_share
        late_ms[:, 0] = np.where(late, 1500.0 + rng.exponential(500.0, n), rng.uniform(0.0, 20.0, n)).round(3)
    lagged = rng.random((n, turns)) < spec.lagged_share if spec.lagged_share else None
    frame = pd.DataFrame(
        {
            "conversation_id": np.repeat([f"{spec.target}-c{i:06d}" for i in range(n)], turns),
            "user_class": "SupportUser",
            "scenario": "support",
            "turn": turn.ravel(),
            "branch": "",
            "started_at": started.ravel().round(3),
            "ttft_ms": _blank_failed(ttft, ok),
            "ttfo_ms": _blank_failed(ttft, ok),
            "e2e_ms": np.where(ok, e2e, 30000.0).ravel().round(3),
            "tpot_ms": _blank_failed(tpot, ok, 4),
            "itl_p50_ms": _blank_failed(tpot * 0.95, ok, 4),
            "itl_p99_ms": _blank_failed(tpot * 2.5, ok, 4),
            "itl_max_ms": _blank_failed(tpot * 6.0, ok, 4),
            "prompt_tokens": _blank_failed(prompt, ok, 0),
            "cached_tokens": _blank_failed(cached, ok, 0),
            "completion_tokens": _blank_failed(completion, ok, 0),
            "ok": ok.ravel(),
            "error_kind": np.where(ok, "", "http_5xx").ravel(),
            "error": np.where(ok, "", "HTTP 503: overloaded").ravel(),
            "http_status": np.where(ok, 200, 503).ravel(),
            "worker": "local",
            "request_id": [f"req-{i}" for i in range(n * turns)],
            "target": spec.target,
            "lag_ms": np.nan if lagged is None else np.where(lagged, 900.0, 2.0).ravel(),
            "lagged": np.nan if lagged is None else lagged.ravel(),
            "start_late_ms": late_ms.ravel(),
        },
        columns=list(REQUEST_COLUMNS),
    )
    return frame[keep.ravel()].reset_index(drop=True)


def conversations_frame(requests: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """One row per conversation, from its turns: complete, failed, or interrupted by the run's end."""
    ends = requests["started_at"] + requests["e2e_ms"] / 1000.0
    grouped = requests.assign(_end=ends, _failed=~requests["ok"].astype(bool)).groupby("conversation_id", sort=False)
    summary = grouped.agg(
        started_at=("started_at", "min"),
        ended_at=("_end", "max"),
        turns_done=("turn", "size"),
        failed=("_failed", "sum"),
    )
    run_end = spec.start + spec.duration_s
    status = np.where(
        summary["failed"] > 0, "failed", np.where(summary["turns_done"] >= spec.turns, "complete", "interrupted")
    )
    status = np.where((status == "complete") & (summary["ended_at"] > run_end), "interrupted", status)
    frame = pd.DataFrame(
        {
            "conversation_id": summary.index.astype(str),
            "user_class": "SupportUser",
            "scenario": "support",
            "worker": "local",
            "turns_planned": spec.turns,
            "turns_done": summary["turns_done"].to_numpy(),
            "turns_failed": summary["failed"].to_numpy(),
            "branches": 0,
            "started_at": summary["started_at"].to_numpy().round(3),
            "ended_at": np.minimum(summary["ended_at"].to_numpy(), run_end).round(3),
            "status": status,
            "target": spec.target,
        },
        columns=list(CONVERSATION_COLUMNS),
    )
    return frame


def run_info(spec: Spec, requests: pd.DataFrame | None = None, **overrides: Any) -> RunInfo:
    target: dict[str, Any] = {
        "name": spec.target,
        "engine": spec.engine,
        "base_url": "http://127.0.0.1:8000",
        "model": "meta-llama/Llama-3.3-70B-Instruct",
        "api_key_env": None,
        "metrics_url": "http://127.0.0.1:8000/metrics",
        "gpu_type": "H100 SXM",
        "gpu_count": spec.gpu_count,
    }
    if spec.billing is not None:
        target["billing"] = dict(spec.billing)
    info: dict[str, Any] = {
        "turnbench_version": "0.1.0",
        "run_id": f"synthetic-{spec.target}-{spec.seed}",
        "scenario": {"name": "support", "seed": spec.scenario_seed},
        "target": target,
        "locust": {"users": spec.levels[-1][0], "spawn_rate": 4, "processes": 1},
        "server": {"version": "0.0-synthetic", "emulator": spec.emulator},
        "started_at": spec.start,
        "ended_at": spec.start + spec.duration_s,
        "status": spec.status,
        "load_generator": {
            "lag_p50_ms": 1.0,
            "lag_p99_ms": 250.0 if spec.saturated else 4.0,
            "lag_max_ms": 400.0 if spec.saturated else 9.0,
            "cpu_percent_max": 99.0 if spec.saturated else 35.0,
            "workers": 1,
            "saturated": spec.saturated,
        },
        "cache_flushed": spec.cache_flushed,
        "load": {
            "kind": "arrivals" if spec.arrival_rate is not None else "users" if len(spec.levels) == 1 else "shape",
            "conversations_per_hour": spec.arrival_rate,
            "users": spec.levels[-1][0],
            "warmup_s": spec.warmup_s,
            "think_time_scale": 1.0,
            "max_tokens": 0,  # the scenario's
            "min_tokens": -1,
        },
    }
    if spec.arrival_rate is not None:
        late = int((requests["start_late_ms"] > LATE_START_S * 1000).sum()) if requests is not None else 0
        started = int((requests["turn"] == 1).sum()) if requests is not None else spec.conversations
        info["arrivals"] = {"due": started, "started": started, "late": late, "lines": spec.levels[-1][0]}
    if spec.search is not None:
        info["search"] = dict(spec.search)
    info.update(overrides)
    return info  # type: ignore[return-value]


def history_frame(spec: Spec) -> pd.DataFrame:
    """One Aggregated row per second, with the user count of each level (no spawn steps)."""
    stamps = np.arange(int(spec.start), int(spec.start + spec.duration_s))
    users = _users_at(spec, stamps.astype(np.float64))
    frame = pd.DataFrame({column: 0 for column in LOCUST_HISTORY_HEADER}, index=range(len(stamps)))
    frame["Timestamp"], frame["User Count"], frame["Type"], frame["Name"] = stamps, users, "", "Aggregated"
    return frame[LOCUST_HISTORY_HEADER]


def full_history_frame(requests: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """Locust 2.47's --csv-full-history rows: each second, one row per entry (harness.plugin.turn_entries'
    TTFT / E2E / TPOT_us per turn, POST chat) and the Aggregated one. Percentiles are Locust's current
    ones, over the responses logged in the 10 s before the row; the Total columns count from the start.
    A response is logged when its turn ends (the per-turn entries fire then, for successful turns only)."""
    ended = (requests["started_at"] + requests["e2e_ms"] / 1000.0).to_numpy(dtype=np.float64)
    ok = requests["ok"].astype(bool).to_numpy()
    completion = requests["completion_tokens"].fillna(0).to_numpy(dtype=np.float64)
    # (Type, Name, when logged, value, content size, succeeded) per entry
    entries: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for turn in sorted(requests.loc[ok, "turn"].unique()):
        rows = ok & (requests["turn"] == turn).to_numpy()
        name = f"turn {int(turn):02d}"
        for kind, column, factor in (("E2E", "e2e_ms", 1.0), ("TPOT_us", "tpot_ms", 1000.0), ("TTFT", "ttft_ms", 1.0)):
            values = requests[column].to_numpy(dtype=np.float64) * factor
            keep = rows & ~np.isnan(values)
            entries.append((kind, name, ended[keep], values[keep], completion[keep], np.ones(keep.sum(), dtype=bool)))
    e2e = requests["e2e_ms"].to_numpy(dtype=np.float64)
    entries.append(("POST", "chat", ended, e2e, completion, ok))
    entries.sort(key=lambda entry: (entry[1], entry[0]))  # Locust's sort_stats: by name, then method
    entries.append(("", "Aggregated", ended, e2e, completion, ok))
    stamps = np.arange(int(spec.start), int(spec.start + spec.duration_s))
    users = _users_at(spec, stamps.astype(np.float64))
    rows_out: list[list[object]] = []
    for kind, name, times, values, sizes, succeeded in entries:
        order = np.argsort(times, kind="stable")
        times, values, sizes, succeeded = times[order], values[order], sizes[order], succeeded[order]
        upto = np.searchsorted(times, stamps, side="right")
        since = np.searchsorted(times, stamps - CURRENT_WINDOW_S, side="right")
        failed = np.concatenate(([0], np.cumsum(~succeeded)))
        bucketed = locust_bucket(values)
        for stamp, count, hi, lo in zip(stamps, users, upto, since, strict=True):
            current = np.sort(bucketed[lo:hi])
            if hi == 0:
                percentiles: list[object] = ["N/A"] * len(PERCENTILES)
            elif len(current) == 0:
                percentiles = [0] * len(PERCENTILES)
            else:  # = locust_percentile: the value at index int(n * p) of the sorted buckets
                ranks = np.minimum((len(current) * np.array(PERCENTILES)).astype(np.int64), len(current) - 1)
                percentiles = [int(v) for v in current[ranks]]
            total = values[:hi]
            rows_out.append([
                int(stamp), int(count), kind, name, f"{len(current) / CURRENT_WINDOW_S:2f}",
                f"{(failed[hi] - failed[lo]) / CURRENT_WINDOW_S:2f}", *percentiles, int(hi), int(failed[hi]),
                float(np.median(total)) if hi else 0, float(total.mean()) if hi else 0, float(total.min()) if hi else 0,
                float(total.max()) if hi else 0, float(sizes[:hi].mean()) if hi else 0,
            ])  # fmt: skip
    frame = pd.DataFrame(rows_out, columns=LOCUST_HISTORY_HEADER)
    return frame.sort_values("Timestamp", kind="stable").reset_index(drop=True)


def locust_stats_frame(requests: pd.DataFrame, duration_s: float) -> pd.DataFrame:
    """What harness.plugin.turn_entries makes Locust write: per-turn TTFT/E2E/TPOT_us rows, POST chat, Aggregated."""
    ok = requests[requests["ok"].astype(bool)]
    rows = []
    for turn, group in ok.groupby("turn", sort=True):
        name = f"turn {int(turn):02d}"
        rows.append(locust_row("TTFT", name, group["ttft_ms"], 0, group["cached_tokens"], duration_s))
        rows.append(locust_row("E2E", name, group["e2e_ms"], 0, group["completion_tokens"], duration_s))
        rows.append(locust_row("TPOT_us", name, group["tpot_ms"] * 1000.0, 0, group["tpot_ms"] * 0, duration_s))
    failures = int((~requests["ok"].astype(bool)).sum())
    tokens = requests["completion_tokens"].fillna(0)
    rows.append(locust_row("POST", "chat", requests["e2e_ms"], failures, tokens, duration_s))
    rows.append(locust_row("", "Aggregated", requests["e2e_ms"], failures, tokens, duration_s))
    return pd.DataFrame(rows, columns=LOCUST_STATS_HEADER)


def locust_bucket(values: np.ndarray) -> np.ndarray:
    """Locust's stats.bucket_response_time: ~2 significant digits (notes/locust.md §3)."""
    rounded = np.round(values)  # numpy rounds half to even, like Python's round()
    rounded = np.where(values >= 100, np.round(values, -1), rounded)
    rounded = np.where(values >= 1000, np.round(values, -2), rounded)
    return np.where(values >= 10000, np.round(values, -3), rounded)


def locust_percentile(values: np.ndarray, percent: float) -> float:
    """Locust's calculate_response_time_percentile over the bucketed values."""
    keys, counts = np.unique(locust_bucket(values), return_counts=True)
    keys, counts = keys[::-1], counts[::-1]
    processed = np.cumsum(counts)
    hit = np.flatnonzero(len(values) - processed <= int(len(values) * percent))
    return float(keys[hit[0]]) if len(hit) else 0.0


def locust_row(
    kind: str, name: str, times: pd.Series, failures: int, sizes: pd.Series, duration_s: float
) -> list[object]:
    values = times.dropna().to_numpy(dtype=np.float64)
    count = len(values)
    median = min(max(locust_percentile(values, 0.5), values.min()), values.max())
    return [
        kind, name, count, failures, median, values.mean(), values.min(), values.max(),
        float(np.nanmean(sizes.to_numpy(dtype=np.float64))), count / duration_s, failures / duration_s,
        *(int(locust_percentile(values, p)) for p in PERCENTILES),
    ]  # fmt: skip


def server_metrics_frame(spec: Spec) -> pd.DataFrame:
    stamps = np.arange(spec.start, spec.start + spec.duration_s, 5.0)
    rows = []
    for common, name, value in (
        ("cache_hit_rate", f"{spec.engine}:cache_hit_rate", 0.6),
        ("kv_usage", f"{spec.engine}:kv_cache_usage_perc", 0.4),
        ("running", f"{spec.engine}:num_requests_running", 12.0),
        ("waiting", f"{spec.engine}:num_requests_waiting", 0.0),
        ("", "process_cpu_seconds_total", 1.0),
    ):
        for i, t in enumerate(stamps):
            rows.append([round(t, 3), name, '{model_name="m"}', value * (1 + 0.1 * math.sin(i)), common])
    return pd.DataFrame(rows, columns=list(SERVER_METRIC_COLUMNS))


def write_run(
    root: Path,
    spec: Spec,
    *,
    requests: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    info: RunInfo | None = None,
    locust_only: bool = False,
) -> Path:
    """Write a whole run directory under root and return its path."""
    path = root / run_dir.run_dir_name(spec.target, "support", spec.start + spec.seed)
    path.mkdir(parents=True, exist_ok=True)
    requests = requests_frame(spec) if requests is None else requests
    conversations = conversations_frame(requests, spec) if conversations is None else conversations
    if not locust_only:
        write_csv(requests, path / run_dir.REQUESTS_CSV)
        write_csv(conversations, path / run_dir.CONVERSATIONS_CSV)
        write_csv(server_metrics_frame(spec), path / run_dir.SERVER_METRICS_CSV)
        (path / run_dir.RUN_JSON).write_text(json.dumps(info or run_info(spec, requests), indent=2))
    write_csv(locust_stats_frame(requests, spec.duration_s), path / run_dir.LOCUST_STATS_CSV)
    history = full_history_frame(requests, spec) if spec.full_history else history_frame(spec)
    write_csv(history, path / run_dir.LOCUST_HISTORY_CSV)
    return path


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """As Python's csv module writes the harness's rows: None as an empty cell, bools as True/False."""
    frame.to_csv(path, index=False, na_rep="")


def with_changes(spec: Spec, **changes: Any) -> Spec:
    return replace(spec, **changes)


def arrivals(rate_per_hour: float, seconds: float, lines: int = 64, **changes: Any) -> Spec:
    """A run in arrival mode: rate x seconds conversations, starting uniformly over the run (Poisson, given
    their count), held by `lines` lines."""
    changes.setdefault("conversations", round(rate_per_hour * seconds / 3600.0))
    return Spec(arrival_rate=rate_per_hour, levels=((lines, seconds),), **changes)


def request_rows(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A hand-made requests.csv: each row gives what matters to the test, the rest is a plausible default."""
    defaults: dict[str, Any] = {
        "user_class": "SupportUser", "scenario": "support", "turn": 1, "branch": "", "started_at": START,
        "ttft_ms": 300.0, "ttfo_ms": None, "e2e_ms": 3000.0, "tpot_ms": 14.0, "itl_p50_ms": 13.0,
        "itl_p99_ms": 30.0, "itl_max_ms": 60.0, "prompt_tokens": 1000, "cached_tokens": 500,
        "completion_tokens": 200, "ok": True, "error_kind": "", "error": "", "http_status": 200,
        "worker": "local", "request_id": "", "target": "vllm", "start_late_ms": None,
    }  # fmt: skip
    full = [{**defaults, **row} for row in rows]
    return pd.DataFrame(full, columns=list(REQUEST_COLUMNS))


def conversation_rows(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A hand-made conversations.csv, like `request_rows`."""
    defaults: dict[str, Any] = {
        "user_class": "SupportUser", "scenario": "support", "worker": "local", "turns_planned": 4,
        "turns_done": 4, "turns_failed": 0, "branches": 0, "started_at": START, "ended_at": START + 60.0,
        "status": "complete", "target": "vllm",
    }  # fmt: skip
    return pd.DataFrame([{**defaults, **row} for row in rows], columns=list(CONVERSATION_COLUMNS))


def _conversation_starts(spec: Spec, rng: np.random.Generator) -> np.ndarray:
    """Conversation start times, denser where more users are active (closed-loop Locust users); in
    arrival mode uniform over the run (Poisson arrivals, given their count)."""
    if spec.arrival_rate is not None:
        return np.sort(spec.start + rng.random(spec.conversations) * spec.duration_s)
    weights = np.array([users * seconds for users, seconds in spec.levels], dtype=np.float64)
    level = rng.choice(len(spec.levels), size=spec.conversations, p=weights / weights.sum())
    offsets = np.concatenate([[0.0], np.cumsum([s for _, s in spec.levels])])
    within = rng.random(spec.conversations) * np.array([s for _, s in spec.levels])[level]
    return np.sort(spec.start + offsets[level] + within)


def _users_at(spec: Spec, times: np.ndarray) -> np.ndarray:
    bounds = spec.start + np.cumsum([s for _, s in spec.levels])
    index = np.minimum(np.searchsorted(bounds, times, side="right"), len(spec.levels) - 1)
    return np.array([u for u, _ in spec.levels])[index]


def _blank_failed(values: np.ndarray, ok: np.ndarray, digits: int = 3) -> np.ndarray:
    """Failed turns report no timings or usage: an empty cell ("not reported")."""
    return np.where(ok, np.round(values, digits), np.nan).ravel()
