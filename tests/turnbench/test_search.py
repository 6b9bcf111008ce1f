"""The capacity search's choices, against a made-up engine whose capacity is known."""

from __future__ import annotations

import math

import pytest

from turnbench.search import CapacitySearch, SearchSettings


def search_against(capacity: float, start: float, **settings: float) -> CapacitySearch:
    search = CapacitySearch(SearchSettings(start, **settings))  # type: ignore[arg-type]
    while (rate := search.next_rate()) is not None:
        search.record(rate, held=rate <= capacity)
    return search


@pytest.mark.parametrize("capacity", [37.0, 800.0, 1000.0, 1999.0, 5_000.0, 123_456.0])
def test_the_search_ends_with_the_capacity_inside_a_bracket_of_the_resolution(capacity: float) -> None:
    search = search_against(capacity, start=1000.0)
    assert search.low is not None and search.high is not None
    assert search.low.rate <= capacity < search.high.rate
    assert search.high.rate / search.low.rate <= 1.1 / 0.9
    assert search.stop_reason.startswith("resolution reached")


def test_it_takes_as_few_levels_as_bracketing_and_bisection_need() -> None:
    # Start within 2x below the capacity: one pass, one fail, then two bisections of the 2x bracket.
    search = search_against(1500.0, start=1000.0)
    assert [round(m.rate) for m in search.levels] == [1000, 2000, 1414, 1682]
    # Each doubling of the distance adds one level.
    assert len(search_against(6000.0, start=1000.0).levels) == len(search.levels) + 2


def test_a_finer_resolution_takes_more_levels() -> None:
    coarse = search_against(1500.0, start=1000.0, resolution=0.1)
    fine = search_against(1500.0, start=1000.0, resolution=0.02)
    assert len(fine.levels) > len(coarse.levels)
    assert fine.high is not None and fine.low is not None and fine.high.rate / fine.low.rate <= 1.02 / 0.98


def test_nothing_holding_stops_at_the_minimum_and_says_so() -> None:
    search = search_against(0.0, start=100.0, min_rate=10.0)
    assert search.low is None and "no level held" in search.stop_reason
    assert min(m.rate for m in search.levels) >= 10.0


def test_everything_holding_stops_at_the_maximum_and_says_so() -> None:
    search = search_against(math.inf, start=100.0, max_rate=1000.0)
    assert search.high is None and "every level held" in search.stop_reason


def test_an_outside_stop_keeps_what_was_measured() -> None:
    search = CapacitySearch(SearchSettings(100.0))
    search.record(100.0, held=True)
    search.stop("time budget (10m) reached")
    assert search.next_rate() is None and search.stop_reason == "time budget (10m) reached"
    assert search.low is not None and search.low.rate == 100.0
