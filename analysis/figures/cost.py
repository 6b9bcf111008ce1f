"""The cost model: dollars per conversation, per million output tokens, per SLO-meeting conversation.

- Pod: the pod bills every hour it is up, busy or not: usd_per_hour x measured window hours.
- Serverless: a worker bills per GPU-second while it is alive, and it stays alive `idle_timeout_s`
  after its last request: usd_per_gpu_second x gpu_count x busy seconds, where busy time is the
  union of the request intervals [started_at, started_at + e2e + idle timeout]. Cold starts are
  inside E2E of the turns that waited for them, so they are billed too.
Output tokens are every completion token the server reported, failed turns included (they cost too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.figures import locust_turns
from analysis.figures.percentiles import FloatArray
from analysis.figures.prices import Price
from analysis.reading.load import Run

DEFAULT_IDLE_TIMEOUT_S = 5.0  # Runpod serverless default idle timeout


@dataclass(frozen=True)
class CostFigures:
    price: Price
    window_s: float  # the measured window
    billed_s: float  # pod: the window; serverless: busy seconds (per worker, before x gpu_count)
    total_usd: float
    conversations_completed: int | None  # None in Locust-CSV-only mode
    conversations_per_hour: float
    output_tokens: float
    usd_per_conversation: float
    usd_per_million_output_tokens: float
    slo_conversations: int | None
    usd_per_slo_conversation: float


def busy_seconds(
    starts: FloatArray, durations: FloatArray, idle_timeout_s: float, within: tuple[float, float] | None = None
) -> float:
    """Length of the union of [start, start + duration + idle], optionally clipped to `within`."""
    if len(starts) == 0:
        return 0.0
    order = np.argsort(starts, kind="stable")
    begin = starts[order]
    end = begin + durations[order] + idle_timeout_s
    reach = np.maximum.accumulate(end)
    opens = np.empty(len(begin), dtype=bool)
    opens[0] = True
    opens[1:] = begin[1:] > reach[:-1]  # an interval starting after everything before it has ended
    first = np.flatnonzero(opens)
    block_begin = begin[first]
    block_end = np.maximum.reduceat(end, first)
    if within is not None:
        block_begin = np.maximum(block_begin, within[0])
        block_end = np.minimum(block_end, within[1])
    return float(np.clip(block_end - block_begin, 0.0, None).sum())


def request_intervals(run: Run) -> tuple[FloatArray, FloatArray]:
    """Start (epoch s) and duration (s) of every request, failed ones included (they held the GPU)."""
    assert run.requests is not None
    starts = run.requests["started_at"].to_numpy(dtype=np.float64)
    durations = run.requests["e2e_ms"].to_numpy(dtype=np.float64) / 1000.0
    return starts, np.nan_to_num(durations)


def price_window(
    price: Price,
    window: tuple[float, float],
    intervals: tuple[FloatArray, FloatArray] | None,
    idle_timeout_s: float,
    clip: bool,
) -> tuple[float, float]:
    """(billed seconds, dollars) of a window, by the module's price model; NaN, NaN for serverless
    without request intervals (Locust-CSV-only). `clip` keeps busy time inside the window: a ramp
    level pays for its own seconds, while the whole run also pays the idle tail after its end."""
    if price.kind == "pod":
        billed_s = max(0.0, window[1] - window[0])
        return billed_s, price.usd_per_hour * billed_s / 3600.0
    if intervals is None:
        return math.nan, math.nan
    billed_s = busy_seconds(*intervals, idle_timeout_s, window if clip else None)
    return billed_s, price.usd_per_gpu_second * price.gpu_count * billed_s


def cost_figures(run: Run, price: Price, idle_timeout_s: float, slo_conversations: int | None) -> CostFigures:
    start = run.measured_window()[0]
    window_s = run.measured_seconds()  # runs combined into one are billed for their own windows, not the gaps
    intervals = request_intervals(run) if run.requests is not None else None
    billed_s, total = price_window(price, (start, start + window_s), intervals, idle_timeout_s, clip=False)
    completed: int | None = None
    if run.conversations is not None:
        completed = int((run.conversations["status"] == "complete").sum())
    if run.requests is not None:
        tokens = float(np.nansum(run.requests["completion_tokens"].to_numpy(dtype=np.float64)))
    else:
        tokens = locust_turns.output_tokens(run.locust_stats) if run.locust_stats is not None else math.nan
    return CostFigures(
        price=price,
        window_s=window_s,
        billed_s=billed_s,
        total_usd=total,
        conversations_completed=completed,
        conversations_per_hour=completed / (window_s / 3600.0) if completed is not None and window_s > 0 else math.nan,
        output_tokens=tokens,
        usd_per_conversation=_per(total, completed),
        usd_per_million_output_tokens=total / tokens * 1e6 if tokens > 0 else math.nan,
        slo_conversations=slo_conversations,
        usd_per_slo_conversation=_per(total, slo_conversations),
    )


def _per(total: float, count: int | None) -> float:
    return total / count if count else math.nan
