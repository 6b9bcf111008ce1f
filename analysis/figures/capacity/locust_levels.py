"""A load level's figures from Locust's history rows, when Locust's CSVs are all there is.

turnbench runs Locust with --csv-full-history, so locust_stats_history.csv has, every second, a
row per entry: the per-turn "turn 01", "turn 02", ... entries of type TTFT, E2E and TPOT_us
(harness.plugin.turn_entries; fired for successful turns only) and the HTTP row (POST chat, every
turn, failures counted). Each row's percentiles are Locust's *current* ones: over the responses of
the 10 s before the row (stats.CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW); its Total columns count
since the start.

How a window's p95 is taken from them: the window is cut into whole 10-s spans ending at its end,
and each span of each entry is rebuilt as the responses it holds (the delta of that entry's Total
Request Count over the span). Locust's p-percentile of n responses is the sorted response at index
int(n * p), so the listed percentiles (50%, 66%, ..., 99.99%, 100%) are known order statistics of
the span: the upper half of its responses is known or interpolated between known ones, and the
lower half is counted as fast (_rebuilt says why). The window's p95 is the nearest-rank p95 of all
those responses together, with the failed turns of the spans (the HTTP row's Total Failure Count
deltas) as infinitely slow, so it is infinite when more than 5% of the turns failed. Every response
of the window counts once: a max or a mean of the rows' p95s would not be a percentile of the
window, would move with its length, and with a few turns per span would be a p95 of maxima. On
random spans this lands within a few percent of the p95 of the (bucketed) responses themselves
(tests/analysis/figures/test_levels.py). What is lost: Locust's ~2-significant-digit buckets, the
rare slow response below its span's median, a few seconds at the start of the window that make no
whole span, and lagged turns (Locust does not know them: they are not counted as misses).

Counts are over the whole window, from Total deltas: conversations started = the "turn 01" E2E
entry's (every conversation has exactly one turn 1, and no branch is named so), turns and failures
= the HTTP row's. Locust logs a response when it ends, so these are turns *ended* in the window, and
a conversation whose first turn failed is not counted as started.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.figures.capacity.level_score import P95
from analysis.figures.percentiles import FloatArray
from analysis.reading.locust_csv import HTTP_NAME, HTTP_TYPE, turn_of
from harness.recording.run_dir import LOCUST_HISTORY_CSV

SPAN_S = 10.0  # Locust's CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW: a history row's percentiles cover the 10 s before it
PERCENTILES = {"50%": 0.5, "66%": 0.66, "75%": 0.75, "80%": 0.8, "90%": 0.9, "95%": 0.95, "98%": 0.98,
               "99%": 0.99, "99.9%": 0.999, "99.99%": 0.9999, "100%": 1.0}  # fmt: skip
TOTALS = ("Total Request Count", "Total Failure Count", "Total Average Response Time", "Total Average Content Size")
FIRST_TURN = "turn 01"  # harness.plugin.turn_entries.turn_name(1)
# Entry types per latency figure, and the factor to milliseconds (TPOT is recorded in microseconds).
LATENCY_TYPES = {"ttft_p95_ms": ("TTFT", 1.0), "e2e_p95_ms": ("E2E", 1.0), "tpot_p95_ms": ("TPOT_us", 0.001)}


@dataclass(frozen=True)
class HistoryWindow:
    """What Locust's history says about one window."""

    seconds: float
    turns: int  # turn requests ended in the window, failed ones included
    failures: int
    conversations: int  # first turns ended in the window
    p95_ms: dict[str, float]  # by LATENCY_TYPES key; failures as infinitely slow; NaN: no rows
    e2e_mean_s: float  # over successful turns
    output_tokens: float


class _Entry:
    """One entry's rows (one Type and Name), by time."""

    def __init__(self, rows: pd.DataFrame) -> None:
        rows = rows.sort_values("Timestamp", kind="stable")
        self.stamps = rows["Timestamp"].to_numpy(dtype=np.float64)
        self.totals = {column: rows[column].to_numpy(dtype=np.float64) for column in TOTALS}
        self.percentiles = rows[list(PERCENTILES)].to_numpy(dtype=np.float64)

    def _row(self, t: float) -> int:
        """The last row at or before t; -1 before the first."""
        return int(np.searchsorted(self.stamps, t, side="right")) - 1

    def total(self, column: str, t: float) -> float:
        row = self._row(t)
        return 0.0 if row < 0 else float(np.nan_to_num(self.totals[column][row]))

    def delta(self, column: str, begin: float, end: float) -> float:
        return self.total(column, end) - self.total(column, begin)

    def summed(self, column: str, begin: float, end: float) -> float:
        """Sum of an averaged Total column's values (average x count) over (begin, end]."""
        count = "Total Request Count"
        return self.total(column, end) * self.total(count, end) - self.total(column, begin) * self.total(count, begin)

    def component(self, t: float) -> tuple[float, FloatArray] | None:
        """(responses, percentile values) of the 10-s span Locust reported at the last row at or before t."""
        row = self._row(t)
        if row < 0:
            return None
        stamp = self.stamps[row]
        return self.delta("Total Request Count", stamp - SPAN_S, stamp), self.percentiles[row]


