"""Per-turn figures: what a user waits for on turn 1, turn 2, ... of a conversation.

Latency percentiles (TTFT, TTFO, TPOT, ITL, E2E) are over successful turns only: a failed turn's
"E2E" is the time until the failure was noticed, which would mix two different things. Failures
are counted in `failure_rate` over every turn. Percentiles are nearest-rank (analysis.figures.percentiles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.figures.percentiles import FloatArray, of_sorted, sorted_finite

ALL_TURNS = "all turns"
LATER_TURNS = "turns >= 2"  # turn 1 carries only the shared context; later turns reuse the conversation


@dataclass(frozen=True)
class TurnFigures:
    """One row of the per-turn table. NaN means "not reported" or "no successful turn"."""

    group: str  # "1", "2", ..., LATER_TURNS, ALL_TURNS
    turn: int | None  # None for the aggregate rows
    n: int  # every turn request, failed ones included
    ttft_p50_ms: float = math.nan
    ttft_p90_ms: float = math.nan
    ttft_p99_ms: float = math.nan
    ttfo_p50_ms: float = math.nan
    tpot_p50_ms: float = math.nan
    itl_p99_ms: float = math.nan  # p50 over requests of each request's own ITL p99
    e2e_p50_ms: float = math.nan
    e2e_p95_ms: float = math.nan
    prompt_tokens_p50: float = math.nan
    cached_share: float = math.nan  # sum(cached) / sum(prompt), over turns that reported both
    failure_rate: float = math.nan


@dataclass(frozen=True)
class TurnGroup:
    """The requests of one turn (or of an aggregate), with sorted samples computed once and shared."""

    label: str
    turn: int | None
    rows: pd.DataFrame
    _sorted: dict[str, FloatArray] = field(default_factory=dict, compare=False, repr=False)

    def samples(self, column: str) -> FloatArray:
        """Ascending values of `column` over successful turns, missing ones dropped."""
        if column not in self._sorted:
            values = self.rows[column].to_numpy(dtype=np.float64)
            self._sorted[column] = sorted_finite(values[self.rows["ok"].to_numpy()])
        return self._sorted[column]


def turn_groups(requests: pd.DataFrame) -> list[TurnGroup]:
    """One group per turn number, then LATER_TURNS (when there is a turn >= 2), then ALL_TURNS."""
    groups = [TurnGroup(str(turn), int(turn), rows) for turn, rows in requests.groupby("turn", sort=True)]
    later = requests[requests["turn"] >= 2]
    if len(later) and len(later) < len(requests):
        groups.append(TurnGroup(LATER_TURNS, None, later))
    groups.append(TurnGroup(ALL_TURNS, None, requests))
    return groups


def figures(group: TurnGroup) -> TurnFigures:
    ttft = group.samples("ttft_ms")
    e2e = group.samples("e2e_ms")
    rows = group.rows
    prompt = rows["prompt_tokens"].to_numpy(dtype=np.float64)
    cached = rows["cached_tokens"].to_numpy(dtype=np.float64)
    both = ~np.isnan(prompt) & ~np.isnan(cached)
    prompt_sum = float(prompt[both].sum())
    return TurnFigures(
        group=group.label,
        turn=group.turn,
        n=len(rows),
        ttft_p50_ms=of_sorted(ttft, 0.50),
        ttft_p90_ms=of_sorted(ttft, 0.90),
        ttft_p99_ms=of_sorted(ttft, 0.99),
        ttfo_p50_ms=of_sorted(group.samples("ttfo_ms"), 0.50),
        tpot_p50_ms=of_sorted(group.samples("tpot_ms"), 0.50),
        itl_p99_ms=of_sorted(group.samples("itl_p99_ms"), 0.50),
        e2e_p50_ms=of_sorted(e2e, 0.50),
        e2e_p95_ms=of_sorted(e2e, 0.95),
        prompt_tokens_p50=of_sorted(group.samples("prompt_tokens"), 0.50),
        cached_share=float(cached[both].sum()) / prompt_sum if prompt_sum > 0 else math.nan,
        failure_rate=1.0 - float(rows["ok"].mean()),
    )
