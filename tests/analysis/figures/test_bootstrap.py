"""Bootstrap intervals for a ratio of percentiles, runs and conversations as units (analysis/figures/bootstrap.py)."""

from __future__ import annotations

import numpy as np

from analysis.figures.bootstrap import (
    MIN_CONVERSATIONS,
    MIN_SAMPLES,
    ClusteredSample,
    RatioEstimate,
    conversation_weights,
    percentiles_of_weights,
    ratio_of_percentiles,
    resampled_percentiles,
)
from harness.client.measurement import nearest_rank as rank


def clustered(
    rng: np.random.Generator,
    median: float,
    conversations: int,
    turns: int = 5,
    conversation_sigma: float = 0.0,
    runs: int = 1,
    run_sigma: float = 0.0,
) -> ClusteredSample:
    """Lognormal turns; each conversation (and each run) multiplies all its turns by its own factor."""
    conversation = np.repeat(np.arange(conversations), turns)
    run = conversation % runs
    shared = rng.lognormal(0.0, conversation_sigma, conversations)[conversation]
    drift = rng.lognormal(0.0, run_sigma, runs)[run]
    values = median * rng.lognormal(0.0, 0.5, conversations * turns) * shared * drift
    return ClusteredSample.of(values, conversation, run)


def independent(sample: ClusteredSample) -> ClusteredSample:
    """The same values with every turn its own conversation: the turn-level bootstrap."""
    return ClusteredSample.of(sample.values, np.arange(sample.n))


