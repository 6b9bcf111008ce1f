"""The load generator watching itself: how late its event loop wakes up.

A greenlet sleeps 50 ms again and again; whatever it oversleeps is time every other greenlet
also waited, so every TTFT measured meanwhile may be inflated by up to that much. Locust's own CPU
warning (90% over 10 s) misses the short stalls that ruin percentiles (notes/locust.md 10).
"""

from __future__ import annotations

import time

import gevent
import psutil

PROBE_INTERVAL_S = 0.05
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


class LagProbe:
    def __init__(self) -> None:
        self.histogram = LagHistogram()
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
            self.histogram.add((time.monotonic() - before - PROBE_INTERVAL_S) * 1000.0)
            samples += 1
            if samples % 20 == 0:  # CPU about once a second
                cpu = self._process.cpu_percent()
                self.histogram.cpu_percent_max = max(self.histogram.cpu_percent_max, cpu)
