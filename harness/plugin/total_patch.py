"""turnbench's one patch of Locust's core: per-turn entries stay out of the Aggregated total.

The per-turn entries (harness.plugin.turn_entries) are Locust entries like any other, so Locust
would add their TTFT, E2E and TPOT samples to the Aggregated row and count each turn four times.
Locust has no public hook for that, so this wraps `RequestStats.log_request` (locust>=2.47).
"""

from __future__ import annotations

from locust.stats import RequestStats

from harness.plugin.turn_entries import TURN_TYPES


def keep_turn_rows_out_of_total() -> None:
    """Route per-turn entries past `stats.total` (idempotent; version-pinned: locust>=2.47)."""
    original = RequestStats.log_request
    if getattr(original, "_turnbench", False):
        return

    def log_request(self: RequestStats, method: str, name: str, response_time: int, content_length: int) -> None:
        if method in TURN_TYPES:
            self.entries[(name, method)].log(response_time, content_length)
        else:
            original(self, method, name, response_time, content_length)

    log_request._turnbench = True  # type: ignore[attr-defined]
    RequestStats.log_request = log_request  # type: ignore[method-assign]
