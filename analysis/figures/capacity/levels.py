"""Load levels: stretches of steady offered load, each judged against the SLO on its measured window.

A level is either a run in arrival mode (one run, one arrival rate, judged after its warm-up:
window = [run start + load.warmup_s, run end]) or a stretch of a ramp (Locust's history: a User
Count held at least MIN_LEVEL_S; its first RAMP_WARMUP_SHARE is not judged, since a step's new
users all send their first turn at once). A ramp's load is the conversations *started* in the
window per hour (requests.csv: first asks of turn 1), since closed-loop users offer what the
engine lets them. A failed turn and a turn the load generator lagged on are *misses*: they count
as infinitely slow in every percentile (analysis.figures.capacity.level_score), so an engine that sheds
load with errors cannot win by dropping its slowest turns.

Locust-CSV-only runs are judged from Locust's history rows instead (analysis.figures.capacity.locust_levels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.figures.capacity.level_score import LATE_START_MS, LATENCY, judge, sample_of, score_of, why
from analysis.figures.capacity.locust_levels import history_window, missing
from analysis.figures.cost import price_window, request_intervals
from analysis.figures.prices import Price
from analysis.figures.turns import branches, lagged
from analysis.reading.load import Run
from harness.recording.run_dir import LOCUST_HISTORY_CSV, RUN_JSON
from harness.slo import Slo

LevelKind = Literal["arrivals", "users"]

MIN_LEVEL_S = 10.0  # Locust writes a history row per second; a level shorter than this is a spawn step
RAMP_WARMUP_SHARE = 0.2  # of each ramp step, not judged: the new users' first turns arrive together


@dataclass(frozen=True)
class LoadLevel:
    kind: LevelKind
    conversations_per_hour: float  # the load: arrivals asked for, or (ramps) conversations started per hour
    started_per_hour: float  # conversations started in the measured window, per hour
    users: int | None  # ramps: closed-loop users; arrivals: lines
    start: float  # measured window, epoch seconds
    end: float
    turns: int  # turns started in the window
    misses: int  # of them, failed or lagged
    ttft_p95_ms: float  # with misses as infinitely slow (inf: more than 5% missed)
    tpot_p95_ms: float
    e2e_p95_ms: float
    failure_rate: float
    late_starts: int  # conversations started more than LATE_START_S after their arrival time
    conversations: int  # conversations started in the window
    concurrent_conversations: float  # time-averaged conversations in progress in the window
    e2e_mean_s: float  # mean turn E2E over successful turns (the serverless cost model needs it)
    score: float  # max over the SLO's bounds of figure / bound; > 1 fails
    score_low: float  # bootstrap interval of the score over conversations
    score_high: float
    meets_slo: bool
    why: str  # the bound that decided, e.g. "TTFT p95 2,340 ms > 2,000 ms"
    run_dir: str | None  # the run it came from
    output_tokens_per_s: float = math.nan
    usd_per_conversation: float = math.nan  # at this load, by the run's price model
    turns_per_conversation: float = math.nan  # turns / conversations started in the window (steady state)
    locust_only: bool = False  # judged from Locust's history rows: bucketed percentiles, no bootstrap

    @property
    def clear(self) -> bool:
        """The bootstrap interval of the score lies on one side of 1: the verdict would not flip."""
        return self.score_high < 1.0 or self.score_low > 1.0


def run_json(run: Run) -> Mapping[str, Any]:
    """run.json as a plain mapping, for the keys later issues added (load, arrivals, search)."""
    return cast(Mapping[str, Any], run.info or {})


def load_of(run: Run) -> Mapping[str, Any] | None:
    """run.json's "load" (harness.recording.run_dir): None for runs recorded before it."""
    load = run_json(run).get("load")
    return load if isinstance(load, Mapping) else None


def is_arrivals(run: Run) -> bool:
    load = load_of(run)
    return load is not None and load.get("kind") == "arrivals"


def levels_of_run(run: Run, slo: Slo, price: Price, idle_timeout_s: float) -> list[LoadLevel]:
    """The run's levels: one for an arrival-mode run, the steps of a ramp otherwise."""
    if is_arrivals(run):
        level = level_of_run(run, slo, price, idle_timeout_s)
        return [] if level is None else [level]
    return ramp_levels(run, slo, price, idle_timeout_s)


def level_of_run(run: Run, slo: Slo, price: Price, idle_timeout_s: float) -> LoadLevel | None:
    """An arrival-mode run as one level, judged on [start + warmup_s, end]; None for other runs."""
    load = load_of(run)
    if load is None or load.get("kind") != "arrivals":
        return None
    rate = _number(run, load, "conversations_per_hour", positive=True)
    warmup = _number(run, load, "warmup_s") if load.get("warmup_s") is not None else 0.0
    lines = load.get("users")
    users = int(lines) if isinstance(lines, int | float) and not isinstance(lines, bool) else None
    start, end = run.window()
    window = (start + warmup, end)
    if run.requests is None:
        return _level_from_history(run, "arrivals", rate, users, window, slo, price)
    return _level_from_requests(run, "arrivals", rate, users, window, slo, price, idle_timeout_s)


