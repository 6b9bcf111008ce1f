"""Per-turn figures from Locust's own --csv files, when they are all there is (no requests.csv).

Locust's percentiles come from ~2-significant-digit buckets, so these figures are coarser than
those from requests.csv, and the report says so (analysis.reading.locust_csv.LIMITS). Branch
turns have entries of their own, named BRANCH_ENTRY, since they stopped counting under a turn number.
"""

from __future__ import annotations

import math

import pandas as pd

from analysis.figures.turns import ALL_TURNS, BRANCHES, TurnFigures
from analysis.reading.locust_csv import HTTP_NAME, HTTP_TYPE, turn_of

BRANCH_ENTRY = "branch"  # harness.plugin.turn_entries.BRANCH_NAME (analysis never imports Locust)


def turn_figures(stats: pd.DataFrame) -> list[TurnFigures]:
    """Per-turn rows from the TTFT / E2E / TPOT_us entries, then branches, then "all turns" from the
    HTTP row."""
    by_type: dict[str, dict[int | str, pd.Series]] = {}
    for _, row in stats.iterrows():
        key = BRANCHES if row["Name"].strip() == BRANCH_ENTRY else turn_of(row["Name"])
        if key is not None:
            by_type.setdefault(row["Type"], {})[key] = row
    keys = set().union(*(entries.keys() for entries in by_type.values())) if by_type else set()
    turns: list[int | str] = sorted(k for k in keys if isinstance(k, int))
    turns += [BRANCHES] if BRANCHES in keys else []
    rows = []
    for turn in turns:
        ttft = by_type.get("TTFT", {}).get(turn)
        e2e = by_type.get("E2E", {}).get(turn)
        tpot = by_type.get("TPOT_us", {}).get(turn)
        counted = e2e if e2e is not None else ttft
        rows.append(
            TurnFigures(
                group=str(turn),
                turn=turn if isinstance(turn, int) else None,
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
