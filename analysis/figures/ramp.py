"""Load levels of a ramp, and capacity: the most conversations per hour that still meet the SLO.

Levels come from locust_stats_history.csv: a level is a stretch of consecutive history rows with
the same User Count, at least MIN_LEVEL_S long (shorter stretches are users being spawned). Each
level's latencies come from the requests.csv rows that started inside it (successful ones whose
timings are trusted: not `lagged`, as in analysis.figures.turns; the failure rate counts every
turn), its conversations from those that ended inside it, and its cost from the same price model
as the whole run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.figures.cost import price_window, request_intervals
from analysis.figures.percentiles import percentile
from analysis.figures.prices import Price
from analysis.figures.turns import lagged
from analysis.reading.load import Run
from harness.slo import Slo

MIN_LEVEL_S = 10.0  # Locust writes a history row per second; a level shorter than this is a spawn step


@dataclass(frozen=True)
class LoadLevel:
    users: int
    start: float  # epoch seconds
    end: float
    requests: int
    conversations_completed: int
    conversations_per_hour: float
    output_tokens_per_s: float
    ttft_p95_ms: float
    e2e_p95_ms: float
    usd_per_conversation: float
    meets_slo: bool


@dataclass(frozen=True)
class Ramp:
    levels: tuple[LoadLevel, ...]
    capacity: LoadLevel | None  # the level with the most conversations/hour among those meeting the SLO

    @property
    def is_ramp(self) -> bool:
        return len(self.levels) >= 2


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
        end = float(stamps[stop]) if stop < len(stamps) else float(stamps[-1]) + step
        if users[first] > 0 and end - begin >= MIN_LEVEL_S:
            spans.append((int(users[first]), begin, end))
    return spans


def ramp_figures(run: Run, price: Price, slo: Slo, idle_timeout_s: float) -> Ramp | None:
    """Per-level figures; None without a history file or without requests.csv (Locust-CSV-only)."""
    if run.locust_history is None or run.requests is None or run.conversations is None:
        return None
    requests, conversations = run.requests, run.conversations
    started = requests["started_at"].to_numpy(dtype=np.float64)
    ok = requests["ok"].to_numpy()
    trusted = ok & ~lagged(requests)
    ended = conversations["ended_at"].to_numpy(dtype=np.float64)
    complete = (conversations["status"] == "complete").to_numpy()
    intervals = request_intervals(run)
    levels = []
    for users, begin, end in level_spans(run.locust_history):
        inside = (started >= begin) & (started < end)
        good, timed = requests[inside & ok], requests[inside & trusted]
        done = int((complete & (ended >= begin) & (ended < end)).sum())
        hours = (end - begin) / 3600.0
        ttft_p95 = percentile(timed["ttft_ms"].to_numpy(dtype=np.float64), 0.95)
        e2e_p95 = percentile(timed["e2e_ms"].to_numpy(dtype=np.float64), 0.95)
        tpot_p95 = percentile(timed["tpot_ms"].to_numpy(dtype=np.float64), 0.95)
        turns = int(inside.sum())
        failure_rate = 1.0 - len(good) / turns if turns else math.nan
        _, spent = price_window(price, (begin, end), intervals, idle_timeout_s, clip=True)
        levels.append(
            LoadLevel(
                users=users,
                start=begin,
                end=end,
                requests=turns,
                conversations_completed=done,
                conversations_per_hour=done / hours,
                output_tokens_per_s=float(np.nansum(good["completion_tokens"].to_numpy(dtype=np.float64)))
                / (end - begin),
                ttft_p95_ms=ttft_p95,
                e2e_p95_ms=e2e_p95,
                usd_per_conversation=spent / done if done else math.nan,
                meets_slo=done > 0 and slo.level_met(ttft_p95, e2e_p95, tpot_p95, failure_rate),
            )
        )
    meeting = [level for level in levels if level.meets_slo]
    capacity = max(meeting, key=lambda level: level.conversations_per_hour) if meeting else None
    return Ramp(tuple(levels), capacity)