def ramp_levels(run: Run, slo: Slo, price: Price, idle_timeout_s: float) -> list[LoadLevel]:
    """Each step of a closed-loop ramp as a level: from requests.csv, or (Locust-CSV-only) from
    Locust's history rows. Empty without a history file or usable rows (why_no_levels says why)."""
    if run.locust_history is None or (run.requests is None and missing(run.locust_history, run.path)):
        return []
    levels = []
    warmup_end = run.window()[0] + _warmup_s(run)
    for users, begin, end in level_spans(run.locust_history):
        window = (max(begin + RAMP_WARMUP_SHARE * (end - begin), warmup_end), end)
        if window[1] <= window[0]:
            continue
        if run.requests is None:
            level = _level_from_history(run, "users", None, users, window, slo, price)
        else:
            level = _level_from_requests(run, "users", None, users, window, slo, price, idle_timeout_s)
        # A step whose window no conversation started in measured no load: holding it says nothing.
        if level.conversations_per_hour > 0:
            levels.append(level)
    return levels


def why_no_levels(run: Run) -> str | None:
    """What a run lacks to give a level, in words a user can act on; None when it gives one."""
    if is_arrivals(run):
        return missing(run.locust_history, run.path) if run.requests is None else None
    if run.locust_history is None:
        return (
            f"it is not an arrival-mode run (run.json load.kind) and has no {LOCUST_HISTORY_CSV} to find a "
            f"ramp's steps in; run `turnbench run --arrival-rate RATE` or a ramp with Locust's --csv"
        )
    if run.requests is None and (lacking := missing(run.locust_history, run.path)):
        return lacking
    if not level_spans(run.locust_history):
        return f"{LOCUST_HISTORY_CSV} holds no User Count for {MIN_LEVEL_S:g} s or longer"
    return None


def level_spans(history: pd.DataFrame) -> list[tuple[int, float, float]]:
    """(users, start, end) of each level, from Locust's history rows (the Aggregated ones if present)."""
    rows = history[history["Name"] == "Aggregated"]
    if rows.empty:
        rows = history
    stamps = pd.to_numeric(rows["Timestamp"], errors="coerce").to_numpy(dtype=np.float64)
    users = pd.to_numeric(rows["User Count"], errors="coerce").to_numpy(dtype=np.float64)
    keep = ~np.isnan(stamps) & ~np.isnan(users)
    stamps, users = stamps[keep], users[keep]
    if len(stamps) == 0:
        return []
    order = np.argsort(stamps, kind="stable")
    stamps, users = stamps[order], users[order]
    step = float(np.median(np.diff(stamps))) if len(stamps) > 1 else 1.0
    changes = np.flatnonzero(np.diff(users) != 0) + 1
    starts = np.concatenate(([0], changes))
    ends = np.concatenate((changes, [len(stamps)]))
    spans = []
    for first, stop in zip(starts, ends, strict=True):
        begin = float(stamps[first])
        # A step ends at its own last row, not at the next step's first: that row is stamped with the whole
        # second in which the next step's users were already being started (StepRamp starts them at once).
        end = float(stamps[stop - 1]) if stop < len(stamps) else float(stamps[-1]) + step
        if users[first] > 0 and end - begin >= MIN_LEVEL_S:
            spans.append((int(users[first]), begin, end))
    return spans


def _level_from_requests(run: Run, kind: LevelKind, rate: float | None, users: int | None,
                         window: tuple[float, float], slo: Slo, price: Price,
                         idle_timeout_s: float) -> LoadLevel:  # fmt: skip
    """Judge the turns of requests.csv that started in the window."""
    assert run.requests is not None
    begin, end = window
    requests = run.requests
    started = requests["started_at"].to_numpy(dtype=np.float64)
    rows = requests[(started >= begin) & (started < end)]
    ok = rows["ok"].to_numpy(dtype=bool)
    slow = lagged(rows)
    first = (rows["turn"].to_numpy() == 1) & ~branches(rows)
    late_ms = rows["start_late_ms"].to_numpy(dtype=np.float64) if "start_late_ms" in rows else np.full(len(rows), 0.0)
    codes, names = pd.factorize(rows["conversation_id"].astype(str), sort=False)
    latency = {key: rows[key.removesuffix("_p95_ms") + "_ms"].to_numpy(dtype=np.float64) for key in LATENCY}
    sample = sample_of(codes.astype(np.int64), latency, ok, slow, first, late_ms > LATE_START_MS, len(names))
    judged = judge(sample, slo)
    seconds = end - begin
    conversations = int(first.sum())
    started_per_hour = conversations / seconds * 3600.0 if seconds > 0 else math.nan
    e2e = rows["e2e_ms"].to_numpy(dtype=np.float64)[ok]
    _, spent = price_window(price, window, request_intervals(run), idle_timeout_s, clip=True)
    return LoadLevel(
        kind=kind,
        conversations_per_hour=started_per_hour if rate is None else rate,
        started_per_hour=started_per_hour,
        users=users,
        start=begin,
        end=end,
        turns=len(rows),
        misses=int((~ok | slow).sum()),
        ttft_p95_ms=judged.figures["ttft_p95_ms"],
        tpot_p95_ms=judged.figures["tpot_p95_ms"],
        e2e_p95_ms=judged.figures["e2e_p95_ms"],
        failure_rate=judged.figures["failure_rate"],
        late_starts=int(sample.late.sum()),
        conversations=conversations,
        concurrent_conversations=_in_progress(run.conversations, window),
        e2e_mean_s=float(e2e.mean()) / 1000.0 if len(e2e) else math.nan,
        score=judged.score,
        score_low=judged.score_low,
        score_high=judged.score_high,
        meets_slo=len(rows) > 0 and judged.score <= 1.0,
        why=judged.why,
        run_dir=str(run.path),
        output_tokens_per_s=float(np.nansum(rows["completion_tokens"].to_numpy(dtype=np.float64))) / seconds,
        usd_per_conversation=spent / conversations if conversations else math.nan,
        turns_per_conversation=len(rows) / conversations if conversations else math.nan,
    )


