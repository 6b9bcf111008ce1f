"""Per-turn figures: what a user waits for on turn 1, turn 2, ... of a conversation.

Latency percentiles (TTFT, TTFO, TPOT, ITL, E2E) are over successful turns only: a failed turn's
"E2E" is the time until the failure was noticed, which would mix two different things. They also
leave out turns flagged `lagged` (the load generator's event loop stalled beyond its limit during
the turn, so its timings include the client's own delay), and say how many (`lagged`). Failures
are counted in `failure_rate` over every turn, lagged or not. Percentiles are nearest-rank
(analysis.figures.percentiles); the cached share follows harness.recording.cached_rule.

A branch (regenerate, edit) resends an earlier prompt, mostly cached, under the next turn number:
the per-turn rows and "turns >= 2" count first asks only, branches have their own row, and
"all turns" holds both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.figures.percentiles import FloatArray, of_sorted, percentile, sorted_finite
from harness.recording import cached_rule

ALL_TURNS = "all turns"
LATER_TURNS = "turns >= 2"  # turn 1 carries only the shared context; later turns reuse the conversation
BRANCHES = "branches"  # regenerated answers and edited questions, whatever turn number they came at


@dataclass(frozen=True)
class TurnFigures:
    """One row of the per-turn table. NaN means "not reported" or "no successful turn"."""

    group: str  # "1", "2", ..., LATER_TURNS, BRANCHES, ALL_TURNS
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
    cached_share: float = math.nan  # sum(cached) / sum(prompt), over successful turns with prompt tokens
    failure_rate: float = math.nan
    lagged: int = 0  # successful turns left out of the latency percentiles: the load generator lagged


@dataclass(frozen=True)
class TurnGroup:
    """The requests of one turn (or of an aggregate), with sorted samples computed once and shared."""

    label: str
    turn: int | None
    rows: pd.DataFrame
    # Whether any turn of the whole run reported a cached figure (harness.recording.cached_rule.share).
    cache_reported: bool = True
    _sorted: dict[str, FloatArray] = field(default_factory=dict, compare=False, repr=False)

    def samples(self, column: str) -> FloatArray:
        """Ascending values of `column` over successful turns with trusted timings, missing ones dropped."""
        if column not in self._sorted:
            values = self.rows[column].to_numpy(dtype=np.float64)
            self._sorted[column] = sorted_finite(values[self.rows["ok"].to_numpy() & ~lagged(self.rows)])
        return self._sorted[column]


def lagged(requests: pd.DataFrame) -> np.ndarray:
    """Per row: the load generator lagged during the turn (False for runs from before the flag)."""
    return requests["lagged"].to_numpy(dtype=bool) if "lagged" in requests else np.zeros(len(requests), dtype=bool)


def branches(requests: pd.DataFrame) -> np.ndarray:
    """Per row: the turn is a branch (regenerate, edit), not a first ask."""
    if "branch_kind" not in requests:
        return np.zeros(len(requests), dtype=bool)
    kind = requests["branch_kind"]
    return (kind.notna() & (kind.astype(str) != "")).to_numpy()


def turn_groups(requests: pd.DataFrame) -> list[TurnGroup]:
    """One group per turn number (first asks), LATER_TURNS (when there is a turn >= 2), BRANCHES
    (when there is one), then ALL_TURNS."""
    reported = bool(requests["cached_tokens"].notna().any())
    branch = branches(requests)
    first = requests[~branch]
    groups = [TurnGroup(str(turn), int(turn), rows, reported) for turn, rows in first.groupby("turn", sort=True)]
    later = first[first["turn"] >= 2]
    if len(later) and len(later) < len(first):
        groups.append(TurnGroup(LATER_TURNS, None, later, reported))
    if branch.any():
        groups.append(TurnGroup(BRANCHES, None, requests[branch], reported))
    groups.append(TurnGroup(ALL_TURNS, None, requests, reported))
    return groups


def figures(group: TurnGroup) -> TurnFigures:
    ttft = group.samples("ttft_ms")
    e2e = group.samples("e2e_ms")
    rows = group.rows
    ok = rows["ok"].to_numpy()
    prompt = rows["prompt_tokens"].to_numpy(dtype=np.float64)
    cached = rows["cached_tokens"].to_numpy(dtype=np.float64)
    counted = ok & ~np.isnan(prompt)  # cached_rule.counts; an empty cached cell counts 0 (cached_rule.share)
    share = cached_rule.share(float(np.nansum(cached[counted])), float(prompt[counted].sum()), group.cache_reported)
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
        prompt_tokens_p50=percentile(prompt[ok], 0.50),  # not a timing: lagged turns count
        cached_share=math.nan if share is None else share,
        failure_rate=1.0 - float(rows["ok"].mean()),
        lagged=int((ok & lagged(rows)).sum()),
    )
