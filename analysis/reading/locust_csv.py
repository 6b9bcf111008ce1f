"""Locust's own --csv files: reading them (the figures from them are analysis.figures.locust_turns).

The harness (harness.plugin.turn_entries) fires one Locust entry per turn and metric: Type "TTFT" and "E2E"
in milliseconds, "TPOT_us" in microseconds (Locust's CSV percentiles are whole numbers, so TPOT
would lose its digits in ms), Name "turn 01", "turn 02", ... Those entries are fired for
successful turns only, so failures are known for all turns together, from the HTTP row: Type
"POST", Name "chat", whose response time is E2E and whose response_length is completion tokens
(harness.client.chat_client), so its "Average Content Size" is output tokens per turn. Locust's percentiles
come from ~2-significant-digit buckets (notes/locust.md §3): they are used only when no
requests.csv exists, and the report says so.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analysis.reading.csv_tables import read_locust_csv

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
