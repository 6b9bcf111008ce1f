"""Percentiles of raw values, the one way turnbench computes them.

Method: nearest rank, which is numpy's `method="inverted_cdf"`: the q-th percentile of n values is
the k-th smallest with k = ceil(q * n) (at least 1). It is always an observed value, never an
interpolation, so a reported p99 TTFT is a turn that really happened; it is also what the harness
uses for per-request ITL (harness.client.measurement.percentile). Locust's bucketed percentiles are used
only in Locust-CSV-only mode, and the report says so there.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def rank(q: float, n: int) -> int:
    """1-based nearest rank of quantile q (0 < q <= 1) among n values."""
    return max(1, math.ceil(q * n))


def sorted_finite(values: object) -> FloatArray:
    """The non-missing values, as float64, ascending. Empty cells ("not reported") are dropped."""
    array = np.asarray(values, dtype=np.float64)
    array = array[~np.isnan(array)]
    array.sort()
    return array


def of_sorted(sorted_values: FloatArray, q: float) -> float:
    """Nearest-rank percentile of an ascending array; NaN when there are no values."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    return float(sorted_values[rank(q, n) - 1])


def percentile(values: object, q: float) -> float:
    """Nearest-rank percentile of raw values (missing ones ignored); NaN when none are left."""
    return of_sorted(sorted_finite(values), q)
