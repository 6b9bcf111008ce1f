"""Percentiles of raw values over numpy arrays, by the one rule turnbench has.

The rule is the measurement contract's (harness.client.measurement.nearest_rank): the q-th
percentile of n values is the k-th smallest with k = ceil(q * n), always an observed value. This
module applies it to columns with missing values. Locust's bucketed percentiles are used only in
Locust-CSV-only mode, and the report says so there.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from harness.client.measurement import nearest_rank

FloatArray = npt.NDArray[np.float64]


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
    return float(sorted_values[nearest_rank(q, n) - 1])


def percentile(values: object, q: float) -> float:
    """Nearest-rank percentile of raw values (missing ones ignored); NaN when none are left."""
    return of_sorted(sorted_finite(values), q)
