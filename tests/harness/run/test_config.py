"""Run settings (harness/run/config.py): arrival rates and durations as people write them."""

from __future__ import annotations

import pytest

from harness.run.config import duration_s, rate_per_hour


@pytest.mark.parametrize(
    ("text", "per_hour"),
    [("1200", 1200.0), ("1200/h", 1200.0), ("20/min", 1200.0), ("0.5/s", 1800.0), (" 3 / min ", 180.0),
     (1200, 1200.0), (2.5, 2.5), ("0", 0.0)],
)  # fmt: skip
def test_a_rate_is_per_hour_whatever_its_unit(text: object, per_hour: float) -> None:
    assert rate_per_hour(text) == pytest.approx(per_hour)


@pytest.mark.parametrize("text", ["fast", "-1", "3/day", "/h", "", True, float("inf"), "1e999"])
def test_a_rate_that_is_not_one_is_refused(text: object) -> None:
    with pytest.raises(ValueError):
        rate_per_hour(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("20", 20.0), ("20s", 20.0), ("1m30s", 90.0), ("1.5m", 90.0), ("2min", 120.0), ("1h", 3600.0),
                          (15, 15.0)],
)  # fmt: skip
def test_a_duration_is_seconds(text: object, seconds: float) -> None:
    assert duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "-5s", "5x", "", "s", False])
def test_a_duration_that_is_not_one_is_refused(text: object) -> None:
    with pytest.raises(ValueError):
        duration_s(text)
