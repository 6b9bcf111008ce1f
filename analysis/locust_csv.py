"""Locust's own --csv files: reading them, and per-turn figures when they are all there is.

The harness (harness.turn_stats) fires one Locust entry per turn and metric: Type "TTFT" and "E2E"
in milliseconds, "TPOT_us" in microseconds (Locust's CSV percentiles are whole numbers, so TPOT
would lose its digits in ms), Name "turn 01", "turn 02", ... Those entries are fired for
successful turns only, so failures are known for all turns together, from the HTTP row: Type
"POST", Name "chat", whose response time is E2E and whose response_length is completion tokens
(harness.client), so its "Average Content Size" is output tokens per turn. Locust's percentiles
come from ~2-significant-digit buckets (notes/locust.md §3): they are used only when no
requests.csv exists, and the report says so.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from analysis.csv_tables import read_locust_csv
from analysis.turns import ALL_TURNS, TurnFigures

STATS_COLUMNS = (
    "Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Content Size",
    "Requests/s", "50%", "90%", "95%", "99%",
)  # fmt: skip
HISTORY_COLUMNS = ("Timestamp", "User Count", "Type", "Name", "Requests/s", "95%")
TURN_NAME = re.compile(r"(?:^|\W)turn (\d+)$")
HTTP_TYPE, HTTP_NAME = "POST", "chat"

LIMITS = (
    "Locust-CSV-only mode: no requests.csv, so there are no cached-token shares, TTFO, ITL or prompt tokens; "
    "failures are known only over all turns; "
    "no per-conversation figures (durations, SLO share, cost per conversation, capacity); no confidence "
    "intervals; and every percentile is Locust's bucketed one (about 2 significant digits), not a raw value."
)


def read_stats(path: Path) -> pd.DataFrame:
    frame = read_locust_csv(path, STATS_COLUMNS)
    frame["Type"] = frame["Type"].fillna("").astype(str)
    frame["Name"] = frame["Name"].fillna("").astype(str)
    return frame


def read_history(path: Path) -> pd.DataFrame:
    frame = read_locust_csv(path, HISTORY_COLUMNS)
    frame["Name"] = frame["Name"].fillna("").astype(str)
    return frame


def turn_of(name: str) -> int | None:
    match = TURN_NAME.search(name.strip())
    return int(match.group(1)) if match else None


def turn_figures(stats: pd.DataFrame) -> list[TurnFigures]:
    """Per-turn rows from the TTFT / E2E / TPOT_us entries, plus "all turns" from the HTTP row."""
    by_type: dict[str, dict[int, pd.Series]] = {}
    for _, row in stats.iterrows():
        turn = turn_of(row["Name"])
        if turn is not None:
            by_type.setdefault(row["Type"], {})[turn] = row
    turns = sorted(set().union(*(entries.keys() for entries in by_type.values())) if by_type else set())
    rows = []
    for turn in turns:
        ttft = by_type.get("TTFT", {}).get(turn)
        e2e = by_type.get("E2E", {}).get(turn)
        tpot = by_type.get("TPOT_us", {}).get(turn)
        counted = e2e if e2e is not None else ttft
        rows.append(
            TurnFigures(
                group=str(turn),
                turn=turn,
                n=_int(counted, "Request Count"),  # successful turns: failed ones fire no per-turn row
                ttft_p50_ms=_value(ttft, "50%"),
                ttft_p90_ms=_value(ttft, "90%"),
                ttft_p99_ms=_value(ttft, "99%"),
                tpot_p50_ms=_value(tpot, "50%") / 1000.0,
                e2e_p50_ms=_value(e2e, "50%"),
                e2e_p95_ms=_value(e2e, "95%"),
            )
        )
    http = stats[(stats["Type"] == HTTP_TYPE) & (stats["Name"] == HTTP_NAME)]
    if len(http):
        row = http.iloc[0]
        # The HTTP request's response time is the turn's E2E, so its percentiles are the all-turn E2E.
        rows.append(
            TurnFigures(
                group=ALL_TURNS,
                turn=None,
                n=_int(row, "Request Count"),
                e2e_p50_ms=_value(row, "50%"),
                e2e_p95_ms=_value(row, "95%"),
                failure_rate=_failure_rate(row),
            )
        )
    return rows


def output_tokens(stats: pd.DataFrame) -> float:
    """Total completion tokens: the HTTP row's requests x average content size (tokens per turn)."""
    http = stats[(stats["Type"] == HTTP_TYPE) & (stats["Name"] == HTTP_NAME)]
    if not len(http):
        return math.nan
    row = http.iloc[0]
    return _value(row, "Request Count") * _value(row, "Average Content Size")


def _value(row: pd.Series | None, column: str) -> float:
    if row is None:
        return math.nan
    value = pd.to_numeric(row[column], errors="coerce")
    return math.nan if pd.isna(value) else float(value)


def _int(row: pd.Series | None, column: str) -> int:
    value = _value(row, column)
    return 0 if math.isnan(value) else int(value)


def _failure_rate(row: pd.Series | None) -> float:
    requests = _value(row, "Request Count")
    return _value(row, "Failure Count") / requests if requests > 0 else math.nan
