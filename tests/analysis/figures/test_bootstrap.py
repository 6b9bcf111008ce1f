"""Bootstrap intervals for a ratio of percentiles (analysis/figures/bootstrap.py)."""

from __future__ import annotations

import numpy as np

from analysis.figures.bootstrap import MIN_SAMPLES, ratio_of_percentiles, resampled_percentiles
from harness.client.measurement import nearest_rank as rank


def lognormal(rng: np.random.Generator, median: float, n: int) -> np.ndarray:
    return np.sort(rng.lognormal(np.log(median), 0.5, n))


def test_order_statistic_draws_match_resampling_the_whole_sample() -> None:
    """The shortcut (one Beta draw per resample) has the distribution of the textbook bootstrap."""
    rng = np.random.default_rng(1)
    values = np.sort(rng.lognormal(6, 0.6, 41))
    draws = 40_000
    for q in (0.5, 0.95):
        fast = resampled_percentiles(values, q, rng, draws)
        resamples = np.sort(values[rng.integers(0, len(values), (draws, len(values)))], axis=1)
        slow = resamples[:, rank(q, len(values)) - 1]
        fast_share = np.array([(fast == v).mean() for v in values])
        slow_share = np.array([(slow == v).mean() for v in values])
        assert 0.5 * np.abs(fast_share - slow_share).sum() < 0.02  # total variation distance


def test_the_interval_covers_a_known_median_ratio() -> None:
    # One fixed draw; any single 95% interval misses 1 time in 20, which the coverage test below measures.
    rng = np.random.default_rng(1)
    estimate = ratio_of_percentiles(lognormal(rng, 500, 3000), lognormal(rng, 400, 3000), 0.5, rng)
    assert estimate.low < 0.8 < estimate.high
    assert estimate.high < 1.0  # and 0.8 is far enough from 1 to be told apart


def test_coverage_is_close_to_95_percent() -> None:
    """Over many independent experiments with true ratio 0.8, about 95% of intervals contain it."""
    rng = np.random.default_rng(2026)
    trials = 300
    covered = 0
    for _ in range(trials):
        estimate = ratio_of_percentiles(lognormal(rng, 500, 400), lognormal(rng, 400, 400), 0.5, rng, resamples=2000)
        covered += estimate.low <= 0.8 <= estimate.high
    assert 0.90 <= covered / trials <= 0.99


def test_identical_distributions_give_an_interval_around_1() -> None:
    rng = np.random.default_rng(3)
    estimate = ratio_of_percentiles(lognormal(rng, 500, 2000), lognormal(rng, 500, 2000), 0.5, rng)
    assert estimate.low < 1.0 < estimate.high


def test_too_few_samples_give_no_interval() -> None:
    rng = np.random.default_rng(4)
    estimate = ratio_of_percentiles(lognormal(rng, 500, MIN_SAMPLES - 1), lognormal(rng, 400, 500), 0.5, rng)
    assert not estimate.has_interval
    assert estimate.ratio > 0 and estimate.n_baseline == MIN_SAMPLES - 1
