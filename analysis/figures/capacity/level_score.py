"""Judging one load level: its figures, its score against the SLO, the bound that decided, and how sure it is.

A level's figures are over the turns started in its measured window. A failed turn and a turn the
load generator lagged on are *misses*: they enter every p95 as infinitely slow (so more than 5%
misses make every p95 infinite), never as missing. A turn that succeeded without a value (no TPOT
for a one-token answer) is left out of that percentile only. The failure rate is over every turn.

score = the largest of figure / bound over the SLO's set bounds, and of the late-start share /
MAX_LATE_SHARE: a level whose conversations started late did not offer its load, so it cannot have
held it. score > 1 fails. The bootstrap resamples conversations (a conversation's turns share its
context and its person, so they are not independent): RESAMPLES draws with a fixed seed, each a
multiset of conversations given as per-conversation weights, every figure recomputed on it at once
in numpy (a weighted nearest-rank percentile is the rank-ceil(q * total weight) turn of the sorted
values), so 20,000 turns take a fraction of a second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis import formats as fmt
from analysis.figures.percentiles import FloatArray, of_sorted
from harness.recording.run_dir import LATE_START_S
from harness.slo import Slo

P95 = 0.95  # every latency bound of the SLO is on a 95th percentile (harness.slo)
LATE_START_MS = LATE_START_S * 1000.0  # a conversation begun later than this after its arrival time is late
MAX_LATE_SHARE = 0.01  # more late starts than this and the level did not offer the load it names
RESAMPLES = 200  # the interval only has to say which side of 1 the score is on; 200 keep 20k turns fast
SEED = 20261114  # fixed: the same run directories always give the same intervals
CONFIDENCE = 0.95
MIN_CONVERSATIONS = 10  # below this no interval is claimed: (0, inf), so the verdict is never "clear"
LATENCY = {"ttft_p95_ms": "TTFT p95", "tpot_p95_ms": "TPOT p95", "e2e_p95_ms": "E2E p95"}
FIGURES = (*LATENCY, "failure_rate", "late_share")

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class LevelSample:
    """The turns of one level's window, by conversation: what the score and its bootstrap are computed from."""

    conversation: IntArray  # per turn: index of its conversation, 0 .. conversations - 1
    latency: Mapping[str, FloatArray]  # per turn, by LATENCY key: inf for a miss, NaN for "not reported"
    failed: BoolArray  # per turn
    started: BoolArray  # per conversation: its first turn is in the window (it counts for late starts)
    late: BoolArray  # per conversation: started, and more than LATE_START_MS after its arrival
    conversations: int

    @property
    def turns(self) -> int:
        return len(self.conversation)


@dataclass(frozen=True)
class Judgement:
    figures: dict[str, float]  # FIGURES, point estimates
    score: float
    score_low: float
    score_high: float
    why: str


def sample_of(conversation: IntArray, latency: Mapping[str, FloatArray], ok: BoolArray, lagged: BoolArray,
              first: BoolArray, late: BoolArray, conversations: int) -> LevelSample:  # fmt: skip
    """Per-turn columns into a sample: misses become inf; `first` and `late` are per turn (turn 1 rows)."""
    missed = ~ok | lagged
    slow = {key: np.where(missed, np.inf, values) for key, values in latency.items()}
    started = np.bincount(conversation[first], minlength=conversations) > 0
    late_conversations = np.bincount(conversation[first & late], minlength=conversations) > 0
    return LevelSample(conversation, slow, ~ok, started, late_conversations, conversations)


def judge(sample: LevelSample, slo: Slo, bootstrap: bool = True) -> Judgement:
    """Point figures and score of the whole window; with `bootstrap`, the score's interval over conversations."""
    ones = np.ones((1, sample.conversations), dtype=np.int32)
    figures = {key: float(values[0]) for key, values in weighted_figures(sample, ones).items()}
    score = score_of(figures, slo)
    low = high = score
    if bootstrap and sample.conversations < MIN_CONVERSATIONS:
        low, high = 0.0, math.inf
    elif bootstrap:
        scores = np.sort(bootstrap_scores(sample, slo))
        tail = (1.0 - CONFIDENCE) / 2.0
        low, high = of_sorted(scores, tail), of_sorted(scores, 1.0 - tail)
    return Judgement(figures, score, low, high, why(figures, slo, sample.turns))


def resample_weights(conversations: int, resamples: int, rng: np.random.Generator) -> npt.NDArray[np.int32]:
    """How many times each conversation is drawn in each resample: (resamples, conversations)."""
    draws = rng.integers(0, conversations, size=(resamples, conversations))
    flat = (draws + np.arange(resamples)[:, None] * conversations).ravel()
    counts = np.bincount(flat, minlength=resamples * conversations)
    return counts.reshape(resamples, conversations).astype(np.int32)


