"""Per-conversation figures: how long a whole conversation took, and how many met the SLO.

A conversation meets the SLO when its status is "complete" and every one of its turns is ok with
ttft_ms and e2e_ms within the SLO (a turn with no TTFT does not meet it). The SLO share is over
finished conversations (complete or failed); interrupted ones were cut by the end of the run, not
by the engine, so they count in neither numerator nor denominator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.figures.percentiles import percentile
from harness.slo import Slo


@dataclass(frozen=True)
class ConversationFigures:
    finished: int  # complete + failed
    complete: int
    failed: int
    interrupted: int
    duration_p50_s: float  # over complete conversations
    duration_p90_s: float
    turns_p50: float  # turns done, over complete conversations
    slo_met: int
    slo_share: float  # slo_met / finished


def slo_turns(requests: pd.DataFrame, slo: Slo) -> np.ndarray:
    """Per request row: it succeeded within the latency bounds (NaN TTFT compares False, as it should).

    TPOT is undefined for a one-token answer (NaN), which cannot miss a TPOT bound.
    """
    ttft = requests["ttft_ms"].to_numpy(dtype=np.float64)
    e2e = requests["e2e_ms"].to_numpy(dtype=np.float64)
    result: np.ndarray = requests["ok"].to_numpy() & (ttft <= slo.ttft_ms) & (e2e <= slo.e2e_ms)
    if slo.tpot_p95_ms is not None:
        tpot = requests["tpot_ms"].to_numpy(dtype=np.float64)
        result &= np.isnan(tpot) | (tpot <= slo.tpot_ms)
    return result


def slo_conversations(requests: pd.DataFrame, conversations: pd.DataFrame, slo: Slo) -> pd.Series:
    """Per conversation row: complete, and every turn met the SLO."""
    per_turn = pd.Series(slo_turns(requests, slo), index=requests.index)
    all_met = per_turn.groupby(requests["conversation_id"], observed=True).all()
    met_ids = all_met.index[all_met.to_numpy()].astype(str)
    complete = (conversations["status"] == "complete").to_numpy()
    return pd.Series(complete & conversations["conversation_id"].isin(met_ids).to_numpy(), index=conversations.index)


def conversation_figures(requests: pd.DataFrame, conversations: pd.DataFrame, slo: Slo) -> ConversationFigures:
    status = conversations["status"]
    complete = conversations[(status == "complete").to_numpy()]
    failed = int((status == "failed").sum())
    durations = (complete["ended_at"] - complete["started_at"]).to_numpy(dtype=np.float64)
    met = int(slo_conversations(requests, conversations, slo).sum())
    finished = len(complete) + failed
    return ConversationFigures(
        finished=finished,
        complete=len(complete),
        failed=failed,
        interrupted=int((status == "interrupted").sum()),
        duration_p50_s=percentile(durations, 0.50),
        duration_p90_s=percentile(durations, 0.90),
        turns_p50=percentile(complete["turns_done"].to_numpy(dtype=np.float64), 0.50),
        slo_met=met,
        slo_share=met / finished if finished else math.nan,
    )
