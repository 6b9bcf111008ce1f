"""Each turn's own "the load generator lagged" flag, from the lag probe's stalls.

A turn measured while the event loop was stalled is late by up to the stall. Rather than judge a
run by one lag percentile, each row carries the longest stall that overlapped its turn
(`lag_ms`: at most that much is inside any of its figures, an ITL gap included) and whether its
TTFT or E2E may be off (`lagged`): a stall beyond the limit while it waited for its first token
(t0 to the first token: connect, write, queue, first read) or as it read its end. A stall while
tokens stream delays one gap, and the next one shortens as the buffered tokens are read: the
report leaves `lagged` turns out of its latency figures and says how many. Flagging every turn
a stall overlapped flagged about 4% of a 256-user run per 6 ms stall (every stream in flight)
where the TTFTs of most of them were true to a millisecond.

A row is held until the probe has looked past the turn's end: a stall that ended the turn can
be seen by the probe a moment after the turn reports itself.
"""

from __future__ import annotations

from typing import Any

from harness.client.turn_result import TurnResult
from harness.recording.lag_probe import Stalls
from harness.recording.run_dir import REQUEST_COLUMNS

# Stalls are kept this long, so a turn still streaming (whose row comes only at its end) finds
# the stalls of its start; longer than any turn the default timeouts allow to succeed.
KEEP_STALLS_S = 900.0
END_READ_S = 0.001  # a stall ending this close before the turn's end delayed the read of its end
_LAG = REQUEST_COLUMNS.index("lag_ms")
_LAGGED = REQUEST_COLUMNS.index("lagged")


class TurnLagFlags:
    def __init__(self, stalls: Stalls, limit_ms: float) -> None:
        self.stalls = stalls
        self.limit_ms = limit_ms
        self._held: list[tuple[list[Any], float, float, float]] = []

    def hold(self, row: list[Any], result: TurnResult) -> None:
        start = result.started_monotonic
        end = start + result.e2e_ms / 1000.0
        first = start + result.ttft_ms / 1000.0 if result.ttft_ms is not None else end
        self._held.append((row, start, first, end))

    def release(self, final: bool = False) -> list[list[Any]]:
        """The rows whose flag is known (all of them when `final`), flagged; the rest stay held."""
        known_until = self.stalls.seen_until
        ready: list[tuple[list[Any], float, float, float]] = []
        waiting: list[tuple[list[Any], float, float, float]] = []
        for held in self._held:
            (ready if final or held[3] <= known_until else waiting).append(held)
        self._held = waiting
        for row, start, first, end in ready:
            row[_LAG] = round(self.stalls.longest_ms(start, end), 3)
            timed = max(self.stalls.longest_ms(start, first), self.stalls.longest_ms(end - END_READ_S, end))
            row[_LAGGED] = timed > self.limit_ms
        oldest = min((start for _, start, _, _ in waiting), default=known_until)
        self.stalls.forget_before(min(oldest, known_until - KEEP_STALLS_S))
        return [row[0] for row in ready]