def bootstrap_scores(sample: LevelSample, slo: Slo, resamples: int = RESAMPLES) -> FloatArray:
    weights = resample_weights(sample.conversations, resamples, np.random.default_rng(SEED))
    figures = weighted_figures(sample, weights, keys=slo.bounds)
    scores = np.zeros(resamples)
    for key, values in figures.items():
        scores = np.maximum(scores, _ratio(values, _bound(key, slo)))
    return scores


def weighted_figures(sample: LevelSample, weights: npt.NDArray[np.int32],
                     keys: Mapping[str, object] | None = None) -> dict[str, FloatArray]:  # fmt: skip
    """Every figure (or those in `keys`, plus late_share) for each row of conversation weights."""
    wanted = [key for key in FIGURES if keys is None or key in keys or key == "late_share"]
    out: dict[str, FloatArray] = {}
    turns = np.bincount(sample.conversation, minlength=sample.conversations).astype(np.float64)
    drawn = weights.astype(np.float64)
    for key in wanted:
        if key in LATENCY:
            out[key] = _weighted_percentile(sample.latency[key], sample.conversation, weights, P95)
        elif key == "failure_rate":
            failed = np.bincount(sample.conversation, weights=sample.failed, minlength=sample.conversations)
            out[key] = _share(drawn @ failed, drawn @ turns)
        else:
            late = _share(drawn @ sample.late.astype(np.float64), drawn @ sample.started.astype(np.float64))
            out[key] = np.nan_to_num(late)  # no conversation started in the window: none started late
    return out


def score_of(figures: Mapping[str, float], slo: Slo) -> float:
    """max of figure / bound; a bound on a figure that is not there fails (inf), as harness.slo.level_met."""
    parts = [float(_ratio(np.array([figures[key]]), bound)[0]) for key, bound in _bounds(slo).items()]
    return max(parts)


def why(figures: Mapping[str, float], slo: Slo, turns: int) -> str:
    """The figure that decided the score, against its bound: "TTFT p95 2,340 ms > 2,000 ms"."""
    if turns == 0:
        return "no turn started in the measured window"
    bounds = _bounds(slo)
    ratios = {key: float(_ratio(np.array([figures[key]]), bound)[0]) for key, bound in bounds.items()}
    key = max(ratios, key=lambda k: ratios[k])  # the first of equals, in FIGURES order
    value, bound, over = figures[key], bounds[key], ratios[key] > 1.0
    sign = ">" if over else "<="
    if key == "late_share":
        return f"{value:.1%} of conversations started over {LATE_START_MS / 1000:g} s late {sign} {bound:.0%}" + (
            ": the load was not offered" if over else ""
        )
    if key == "failure_rate":
        return f"failure rate {value:.1%} {sign} {bound:.1%}"
    name = LATENCY[key]
    if math.isnan(value):
        return f"{name} not measured (bound {bound:,g} ms)"
    if math.isinf(value):
        missed = figures["failure_rate"]
        return f"{name} infinite: more than {1 - P95:.0%} of turns missed (failed or lagged; {missed:.1%} failed)"
    return f"{name} {fmt.ms(value)} ms {sign} {bound:,g} ms"


def _bounds(slo: Slo) -> dict[str, float]:
    return {**{key: slo.bounds[key] for key in FIGURES if key in slo.bounds}, "late_share": MAX_LATE_SHARE}


def _bound(key: str, slo: Slo) -> float:
    return _bounds(slo)[key]


def _ratio(values: FloatArray, bound: float) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values / bound
    return np.where(np.isnan(ratio), np.inf, ratio)


def _share(part: FloatArray, whole: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(whole > 0, part / whole, np.nan)


def _weighted_percentile(values: FloatArray, conversation: IntArray, weights: npt.NDArray[np.int32],
                         q: float) -> FloatArray:  # fmt: skip
    """Nearest-rank q-percentile of each resample, every turn counted as often as its conversation was drawn."""
    keep = ~np.isnan(values)
    order = np.argsort(values[keep], kind="stable")
    ordered, owner = values[keep][order], conversation[keep][order]
    if len(ordered) == 0:
        return np.full(len(weights), np.nan)
    cumulative = np.cumsum(weights[:, owner], axis=1, dtype=np.int64)
    total = cumulative[:, -1]
    rank = np.maximum(1.0, np.ceil(q * total.astype(np.float64)))  # harness.client.measurement.nearest_rank
    index = np.minimum((cumulative < rank[:, None]).sum(axis=1), len(ordered) - 1)
    return np.where(total > 0, ordered[index], np.nan)
