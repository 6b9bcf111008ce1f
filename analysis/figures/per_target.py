"""Everything the report says about one target, computed once from its run directory."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.figures import locust_turns
from analysis.figures.conversations import ConversationFigures, conversation_figures
from analysis.figures.cost import CostFigures, cost_figures
from analysis.figures.percentiles import percentile
from analysis.figures.prices import Price
from analysis.figures.ramp import Ramp, ramp_figures
from analysis.figures.turns import TurnFigures, TurnGroup, figures, turn_groups
from analysis.reading.load import Run
from harness.slo import Slo

# Shared names the scraper gives engine metrics (harness.recording.run_dir.SERVER_METRIC_COLUMNS), in report order.
SERVER_METRICS = ("cache_hit_rate", "kv_usage", "running", "waiting")


@dataclass(frozen=True)
class ServerMetric:
    name: str
    last: float
    peak: float


@dataclass(frozen=True)
class TargetAnalysis:
    run: Run
    groups: tuple[TurnGroup, ...]  # raw samples by turn; empty in Locust-CSV-only mode
    turns: tuple[TurnFigures, ...]
    conversations: ConversationFigures | None
    cost: CostFigures
    ramp: Ramp | None
    server: tuple[ServerMetric, ...]
    completion_tokens_p50: float  # realised output length, for the output-parity check

    @property
    def label(self) -> str:
        return self.run.label


def analyse(run: Run, slo: Slo, price: Price, idle_timeout_s: float) -> TargetAnalysis:
    if run.requests is None:
        stats = run.locust_stats
        turns = tuple(locust_turns.turn_figures(stats)) if stats is not None else ()
        return TargetAnalysis(run, (), turns, None, cost_figures(run, price, idle_timeout_s, None), None, (), math.nan)
    groups = tuple(turn_groups(run.requests))
    conversations = (
        conversation_figures(run.requests, run.conversations, slo) if run.conversations is not None else None
    )
    ok = run.requests["ok"].to_numpy()
    return TargetAnalysis(
        run=run,
        groups=groups,
        turns=tuple(figures(group) for group in groups),
        conversations=conversations,
        cost=cost_figures(run, price, idle_timeout_s, conversations.slo_met if conversations else None),
        ramp=ramp_figures(run, price, slo, idle_timeout_s),
        server=_server_metrics(run.server_metrics),
        completion_tokens_p50=percentile(run.requests["completion_tokens"].to_numpy(dtype=np.float64)[ok], 0.5),
    )


def _server_metrics(metrics: pd.DataFrame | None) -> tuple[ServerMetric, ...]:
    """Last and peak value of each shared engine metric, summed over label sets at each scrape."""
    if metrics is None:
        return ()
    found = []
    for name in SERVER_METRICS:
        rows = metrics[(metrics["common"] == name).to_numpy()]
        if rows.empty:
            continue
        # cache_hit_rate and kv_usage are ratios; summing label sets is right only for counts.
        how = "mean" if name in ("cache_hit_rate", "kv_usage") else "sum"
        series = rows.groupby("time")["value"].agg(how).sort_index()
        found.append(ServerMetric(name, float(series.iloc[-1]), float(series.max())))
    return tuple(found)
