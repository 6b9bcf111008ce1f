"""How numbers are printed in the report and the terminal: NaN ("not reported") is "n/a"."""

from __future__ import annotations

import math

MISSING = "n/a"


def ms(value: float) -> str:
    if math.isnan(value):
        return MISSING
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def share(value: float) -> str:
    return MISSING if math.isnan(value) else f"{100 * value:.1f}%"


def usd(value: float) -> str:
    """Cents for large sums, three significant digits for small ones ($0.000128 per conversation)."""
    if math.isnan(value):
        return MISSING
    if abs(value) >= 10 or value == 0:
        return f"${value:,.2f}"
    digits = max(2, 2 - math.floor(math.log10(abs(value))))
    return f"${value:.{digits}f}"


def count(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value:,.0f}"


def number(value: float, digits: int = 1) -> str:
    return MISSING if math.isnan(value) else f"{value:,.{digits}f}"


def seconds(value: float) -> str:
    if math.isnan(value):
        return MISSING
    return f"{value / 3600:.2f} h" if value >= 3600 else f"{value:.1f} s"


def ratio_digits(low: float, high: float) -> int:
    """Two decimals, or three when the interval is too narrow to show at two (large runs)."""
    return 3 if high - low < 0.02 else 2


def ratio(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return MISSING
    if math.isnan(low) or math.isnan(high):
        return f"{value:.2f}"
    d = ratio_digits(low, high)
    return f"{value:.{d}f} ({low:.{d}f}-{high:.{d}f})"