def test_a_resample_percentile_is_the_nearest_rank_of_the_weighted_values() -> None:
    """Against the resample written out: each value repeated as often as its conversation was drawn."""
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(1, 200))
        values = np.round(rng.lognormal(5, 1, n))  # ties
        values[rng.random(n) < 0.1] = np.nan  # no value (a failed turn)
        values[rng.random(n) < 0.05] = np.inf  # a miss
        sample = ClusteredSample.of(values, rng.integers(0, max(1, n // 3), n), rng.integers(0, 3, n))
        if sample.n == 0:
            continue
        weights = conversation_weights(sample, rng, 30)
        for q in (0.0, 0.5, 0.95, 1.0):
            found = percentiles_of_weights(sample, weights, q)
            for row, got in zip(weights, found, strict=True):
                resample = np.sort(np.repeat(sample.values, row[sample.conversation].astype(np.int64)))
                expected = resample[rank(q, len(resample)) - 1] if len(resample) else np.nan
                assert got == expected or (np.isnan(got) and np.isnan(expected))


def test_the_draws_match_resampling_runs_then_conversations_by_hand() -> None:
    """The shortcut has the distribution of the textbook two-stage bootstrap."""
    rng = np.random.default_rng(1)
    conversation = np.repeat(np.arange(18), 3)
    run = conversation // 6  # 3 runs of 6 conversations of 3 turns
    values = np.round(rng.lognormal(6, 0.6, len(conversation)))
    sample = ClusteredSample.of(values, conversation, run)
    draws = 20_000
    fast = resampled_percentiles([sample], [0.9], rng, draws)[0]
    slow = np.empty(draws)
    for i in range(draws):
        picked = []
        for r in rng.integers(0, 3, 3):
            for c in rng.integers(0, 6, 6) + 6 * r:
                picked.append(values[conversation == c])
        resample = np.sort(np.concatenate(picked))
        slow[i] = resample[rank(0.9, len(resample)) - 1]
    support = np.unique(values)
    fast_share = np.array([(fast == v).mean() for v in support])
    slow_share = np.array([(slow == v).mean() for v in support])
    assert 0.5 * np.abs(fast_share - slow_share).sum() < 0.03  # total variation distance


def test_one_run_resamples_conversations_only_and_runs_draw_their_conversations_in_blocks() -> None:
    rng = np.random.default_rng(2)
    one = clustered(rng, 400, 50)
    weights = conversation_weights(one, rng, 100)
    assert weights.shape == (100, 50) and (weights.sum(axis=1) == 50).all()
    three = clustered(rng, 400, 60, runs=3)  # 20 conversations per run
    weights = conversation_weights(three, rng, 100)
    per_run = weights.reshape(100, 3, 20).sum(axis=2)
    assert (per_run % 20 == 0).all() and (per_run.sum(axis=1) == 60).all()  # each run drawn 0..3 times
    assert len({tuple(row) for row in per_run}) > 1


def test_a_known_ratio_is_found() -> None:
    rng = np.random.default_rng(1)
    base, cand = clustered(rng, 400, 1000, conversation_sigma=0.3), clustered(rng, 600, 1000, conversation_sigma=0.3)
    for q in (0.5, 0.95):
        estimate = ratio_of_percentiles(base, cand, q, rng)
        assert 1.0 < estimate.low < 1.5 < estimate.high
        assert (estimate.conversations_baseline, estimate.runs_baseline) == (1000, 1)


def test_ab_intervals_include_1_at_the_stated_rate_and_turn_level_ones_do_not() -> None:
    """A/A with correlated turns: the clustered interval includes 1 about 95% of the time; resampling
    turns as if independent "finds" a difference far more often."""
    rng = np.random.default_rng(2026)
    trials = 200
    clustered_hits = turn_hits = 0
    for _ in range(trials):
        base = clustered(rng, 500, 80, conversation_sigma=0.5)
        cand = clustered(rng, 500, 80, conversation_sigma=0.5)
        estimate = ratio_of_percentiles(base, cand, 0.5, rng, resamples=1000)
        clustered_hits += estimate.low <= 1.0 <= estimate.high
        turns = ratio_of_percentiles(independent(base), independent(cand), 0.5, rng, resamples=1000)
        turn_hits += turns.low <= 1.0 <= turns.high
    assert 0.90 <= clustered_hits / trials <= 0.99
    assert turn_hits / trials < 0.85


def test_conversation_clustering_widens_the_interval_when_turns_are_correlated() -> None:
    rng = np.random.default_rng(5)
    base, cand = clustered(rng, 500, 300, conversation_sigma=0.5), clustered(rng, 500, 300, conversation_sigma=0.5)
    by_conversation = ratio_of_percentiles(base, cand, 0.5, np.random.default_rng(0))
    by_turn = ratio_of_percentiles(independent(base), independent(cand), 0.5, np.random.default_rng(0))
    assert by_conversation.high - by_conversation.low > 1.3 * (by_turn.high - by_turn.low)
    # Without correlation the two agree: clustering costs nothing when turns are independent.
    base, cand = clustered(rng, 500, 300), clustered(rng, 500, 300)
    by_conversation = ratio_of_percentiles(base, cand, 0.5, np.random.default_rng(0))
    by_turn = ratio_of_percentiles(independent(base), independent(cand), 0.5, np.random.default_rng(0))
    width, turn_width = by_conversation.high - by_conversation.low, by_turn.high - by_turn.low
    assert 0.8 < width / turn_width < 1.25


def test_runs_that_drift_widen_the_interval() -> None:
    """Four runs per side whose levels differ: resampling runs sees it, pooling them as one run does not."""
    rng = np.random.default_rng(8)
    base = clustered(rng, 500, 400, runs=4, run_sigma=0.15)
    cand = clustered(rng, 500, 400, runs=4, run_sigma=0.15)
    by_run = ratio_of_percentiles(base, cand, 0.5, np.random.default_rng(0))
    pooled = ratio_of_percentiles(
        ClusteredSample.of(base.values, base.conversation), ClusteredSample.of(cand.values, cand.conversation), 0.5,
        np.random.default_rng(0),
    )  # fmt: skip
    assert by_run.runs_baseline == 4 and pooled.runs_baseline == 1
    assert by_run.high - by_run.low > 2 * (pooled.high - pooled.low)


def test_the_same_input_gives_the_same_interval() -> None:
    rng = np.random.default_rng(4)
    base, cand = clustered(rng, 500, 200, runs=2), clustered(rng, 450, 200, runs=2)
    first = ratio_of_percentiles(base, cand, 0.95, np.random.default_rng(99))
    again = ratio_of_percentiles(base, cand, 0.95, np.random.default_rng(99))
    assert first == again and first.has_interval


def test_too_few_turns_or_conversations_give_no_interval() -> None:
    rng = np.random.default_rng(4)
    few_turns = clustered(rng, 500, MIN_SAMPLES - 1, turns=1)
    estimate = ratio_of_percentiles(few_turns, clustered(rng, 400, 100), 0.5, rng)
    assert not estimate.has_interval and estimate.ratio > 0 and estimate.n_baseline == MIN_SAMPLES - 1
    few_conversations = clustered(rng, 500, MIN_CONVERSATIONS - 1, turns=6)  # 54 turns
    estimate = ratio_of_percentiles(few_conversations, clustered(rng, 400, 100), 0.5, rng)
    assert not estimate.has_interval and estimate.conversations_baseline == MIN_CONVERSATIONS - 1


def test_conversations_without_a_value_are_units_too() -> None:
    """Other columns of the same turns number conversations alike, so one draw serves them all."""
    values = np.array([1.0, 2.0, np.nan, np.nan, 5.0, 6.0])
    sample = ClusteredSample.of(values, [7, 7, 8, 8, 9, 9])
    assert (sample.conversations, sample.with_values, sample.n) == (3, 2, 4)
    assert sample.values.tolist() == [1.0, 2.0, 5.0, 6.0]
    same_label_two_runs = ClusteredSample.of([1.0, 2.0], [7, 7], [0, 1])
    assert same_label_two_runs.conversations == 2 and same_label_two_runs.runs == 2


def test_estimates_keep_their_shape() -> None:
    estimate = RatioEstimate(1.0, float("nan"), float("nan"), 10, 12)
    assert not estimate.has_interval and estimate.conversations_baseline == 0
