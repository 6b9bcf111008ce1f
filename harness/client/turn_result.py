"""What one chat turn measured: the value every later stage reads.

A turn always yields exactly one `TurnResult`, failed or not, so that a failure can never make a
turn vanish from the statistics. The meaning of each number is fixed in `harness.client.measurement`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    """Why a turn failed. A fixed taxonomy so runs, engines and reports can be compared."""

    CONNECT = "connect"  # refused, unresolvable, or closed before any response headers
    HTTP_4XX = "http_4xx"
    HTTP_429 = "http_429"  # rate limited: kept apart from other 4xx because it means "back off"
    HTTP_5XX = "http_5xx"
    TIMEOUT_FIRST_TOKEN = "timeout_first_token"
    TIMEOUT_MID_STREAM = "timeout_mid_stream"
    ERROR_EVENT = "error_event"  # HTTP 200, then `data: {"error": ...}` inside the stream
    TRUNCATED = "truncated"  # the stream ended with neither `[DONE]` nor a finish reason
    ABORTED = "aborted"  # finish_reason "abort": the engine gave up on the request
    BAD_JSON = "bad_json"
    # Not part of the engine taxonomy: a bug in turnbench itself. It exists so that even our own
    # mistakes are counted as a failed turn instead of silently dropping the sample.
    CLIENT = "client"
    # Not the engine's either: the load generator killed the turn (Locust's stop timeout ran out,
    # or a second Ctrl-C). Recorded because the server did see the request.
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class TurnResult:
    """One streamed chat completion, timed and counted.

    Times are milliseconds from t0 (taken just before the request is written). Token counts are
    the server's own `usage` figures, `None` when the server did not report them.
    """

    started_at: float  # wall clock, epoch seconds, for joining with other records
    started_monotonic: float  # time.monotonic() at t0, for comparing with a server's own log
    ttft_ms: float | None  # first token of any kind (content or reasoning)
    ttfo_ms: float | None  # first visible answer token (non-empty content)
    e2e_ms: float  # until the stream ended, or until the failure was detected
    tpot_ms: float | None
    itl_p50_ms: float | None
    itl_p99_ms: float | None
    itl_max_ms: float | None
    prompt_tokens: int | None
    cached_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    content: str
    reasoning: str
    events: int  # SSE data events received, [DONE] included; never a token count
    token_events: int  # events that carried a token of any kind
    http_status: int | None
    response_id: str | None
    error_kind: ErrorKind | None = None
    error: str | None = None
    # Whether the turn opened a new connection (False: it reused a kept-alive one; None: unknown),
    # and how long opening it took, inside TTFT.
    new_connection: bool | None = None
    connect_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None

    def to_dict(self) -> dict[str, Any]:
        """A flat, JSON-friendly view (error_kind as its string value)."""
        row = asdict(self)
        row["ok"] = self.ok
        row["error_kind"] = self.error_kind.value if self.error_kind else None
        return row
