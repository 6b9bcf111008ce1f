"""Everything the report says about one target, computed once from its run directory."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.figures import locust_turns
from analysis.figures.capacity.estimate import Capacity
from analysis.figures.capacity.traffic_cost import TrafficCost
from analysis.figures.conversations import ConversationFigures, conversation_figures
from analysis.figures.cost import CostFigures, cost_figures
from analysis.figures.percentiles import of_sorted, percentile
from analysis.figures.prices import Price
from analysis.figures.turns import ALL_TURNS, TurnFigures, TurnGroup, figures, turn_groups
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
class ConnectionFigures:
    """How many turns opened a connection inside their TTFT, and what TTFT was without it.

    Every user's first turn opens one. A later turn opens one when the server closed the kept-alive
    connection while the person thought (vLLM and SGLang close it after 5 s idle), so the share on
    turns >= 2 is the one that says how much of TTFT is connecting rather than serving. NaN: no turn.
    """

    group: str  # "1", or an aggregate row of analysis.figures.turns (LATER_TURNS, BRANCHES, ALL_TURNS)
    n: int  # every turn of the group, failed ones included
    new_share: float  # of those, turns that opened a new connection
    connect_p50_ms: float  # over successful turns that opened one
    connect_p95_ms: float
    ttft_p50_ms: float  # as measured: a reconnect is inside TTFT
    ttft_p95_ms: float
    ttft_without_connect_p50_ms: float  # each turn's TTFT minus its own connect_ms
    ttft_without_connect_p95_ms: float


@dataclass(frozen=True)
class TargetAnalysis:
    run: Run
    groups: tuple[TurnGroup, ...]  # raw samples by turn; empty in Locust-CSV-only mode
    turns: tuple[TurnFigures, ...]
    conversations: ConversationFigures | None
    cost: CostFigures
    server: tuple[ServerMetric, ...]
    completion_tokens_p50: float  # realised output length, for the output-parity check
    connections: tuple[ConnectionFigures, ...] = ()  # empty: the run did not record connections
    capacity: Capacity | None = None  # None: no load level was measured
    traffic: TrafficCost | None = None  # what the stated traffic costs here; None without --traffic
    cost_curve: tuple[tuple[float, float], ...] = ()  # (traffic in conversations/hour, USD per month)

    @property
    def label(self) -> str:
        return self.run.label

    @property
    def lagged_turns(self) -> int:
        """Successful turns left out of every latency figure: the load generator lagged during them."""
        return next((row.lagged for row in self.turns if row.group == ALL_TURNS), 0)


def analyse(run: Run, slo: Slo, price: Price, idle_timeout_s: float) -> TargetAnalysis:
    if run.requests is None:
        stats = run.locust_stats
        turns = tuple(locust_turns.turn_figures(stats)) if stats is not None else ()
        return TargetAnalysis(run, (), turns, None, cost_figures(run, price, idle_timeout_s, None), (), math.nan)
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
        server=_server_metrics(run.server_metrics),
        completion_tokens_p50=percentile(run.requests["completion_tokens"].to_numpy(dtype=np.float64)[ok], 0.5),
        connections=connection_figures(run.requests, groups),
    )


def connection_figures(requests: pd.DataFrame, groups: Sequence[TurnGroup]) -> tuple[ConnectionFigures, ...]:
    """Turn 1 and the aggregate rows (turns >= 2, branches, all turns); () for a run from before
    connections were recorded.

    An empty new_connection cell reads as False, so such a run would seem to reuse every
    connection; but every user's first turn opens one, so a run that recorded them has one True.
    """
    if not requests["new_connection"].any():
        return ()
    return tuple(_connections_of(g) for g in groups if g.turn in (None, 1))


def _connections_of(group: TurnGroup) -> ConnectionFigures:
    rows = group.rows
    new = rows["new_connection"].to_numpy(dtype=bool)
    connect = rows["connect_ms"].to_numpy(dtype=np.float64)
    # Derived columns in a group of their own, so they are filtered as the per-turn figures are.
    derived = TurnGroup(
        group.label,
        group.turn,
        rows.assign(
            new_connect_ms=np.where(new, connect, np.nan),
            ttft_without_connect_ms=rows["ttft_ms"].to_numpy(dtype=np.float64) - np.where(new, connect, 0.0),
        ),
    )
    connects, ttft = derived.samples("new_connect_ms"), group.samples("ttft_ms")
    without = derived.samples("ttft_without_connect_ms")
    return ConnectionFigures(
        group=group.label,
        n=len(rows),
        new_share=float(new.mean()) if len(rows) else math.nan,
        connect_p50_ms=of_sorted(connects, 0.50),
        connect_p95_ms=of_sorted(connects, 0.95),
        ttft_p50_ms=of_sorted(ttft, 0.50),
        ttft_p95_ms=of_sorted(ttft, 0.95),
        ttft_without_connect_p50_ms=of_sorted(without, 0.50),
        ttft_without_connect_p95_ms=of_sorted(without, 0.95),
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
