"""Bootstrap confidence intervals for a ratio of percentiles, without materialising resamples.

A bootstrap resample draws n indices uniformly with replacement and takes the nearest-rank
percentile (rank k) of the values at those indices. With the values sorted, that percentile is
`sorted[k-th smallest index]`, and the k-th smallest of n uniform indices floor(n * U_i) is
floor(n * U_(k)), where U_(k), the k-th order statistic of n uniforms, is Beta(k, n + 1 - k).
So one Beta draw per resample gives exactly the same distribution as resampling the whole
group: no approximation, no cap on the group size, and 4,000 resamples of 500,000 turns cost
one sort plus 4,000 random numbers. Groups are resampled independently (two independent runs),
stratified by nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.figures.percentiles import FloatArray, of_sorted
from harness.client.measurement import nearest_rank

RESAMPLES = 4000  # percentile-interval endpoints move by < 0.005 in the ratio beyond this
SEED = 20261101  # fixed: the same run directories always give the same intervals
CONFIDENCE = 0.95
MIN_SAMPLES = 20  # below this per side a p95 is one of the top few values; no interval is claimed


@dataclass(frozen=True)
class RatioEstimate:
    """candidate / baseline for one percentile, with its percentile-bootstrap interval."""

    ratio: float
    low: float  # NaN when either side has fewer than MIN_SAMPLES values
    high: float
    n_baseline: int
    n_candidate: int

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))


def resampled_percentiles(sorted_values: FloatArray, q: float, rng: np.random.Generator, resamples: int) -> FloatArray:
    """The nearest-rank q-percentile of `resamples` bootstrap resamples of an ascending array."""
    n = len(sorted_values)
    k = nearest_rank(q, n)
    order_statistics = rng.beta(k, n + 1 - k, size=resamples)
    indices = np.minimum((order_statistics * n).astype(np.int64), n - 1)
    return sorted_values[indices]


def ratio_of_percentiles(
    baseline: FloatArray,
    candidate: FloatArray,
    q: float,
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
) -> RatioEstimate:
    """Point ratio candidate/baseline of the q-percentiles of two ascending arrays, with its CI."""
    point_base, point_cand = of_sorted(baseline, q), of_sorted(candidate, q)
    ratio = point_cand / point_base if point_base > 0 else math.nan
    low = high = math.nan
    if len(baseline) >= MIN_SAMPLES and len(candidate) >= MIN_SAMPLES and point_base > 0:
        base = resampled_percentiles(baseline, q, rng, resamples)
        cand = resampled_percentiles(candidate, q, rng, resamples)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = cand / base
        ratios = ratios[np.isfinite(ratios)]
        if len(ratios):
            tail = (1.0 - CONFIDENCE) / 2.0
            low, high = (float(v) for v in np.quantile(ratios, [tail, 1.0 - tail], method="inverted_cdf"))
    return RatioEstimate(ratio, low, high, len(baseline), len(candidate))
