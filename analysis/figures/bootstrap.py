"""Bootstrap confidence intervals for a ratio of percentiles, with runs and conversations as the units.

Turns are not independent draws. The turns of one conversation share its context (the same prompt
prefix, cached or not, growing turn by turn) and its moment of load (they ran while the same other
conversations were in flight), so a conversation that met a busy engine is slow on every turn. The
conversations of one run share its drift and its cache state (what was warm, what the scheduler
had queued). Resampling turns as if independent treats 5 turns of one unlucky conversation as 5
pieces of evidence, and two runs of one engine as all there is to know about it: intervals come out
too narrow and an A/A comparison "finds" differences. So a resample draws what really varies: runs
with replacement, then conversations with replacement within each drawn run (a run drawn twice
draws its conversations twice over); every turn of a drawn conversation comes along, weighted by
how often its conversation was drawn. With one run per side only conversations are resampled and
the spread between runs is not seen (RatioEstimate counts the runs, so a reader can tell). Several
runs per side widen the interval when they disagree; a handful of runs measures that disagreement
only roughly, and the two stages count the spread within runs a little more than once, so with
runs that agree the interval comes out somewhat wide rather than narrow.

The percentile of a resample is the nearest-rank one (harness.client.measurement.nearest_rank) over
the weighted values: with values sorted once, it is the first value whose cumulative weight reaches
ceil(q x total weight). Nothing is materialised per resample. Conversation weights are multinomial
counts (one uniform draw per conversation, counted), and the cumulative weight is found in two
steps: at the end of a few cells of the sorted values (one matrix product of the weights with each
conversation's count of turns up to each cell end), then turn by turn inside the one cell where the
rank falls. Chunks of resamples keep memory to a few MB whatever the run size, and the metrics of
one group of turns share each chunk's draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.figures.percentiles import FloatArray, of_sorted

IntArray = npt.NDArray[np.int64]

RESAMPLES = 4000  # percentile-interval endpoints move by < 0.005 in the ratio beyond this
SEED = 20261101  # fixed: the same run directories always give the same intervals
CONFIDENCE = 0.95
MIN_SAMPLES = 20  # below this per side a p95 is one of the top few values; no interval is claimed
MIN_CONVERSATIONS = 10  # fewer independent units per side and the interval says more about them than the engine
CELLS = 16  # sorted values are split into this many cells to find each resample's rank in two steps
CHUNK_CELLS = 1 << 18  # resamples x conversations (or x cell width) per chunk: ~1-2 MB per array
EXACT_FLOAT32 = 1 << 24  # weights are counts summed in float32, exact below this total

DESCRIPTION = (
    f"percentile bootstrap, {RESAMPLES} resamples per side, seeded; runs and then conversations within "
    "runs are the units resampled (a conversation's turns share its context and its moment of load), "
    "never single turns"
)


@dataclass(frozen=True)
class RatioEstimate:
    """candidate / baseline for one percentile, with its percentile-bootstrap interval."""

    ratio: float
    low: float  # NaN when either side has fewer than MIN_SAMPLES values or MIN_CONVERSATIONS conversations
    high: float
    n_baseline: int  # values (turns)
    n_candidate: int
    conversations_baseline: int = 0  # the units resampled; 0: not known (no interval computed from samples)
    conversations_candidate: int = 0
    runs_baseline: int = 0
    runs_candidate: int = 0

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))


@dataclass(frozen=True)
class ClusteredSample:
    """One side's values, ascending, with the conversation (and run) each came from.

    Build it with `of`. Conversations are numbered 0..C-1 run by run, so run r owns the contiguous
    block of `run_sizes[r]` conversations after the runs before it. Samples made by `of` from the
    same rows (other columns of one group of turns) number conversations alike, so one draw of
    conversation weights serves them all.
    """

    values: FloatArray  # ascending; +inf allowed (a miss), NaN never
    conversation: IntArray  # per value
    run_sizes: IntArray  # conversations per run, those without a value included
    with_values: int  # conversations that have at least one value

    @classmethod
    def of(cls, values: object, conversations: object, runs: object | None = None) -> ClusteredSample:
        """From per-row values (NaN: no value) and integer conversation and run labels.

        Every row's conversation is a unit, with a value or not. A conversation label is read within
        its run: the same label in two runs is two conversations.
        """
        array = np.asarray(values, dtype=np.float64)
        conv = np.asarray(conversations, dtype=np.int64)
        run = np.zeros(len(array), dtype=np.int64) if runs is None else np.asarray(runs, dtype=np.int64)
        if not (len(conv) == len(run) == len(array)):
            raise ValueError("values, conversations and runs must have one entry per row")
        _, run_code = np.unique(run, return_inverse=True)
        _, conv_code = np.unique(conv, return_inverse=True)
        span = int(conv_code.max(initial=0)) + 1
        # Sorted by run first, so each run's conversations form one block.
        pairs, owner = np.unique(run_code * span + conv_code, return_inverse=True)
        sizes = np.bincount(pairs // span).astype(np.int64)
        keep = ~np.isnan(array)
        array, owner = array[keep], owner[keep]
        order = np.argsort(array, kind="stable")
        return cls(array[order], owner[order].astype(np.int64), sizes, len(np.unique(owner)))

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def conversations(self) -> int:
        return int(self.run_sizes.sum())

    @property
    def runs(self) -> int:
        return len(self.run_sizes)

    def enough(self) -> bool:
        """Enough values and conversations for an interval that says something about the engine."""
        return self.n >= MIN_SAMPLES and self.with_values >= MIN_CONVERSATIONS


def conversation_weights(
    sample: ClusteredSample, rng: np.random.Generator, resamples: int, dtype: type[np.floating] | None = None
) -> FloatArray:
    """How often each conversation is drawn in each of `resamples` two-stage resamples: (resamples, C).

    Runs are drawn with replacement; a run drawn c times contributes c x (its conversations) draws,
    uniform over its conversations, whose counts are a multinomial.
    """
    sizes = sample.run_sizes
    if len(sizes) == 1:
        run_draws = np.ones((resamples, 1), dtype=np.int64)
    else:
        run_draws = rng.multinomial(len(sizes), np.full(len(sizes), 1.0 / len(sizes)), size=resamples)
    weights = np.empty((resamples, sample.conversations), dtype=dtype or _weight_type(sample))
    rows = np.arange(resamples, dtype=np.int64)
    first = 0
    for r, size in enumerate(sizes.tolist()):
        draws = run_draws[:, r] * size
        picks = np.repeat(rows * size, draws) + rng.integers(0, size, size=int(draws.sum()), dtype=np.int32)
        weights[:, first : first + size] = np.bincount(picks, minlength=resamples * size).reshape(resamples, size)
        first += size
    return weights


def _weight_type(sample: ClusteredSample) -> type[np.floating]:
    """float32 (half the memory traffic) while every cumulative weight, at most runs x values, is exact in it."""
    return np.float32 if sample.n * max(1, sample.runs) < EXACT_FLOAT32 else np.float64


@dataclass(frozen=True)
class _Cells:
    """The sorted values cut into cells, and each conversation's count of values up to each cell's end."""

    width: int
    ends: FloatArray  # (cells, C): values of conversation c at sorted positions < (g + 1) x width
    owners: IntArray  # (cells, width): the conversation at each sorted position, cell by cell


def _cells(sample: ClusteredSample) -> _Cells:
    n, c = sample.n, sample.conversations
    count = max(1, min(CELLS, n))
    width = max(1, -(-n // count))
    position = np.arange(n, dtype=np.int64)
    per_cell = np.bincount(sample.conversation * count + position // width, minlength=c * count)
    ends = np.ascontiguousarray(np.cumsum(per_cell.reshape(c, count), axis=1).T, dtype=_weight_type(sample))
    # The last cell is padded with conversation 0: the rank is always reached by the last value, so
    # weight counted after it changes nothing.
    owners = np.zeros(count * width, dtype=np.int64)
    owners[:n] = sample.conversation
    return _Cells(width, ends, owners.reshape(count, width))


def percentiles_of_weights(sample: ClusteredSample, weights: FloatArray, q: float) -> FloatArray:
    """Per row of conversation weights (resamples, C), the nearest-rank q-percentile of the weighted
    values; NaN for a row whose drawn conversations hold no value."""
    (found,) = _percentiles(sample, _cells(sample), weights, (q,))
    return found


def _percentiles(sample: ClusteredSample, cells: _Cells, weights: FloatArray, qs: Sequence[float]) -> list[FloatArray]:
    rows = np.arange(len(weights))
    # Cumulative weight at each cell's end. einsum, not `@`: BLAS would start threads that keep
    # spinning between the many small products and take the CPU the rest of the analysis needs.
    at_ends = np.einsum("rc,gc->rg", weights, cells.ends.astype(weights.dtype, copy=False)).astype(np.float64)
    total = at_ends[:, -1]
    found = []
    for q in qs:
        rank = np.maximum(1.0, np.ceil(q * total))  # nearest_rank(q, total weight), row by row
        cell = np.minimum((at_ends < rank[:, None]).sum(axis=1), len(cells.ends) - 1)  # where the rank falls
        before = np.where(cell > 0, at_ends[rows, np.maximum(cell - 1, 0)], 0.0)
        inside = np.take_along_axis(weights, cells.owners[cell], axis=1)  # weight of each value in that cell
        running = before[:, None] + np.cumsum(inside, axis=1)  # exact: counts below EXACT_FLOAT32
        step = np.minimum((running < rank[:, None]).sum(axis=1), cells.width - 1)
        value = sample.values[np.minimum(cell * cells.width + step, sample.n - 1)]
        found.append(np.where(total > 0, value, np.nan))
    return found


def resampled_percentiles(
    samples: Sequence[ClusteredSample], qs: Sequence[float], rng: np.random.Generator, resamples: int = RESAMPLES
) -> list[FloatArray]:
    """The nearest-rank qs[i]-percentile of samples[i] in each of `resamples` two-stage bootstrap
    resamples (runs, then conversations), all samples drawn together (they share their conversations).
    A sample given twice (two percentiles of one column) is weighed once."""
    first = samples[0]
    for sample in samples[1:]:
        if not np.array_equal(sample.run_sizes, first.run_sizes):
            raise ValueError("samples resampled together must come from the same conversations")
    distinct = list({id(sample): sample for sample in samples}.values())
    asked = [[i for i, sample in enumerate(samples) if sample is one] for one in distinct]
    cells = [_cells(sample) for sample in distinct]
    dtype = np.result_type(*(_weight_type(sample) for sample in distinct)).type
    chunk = max(1, CHUNK_CELLS // max(first.conversations, *(c.width for c in cells)))
    found = [np.empty(resamples, dtype=np.float64) for _ in samples]
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        weights = conversation_weights(first, rng, size, dtype)
        for sample, cell, indices in zip(distinct, cells, asked, strict=True):
            values = _percentiles(sample, cell, weights, [qs[i] for i in indices])
            for i, value in zip(indices, values, strict=True):
                found[i][start : start + size] = value
    return found


def ratios_of_percentiles(
    baseline: Sequence[ClusteredSample],
    candidate: Sequence[ClusteredSample],
    qs: Sequence[float],
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
) -> list[RatioEstimate]:
    """candidate[i] / baseline[i] at the qs[i]-percentile, with its CI, for each i. The samples of a
    side share their conversations (other columns of the same turns): one draw serves them all."""
    points = [(of_sorted(b.values, q), of_sorted(c.values, q)) for b, c, q in zip(baseline, candidate, qs, strict=True)]
    chosen = [i for i, (base, _) in enumerate(points) if base > 0 and baseline[i].enough() and candidate[i].enough()]
    intervals: dict[int, tuple[float, float]] = {}
    if chosen:
        qs_chosen = [qs[i] for i in chosen]
        base = resampled_percentiles([baseline[i] for i in chosen], qs_chosen, rng, resamples)
        cand = resampled_percentiles([candidate[i] for i in chosen], qs_chosen, rng, resamples)
        for i, base_draws, cand_draws in zip(chosen, base, cand, strict=True):
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = cand_draws / base_draws
            ratios = ratios[np.isfinite(ratios)]
            if len(ratios):
                tail = (1.0 - CONFIDENCE) / 2.0
                low, high = np.quantile(ratios, [tail, 1.0 - tail], method="inverted_cdf")
                intervals[i] = (float(low), float(high))
    estimates = []
    for i, (point_base, point_cand) in enumerate(points):
        low, high = intervals.get(i, (math.nan, math.nan))
        one, other = baseline[i], candidate[i]
        ratio = point_cand / point_base if point_base > 0 else math.nan
        estimates.append(
            RatioEstimate(ratio, low, high, one.n, other.n, one.with_values, other.with_values, one.runs, other.runs)
        )
    return estimates


def ratio_of_percentiles(
    baseline: ClusteredSample,
    candidate: ClusteredSample,
    q: float,
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
) -> RatioEstimate:
    """Point ratio candidate/baseline of the q-percentiles of two clustered samples, with its CI."""
    (estimate,) = ratios_of_percentiles([baseline], [candidate], [q], rng, resamples)
    return estimate
