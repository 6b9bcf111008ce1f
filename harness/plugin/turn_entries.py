"""Per-turn rows in Locust's own statistics: TTFT, E2E and TPOT for "turn 01", "turn 02", ...

Every chat turn is one Locust sample, type POST, name "chat" (its response time is E2E): that row
and the Aggregated row count chat requests only. The per-turn figures are extra entries, type
TTFT / E2E (ms) and TPOT_us (microseconds, because Locust stores whole milliseconds and a TPOT
of 7.6 ms would lose 5-15%), named by turn. They reach the console, the web UI, `--csv` and the
master like any entry, but they must stay out of the Aggregated total: Locust has no public hook
for that, so `keep_turn_rows_out_of_total` wraps `RequestStats.log_request` (locust 2.47).
"""

from __future__ import annotations

from typing import Any

from locust.event import EventHook
from locust.stats import RequestStats

from harness.client.turn_result import TurnResult

TTFT, E2E, TPOT_US = "TTFT", "E2E", "TPOT_us"
TURN_TYPES = frozenset({TTFT, E2E, TPOT_US})
CHAT_NAME = "chat"


def turn_name(turn: int) -> str:
    return f"turn {turn:02d}"


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


def fire_turn_rows(request_event: EventHook, turn: int, result: TurnResult, context: dict[str, Any]) -> None:
    """One TTFT, E2E and TPOT row for a successful turn. Failed turns show in the "chat" row."""
    if not result.ok:
        return
    name = turn_name(turn)
    common = {"name": name, "exception": None, "context": context, "response": None}
    if result.ttft_ms is not None:
        # The TTFT row's "content size" is the cached prompt tokens: its average is cache reuse per turn.
        request_event.fire(request_type=TTFT, response_time=result.ttft_ms,
                           response_length=result.cached_tokens or 0, **common)  # fmt: skip
    request_event.fire(request_type=E2E, response_time=result.e2e_ms,
                       response_length=result.completion_tokens or 0, **common)  # fmt: skip
    if result.tpot_ms is not None:
        request_event.fire(request_type=TPOT_US, response_time=result.tpot_ms * 1000.0, response_length=0, **common)