def missing(history: pd.DataFrame | None, path: Path) -> str | None:
    """Why Locust's history cannot give levels, for a user to act on; None when it can."""
    name = path / LOCUST_HISTORY_CSV
    if history is None:
        return f"no {name}: Locust's CSVs of a ramp need their history file (locust --csv ... --csv-full-history)"
    absent = [column for column in (*PERCENTILES, *TOTALS) if column not in history.columns]
    if absent:
        return f"{name}: column {absent[0]} is missing (expected Locust 2.47 --csv output)"
    if not ((history["Type"] == "E2E") & (history["Name"].str.strip() == FIRST_TURN)).any():
        return (
            f"{name} has no rows for the '{FIRST_TURN}' entries, which count the conversations started: record "
            f"with --csv-full-history (turnbench run does) and turnbench's locustfiles"
        )
    return None


def history_window(history: pd.DataFrame, path: Path, window: tuple[float, float]) -> HistoryWindow:
    """The window's counts and p95s, as the module docstring says."""
    problem = missing(history, path)
    if problem is not None:
        raise AnalysisError(problem)
    entries = _entries(history)
    begin, end = window
    chat = entries.get((HTTP_TYPE, HTTP_NAME))
    first = entries[("E2E", FIRST_TURN)]
    spans = _span_ends(begin, end)
    failures_by_span = [chat.delta("Total Failure Count", t - SPAN_S, t) if chat else 0.0 for t in spans]
    p95 = {}
    for key, (kind, factor) in LATENCY_TYPES.items():
        components = [found for (t_kind, _), entry in entries.items() if t_kind == kind
                      for found in (entry.component(t) for t in spans) if found is not None]  # fmt: skip
        p95[key] = _mixture_percentile(components, sum(failures_by_span), P95) * factor
    e2e = [entry for (kind, _), entry in entries.items() if kind == "E2E"]
    successes = sum(entry.delta("Total Request Count", begin, end) for entry in e2e)
    e2e_total_ms = sum(entry.summed("Total Average Response Time", begin, end) for entry in e2e)
    return HistoryWindow(
        seconds=end - begin,
        turns=round(chat.delta("Total Request Count", begin, end)) if chat else round(successes),
        failures=round(chat.delta("Total Failure Count", begin, end)) if chat else 0,
        conversations=round(first.delta("Total Request Count", begin, end)),
        p95_ms=p95,
        e2e_mean_s=e2e_total_ms / successes / 1000.0 if successes > 0 else math.nan,
        output_tokens=chat.summed("Total Average Content Size", begin, end) if chat else math.nan,
    )


def _entries(history: pd.DataFrame) -> dict[tuple[str, str], _Entry]:
    """The per-turn entries (any turn number or the branch entry) and the HTTP row, by (Type, Name)."""
    frame = history.assign(
        Type=history["Type"].fillna("").astype(str).str.strip(), Name=history["Name"].astype(str).str.strip()
    )
    for column in ("Timestamp", *TOTALS, *PERCENTILES):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    entries = {}
    for (kind, name), rows in frame.groupby(["Type", "Name"], sort=False):
        turn_entry = kind in ("TTFT", "E2E", "TPOT_us") and (turn_of(name) is not None or name == "branch")
        if turn_entry or (kind, name) == (HTTP_TYPE, HTTP_NAME):
            entries[(str(kind), str(name))] = _Entry(rows)
    return entries


def _span_ends(begin: float, end: float) -> list[float]:
    """Ends of the whole 10-s spans that fit in the window, from its end back; the end alone if none fits."""
    count = max(1, math.floor((end - begin) / SPAN_S + 1e-9))
    return [end - k * SPAN_S for k in range(count)]


def _mixture_percentile(components: list[tuple[float, FloatArray]], failures: float, q: float) -> float:
    """The nearest-rank q-percentile of every response of the components together, with `failures` more
    at +inf: inf when too many failed, NaN without responses. _rebuilt says what a component holds."""
    rebuilt = [_rebuilt(round(n), values) for n, values in components if round(n) > 0 and not np.isnan(values).any()]
    if not rebuilt:
        return math.inf if failures > 0 else math.nan
    pooled = np.sort(np.concatenate(rebuilt))
    rank = max(1, math.ceil(q * (len(pooled) + round(failures))))  # harness.client.measurement.nearest_rank
    return float(pooled[rank - 1]) if rank <= len(pooled) else math.inf


def _rebuilt(n: int, percentiles: FloatArray) -> FloatArray:
    """A span's n responses, as far as Locust's percentiles of them tell.

    Locust's p-percentile of n responses is the one at index int(n * p) of the sorted (bucketed)
    values, capped at n - 1 (stats.calculate_response_time_percentile), so each listed percentile is
    a known order statistic of the span. A rank between two named ones is interpolated between them.
    The ranks below the lowest named one (the median) are counted as fast (0 ms): such a response is
    among the window's slowest 5% only when most of its span is too, so little is lost, where
    counting it at the median would put the fast half of every small span among the slowest (a span
    of 2 reports only its slower one).
    """
    ranks = np.minimum((n * np.array(list(PERCENTILES.values()))).astype(np.int64), n - 1)
    known = np.maximum.accumulate(percentiles)  # Locust's percentiles never decrease; make sure
    every = np.arange(n)
    return np.where(every < ranks[0], 0.0, np.interp(every, ranks, known))
