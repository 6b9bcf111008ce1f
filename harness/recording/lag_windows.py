"""Judging the load generator by windows of the run, not by one percentile over all of it.

A spawn burst or a ramp step can spoil a fifth of the turns of a run whose lag p99 over the whole
run looks fine. So the run is cut into windows of `WINDOW_S` by turn start, and each window is
judged by its own turns: trusted while at most `MAX_FLAGGED_SHARE` of them (and never less than
one turn: a single pause is left out of the figures, not a verdict) were flagged as lagged
(harness.recording.turn_lag). The run's timings are trusted ("not saturated") only when
every window is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from harness.recording.run_dir import LagWindow

WINDOW_S = 10.0
MAX_FLAGGED_SHARE = 0.01


def lag_windows(rows: Iterable[dict[str, str]], run_started_at: float) -> list[LagWindow]:
    """One entry per window that had turns: when, how many turns, how many flagged, the worst stall."""
    windows: dict[int, LagWindow] = {}
    for row in rows:
        started = float(row["started_at"])
        index = max(0, math.floor((started - run_started_at) / WINDOW_S))
        window = windows.setdefault(
            index,
            {"start_s": index * WINDOW_S, "turns": 0, "flagged_turns": 0, "lag_max_ms": 0.0, "trusted": True},
        )
        window["turns"] += 1
        window["flagged_turns"] += row.get("lagged") == "True"
        window["lag_max_ms"] = max(window["lag_max_ms"], float(row.get("lag_ms") or 0.0))
    for window in windows.values():
        window["trusted"] = window["flagged_turns"] <= max(1.0, MAX_FLAGGED_SHARE * window["turns"])
    return [windows[i] for i in sorted(windows)]
