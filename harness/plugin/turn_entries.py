"""Per-turn rows in Locust's own statistics: TTFT, E2E and TPOT for "turn 01", "turn 02", ...

Every chat turn is one Locust sample, type POST, name "chat" (its response time is E2E): that row
and the Aggregated row count chat requests only. The per-turn figures are extra entries, type
TTFT / E2E (ms) and TPOT_us (microseconds, because Locust stores whole milliseconds and a TPOT
of 7.6 ms would lose 5-15%), named by turn. They reach the console, the web UI, `--csv` and the
master like any entry, but they must stay out of the Aggregated total (harness.plugin.total_patch).

A branch (a regenerate or an edit) resends an earlier prompt, mostly cached, under the next turn
number: its rows are named "branch", so "turn 02", "turn 03"... are first asks only and a
conversation's "turn 01" is its opening question, never a branch (the planner branches only later).
"""

from __future__ import annotations

from typing import Any

from locust.event import EventHook

from harness.client.turn_result import TurnResult

TTFT, E2E, TPOT_US = "TTFT", "E2E", "TPOT_us"
TURN_TYPES = frozenset({TTFT, E2E, TPOT_US})
CHAT_NAME = "chat"
BRANCH_NAME = "branch"


def turn_name(turn: int) -> str:
    return f"turn {turn:02d}"


def entry_name(turn: int, context: dict[str, Any]) -> str:
    """The per-turn entries' name: "turn 0k" for a first ask, BRANCH_NAME for a branch."""
    return BRANCH_NAME if context.get("branch_kind") else turn_name(turn)


def fire_turn_rows(request_event: EventHook, turn: int, result: TurnResult, context: dict[str, Any]) -> None:
    """One TTFT, E2E and TPOT row for a successful turn. Failed turns show in the "chat" row."""
    if not result.ok:
        return
    name = entry_name(turn, context)
    common = {"name": name, "exception": None, "context": context, "response": None}
    if result.ttft_ms is not None:
        # The TTFT row's "content size" is the cached prompt tokens: its average is cache reuse per turn.
        request_event.fire(request_type=TTFT, response_time=result.ttft_ms,
                           response_length=result.cached_tokens or 0, **common)  # fmt: skip
    request_event.fire(request_type=E2E, response_time=result.e2e_ms,
                       response_length=result.completion_tokens or 0, **common)  # fmt: skip
    if result.tpot_ms is not None:
        request_event.fire(request_type=TPOT_US, response_time=result.tpot_ms * 1000.0, response_length=0, **common)
