"""The load generator watching itself: how late its event loop wakes up, and when.

A greenlet sleeps 20 ms again and again; whatever it oversleeps is time every other greenlet
also waited, so every TTFT measured meanwhile may be inflated by up to that much. Locust's own CPU
warning (90% over 10 s) misses the short stalls that ruin percentiles (notes/locust.md 10), and
one percentile over a whole run hides a burst that spoiled a fifth of its turns. So the probe
also keeps *when* each stall happened (`Stalls`), and every turn is told the longest stall that
overlapped it: the turn's own "generator lagged" flag.
"""

from __future__ import annotations

import time
from collections import deque

import gevent
import psutil

PROBE_INTERVAL_S = 0.02  # short, so a stall of a few ms is seen by the turns it overlapped
STALL_KEEP_MS = 0.5  # oversleeps below this are noise: not kept per time, only in the histogram
BUCKET_MS = 0.1  # histogram resolution
BUCKETS = 10_000  # up to 1 s


class LagHistogram:
    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.max_ms = 0.0
        self.cpu_percent_max = 0.0

    def add(self, lag_ms: float) -> None:
        self.counts[min(int(max(lag_ms, 0.0) / BUCKET_MS), BUCKETS - 1)] += 1
        self.max_ms = max(self.max_ms, lag_ms)

    def merge(self, sparse: dict[int, int], max_ms: float, cpu_percent: float) -> None:
        for bucket, count in sparse.items():
            self.counts[int(bucket)] += count
        self.max_ms = max(self.max_ms, max_ms)
        self.cpu_percent_max = max(self.cpu_percent_max, cpu_percent)

    def take(self) -> tuple[dict[int, int], float, float]:
        """The samples since the last take, as a small dict for a worker report, then reset."""
        sparse = {i: c for i, c in enumerate(self.counts) if c}
        result = (sparse, self.max_ms, self.cpu_percent_max)
        self.counts, self.max_ms, self.cpu_percent_max = [0] * BUCKETS, 0.0, 0.0
        return result

    def percentile(self, q: float) -> float:
        total = sum(self.counts)
        if not total:
            return 0.0
        seen, target = 0, q * total
        for i, count in enumerate(self.counts):
            seen += count
            if seen >= target:
                return (i + 1) * BUCKET_MS
        return BUCKETS * BUCKET_MS


class Stalls:
    """The stalls of the last while, as (end, length) in monotonic seconds, for per-turn flags."""

    def __init__(self) -> None:
        self._stalls: deque[tuple[float, float]] = deque()
        self.seen_until = 0.0  # every stall that ended before this moment is known

    def add(self, end: float, lag_s: float) -> None:
        if lag_s * 1000.0 >= STALL_KEEP_MS:
            self._stalls.append((end, lag_s))
        self.seen_until = end

    def longest_ms(self, start: float, end: float) -> float:
        """The longest stall overlapping [start, end], in ms (0 when none was seen)."""
        longest = 0.0
        for stall_end, length in reversed(self._stalls):
            if stall_end <= start:
                break
            if stall_end - length < end:
                longest = max(longest, length)
        return longest * 1000.0

    def forget_before(self, moment: float) -> None:
        while self._stalls and self._stalls[0][0] < moment:
            self._stalls.popleft()


class LagProbe:
    def __init__(self) -> None:
        self.histogram = LagHistogram()
        self.stalls = Stalls()
        self._greenlet: gevent.Greenlet | None = None
        self._process = psutil.Process()

    def start(self) -> None:
        if self._greenlet is None:
            self._process.cpu_percent()  # the first call only sets the baseline
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def _run(self) -> None:
        samples = 0
        while True:
            before = time.monotonic()
            gevent.sleep(PROBE_INTERVAL_S)
            after = time.monotonic()
            lag_s = max(after - before - PROBE_INTERVAL_S, 0.0)
            self.histogram.add(lag_s * 1000.0)
            self.stalls.add(after, lag_s)
            samples += 1
            if samples % 50 == 0:  # CPU about once a second
                cpu = self._process.cpu_percent()
                self.histogram.cpu_percent_max = max(self.histogram.cpu_percent_max, cpu)
