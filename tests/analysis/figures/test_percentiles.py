"""Percentiles of raw values (analysis/figures/percentiles.py): nearest rank, i.e. numpy's inverted_cdf."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.figures.percentiles import percentile


@pytest.mark.parametrize("n", [1, 2, 3, 10, 99, 100, 1001])
@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99, 1.0])
def test_matches_numpy_inverted_cdf_and_is_an_observed_value(n: int, q: float) -> None:
    values = np.random.default_rng(n).lognormal(6, 0.5, n)
    got = percentile(values, q)
    assert got == np.quantile(values, q, method="inverted_cdf")
    assert got in values


def test_missing_values_are_ignored_and_none_left_is_nan() -> None:
    assert percentile([np.nan, 3.0, 1.0, np.nan, 2.0], 0.5) == 2.0
    assert math.isnan(percentile([np.nan], 0.5))
    assert math.isnan(percentile([], 0.99))