def _level_from_history(run: Run, kind: LevelKind, rate: float | None, users: int | None,
                        window: tuple[float, float], slo: Slo, price: Price) -> LoadLevel:  # fmt: skip
    """Judge a window from Locust's history rows (analysis.figures.capacity.locust_levels): no bootstrap, so
    score_low = score_high = score. Late starts: run.json's "arrivals" counts, over the whole run."""
    assert run.locust_history is not None
    found = history_window(run.locust_history, run.path, window)
    hours = found.seconds / 3600.0
    started_per_hour = found.conversations / hours if hours > 0 else math.nan
    late = _late_share(run)
    figures = {**found.p95_ms, "failure_rate": found.failures / found.turns if found.turns else math.nan}
    score = score_of({**figures, "late_share": late}, slo)
    load = started_per_hour if rate is None else rate
    _, spent = price_window(price, window, None, 0.0, clip=True)
    return LoadLevel(
        kind=kind,
        conversations_per_hour=load,
        started_per_hour=started_per_hour,
        users=users,
        start=window[0],
        end=window[1],
        turns=found.turns,
        misses=found.failures,
        ttft_p95_ms=figures["ttft_p95_ms"],
        tpot_p95_ms=figures["tpot_p95_ms"],
        e2e_p95_ms=figures["e2e_p95_ms"],
        failure_rate=figures["failure_rate"],
        late_starts=round(late * found.conversations),
        conversations=found.conversations,
        # Closed loop: each user holds one conversation at a time. Arrivals: the conversations' length is unknown.
        concurrent_conversations=float(users) if kind == "users" and users is not None else math.nan,
        e2e_mean_s=found.e2e_mean_s,
        score=score,
        score_low=score,
        score_high=score,
        meets_slo=found.turns > 0 and score <= 1.0,
        why=why({**figures, "late_share": late}, slo, found.turns),
        run_dir=str(run.path),
        output_tokens_per_s=found.output_tokens / found.seconds if found.seconds > 0 else math.nan,
        usd_per_conversation=spent / found.conversations if found.conversations else math.nan,
        turns_per_conversation=found.turns / found.conversations if found.conversations else math.nan,
        locust_only=True,
    )


def _late_share(run: Run) -> float:
    """Late starts over conversations started, from run.json's "arrivals" (0 when it has none)."""
    arrivals = run_json(run).get("arrivals")
    if not isinstance(arrivals, Mapping):
        return 0.0
    late, started = arrivals.get("late"), arrivals.get("started")
    if isinstance(late, int | float) and isinstance(started, int | float) and started > 0:
        return float(late) / float(started)
    return 0.0


def _in_progress(conversations: pd.DataFrame | None, window: tuple[float, float]) -> float:
    """Time-averaged conversations in progress: each one's overlap with the window, over its length.
    A conversation with no end (cut by the run's end) lasts to the window's end."""
    begin, end = window
    if conversations is None or end <= begin:
        return math.nan
    starts = conversations["started_at"].to_numpy(dtype=np.float64)
    ends = np.nan_to_num(conversations["ended_at"].to_numpy(dtype=np.float64), nan=end)
    overlap = np.clip(np.minimum(ends, end) - np.maximum(starts, begin), 0.0, None)
    return float(overlap.sum()) / (end - begin)


def _warmup_s(run: Run) -> float:
    load = load_of(run)
    return _number(run, load, "warmup_s") if load is not None and load.get("warmup_s") is not None else 0.0


def _number(run: Run, load: Mapping[str, Any], key: str, positive: bool = False) -> float:
    value = load.get(key)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        wanted = "a number above 0" if positive else "a number >= 0"
        raise AnalysisError(f"{run.path / RUN_JSON}: key load.{key}: expected {wanted}, got {value!r}")
    return float(value)
