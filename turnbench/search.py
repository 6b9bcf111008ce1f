"""The capacity search: which arrival rate to measure next, and when to stop.

A pure state machine, so its choices can be tested without running anything: `next_rate()` says
what to measure, `record()` takes the verdict. It brackets the capacity first (doubling from the
start rate while levels hold, halving while they fail), then narrows the bracket in log space
until the highest rate that held and the lowest that failed are within the resolution of each
other (+-10%: high / low <= 1.1 / 0.9). Inside the bracket it bisects in log space: from a 2x
bracket that is exactly two more levels, whatever the levels say. (Placing the level where the
scores seem to cross 1 looks faster but is not: a guess just below the crossing leaves the
bracket almost as wide as before, so it needs more levels in the worst case, and each costs
pod-minutes. The analysis interpolates the scores for its estimate instead.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SearchSettings:
    start_rate: float  # conversations per hour of the first level
    resolution: float = 0.10  # stop when the bracket is within +-resolution
    min_rate: float = 1.0  # below this, "no level held"
    max_rate: float = 1e7  # above this, "every level held"
    max_levels: int = 12

    @property
    def ratio(self) -> float:
        """high / low at which the bracket is narrow enough: +-10% around its geometric middle."""
        return (1.0 + self.resolution) / (1.0 - self.resolution)


@dataclass(frozen=True)
class Measured:
    rate: float
    held: bool


@dataclass
class CapacitySearch:
    settings: SearchSettings
    levels: list[Measured] = field(default_factory=list)
    stop_reason: str = ""

    @property
    def done(self) -> bool:
        return bool(self.stop_reason)

    @property
    def low(self) -> Measured | None:
        """The highest rate that held."""
        held = [m for m in self.levels if m.held]
        return max(held, key=lambda m: m.rate) if held else None

    @property
    def high(self) -> Measured | None:
        """The lowest rate that failed above the highest that held."""
        low = self.low
        failed = [m for m in self.levels if not m.held and (low is None or m.rate > low.rate)]
        return min(failed, key=lambda m: m.rate) if failed else None

    def record(self, rate: float, held: bool) -> None:
        self.levels.append(Measured(rate, held))
        low, high = self.low, self.high
        if low is not None and high is not None and high.rate / low.rate <= self.settings.ratio:
            self.stop_reason = (
                f"resolution reached: {low.rate:,.0f} conversations/hour held, {high.rate:,.0f} failed "
                f"(within +-{self.settings.resolution:.0%})"
            )
        elif len(self.levels) >= self.settings.max_levels:
            self.stop_reason = f"level limit reached ({self.settings.max_levels} levels)"

    def next_rate(self) -> float | None:
        """The next arrival rate to measure; None when the search is done (stop_reason says why)."""
        if self.done:
            return None
        if not self.levels:
            return self.settings.start_rate
        low, high = self.low, self.high
        if high is None:  # everything so far held: go up
            assert low is not None
            rate = low.rate * 2.0
            if rate > self.settings.max_rate:
                self.stop_reason = f"every level held, up to {low.rate:,.0f} conversations/hour (the search's maximum)"
                return None
            return rate
        if low is None:  # everything so far failed: go down
            rate = high.rate / 2.0
            if rate < self.settings.min_rate:
                self.stop_reason = f"no level held the SLO, down to {high.rate:,.0f} conversations/hour"
                return None
            return rate
        return math.sqrt(low.rate * high.rate)

    def stop(self, reason: str) -> None:
        """End the search from outside (the time budget, an interrupted level)."""
        self.stop_reason = self.stop_reason or reason
