"""The measurement contract: what TTFT, TTFO, ITL, TPOT, E2E and cached tokens mean.

Every number turnbench prints is defined here and nowhere else. The streaming client only reports
what happened and when (`chunk`, `done`, `stream_ended`, `failed`); this module decides what the
turn measured and whether it failed.

- t0 is taken immediately before the request is written, after think time (the caller's job).
  All clocks are `time.monotonic()`. t0 comes before the connection is taken from the pool, so a
  turn that has to open one (the first of a user, or any after the server closed an idle
  keep-alive connection: vLLM and SGLang do after 5 s) waits for DNS, TCP and TLS inside TTFT,
  as a person would.
- TTFT: t0 to the first delta carrying a token of any kind (content, reasoning or
  reasoning_content). The role-only first chunk does not count.
- new_connection, connect_ms: whether the turn opened a connection, and from the start to the end
  of opening it (DNS, TCP connect, TLS handshake; a refused or timed-out attempt too), reported
  apart from TTFT, so that TTFT - connect_ms is what the turn would have waited on a kept-alive
  connection. None when not known.
- TTFO: t0 to the first non-empty `content` delta (reasoning models think first).
- ITL: gaps between consecutive token-bearing events; summarised as nearest-rank p50, p99, max.
  An event may carry several tokens (vLLM merges partial UTF-8), so ITL is per event.
- E2E: t0 to the end of the stream (`[DONE]`, or the close after a finish reason), or to the
  moment a failure was detected.
- TPOT: (E2E - TTFT) / (completion_tokens - 1), with completion_tokens from the server's usage.
- Token counts are the server's `usage`, never counted from events nor re-tokenized.
- A stream is a success only if it ended with `[DONE]` or a finish reason other than `abort`, and
  carried no error event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.client.dialect import Chunk, Usage, cached_tokens
from harness.client.turn_result import ErrorKind, TurnResult


def nearest_rank(q: float, n: int) -> int:
    """The percentile rule of every figure turnbench prints: the 1-based rank ceil(q * n), at least 1.

    The q-th percentile of n values is always an observed value, never an interpolation, so a
    reported p99 TTFT is a turn that really happened (numpy's `method="inverted_cdf"`).
    """
    return max(1, math.ceil(q * n))


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return sorted_values[nearest_rank(q, len(sorted_values)) - 1]


def tpot_ms(e2e_ms: float, ttft_ms: float | None, completion_tokens: int | None) -> float | None:
    if ttft_ms is None or completion_tokens is None or completion_tokens < 2:
        return None
    return (e2e_ms - ttft_ms) / (completion_tokens - 1)


@dataclass(slots=True)
class ConnectTimes:
    """When a turn's connection was opened (monotonic seconds): both None when it reused one.

    The connection pool fills it in (harness.client.pool_patch); the meter reads it at the end.
    """

    started: float | None = None
    ended: float | None = None


class TurnMeter:
    """Accumulates one stream's events and turns them into a `TurnResult`.

    Kept lean because `chunk` runs once per streamed event: no per-event objects beyond the
    gap list and the text pieces the caller needs anyway.
    """

    __slots__ = (
        "_connect",
        "_content",
        "_done",
        "_end",
        "_error",
        "_error_kind",
        "_events",
        "_finish_reason",
        "_first_content",
        "_first_token",
        "_gaps",
        "_last_token",
        "_reasoning",
        "_response_id",
        "_started_at",
        "_t0",
        "_usage",
    )

    def __init__(self, t0: float, started_at: float, connect: ConnectTimes | None = None) -> None:
        self._t0 = t0
        self._started_at = started_at
        self._connect = connect  # None: whether the turn connected is not known
        self._first_token: float | None = None
        self._first_content: float | None = None
        self._last_token = 0.0
        self._gaps: list[float] = []
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._events = 0
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self._response_id: str | None = None
        self._done = False
        self._end: float | None = None
        self._error_kind: ErrorKind | None = None
        self._error: str | None = None

    @property
    def t0(self) -> float:
        return self._t0

    @property
    def started_at(self) -> float:
        return self._started_at

    @property
    def saw_token(self) -> bool:
        return self._first_token is not None

    @property
    def complete(self) -> bool:
        """`[DONE]` arrived and nothing failed: the connection can be kept."""
        return self._done and self._error_kind is None

    @property
    def finished(self) -> bool:
        """True once nothing more should be read: `[DONE]` arrived or the turn failed."""
        return self._done or self._error_kind is not None

    def chunk(self, t: float, chunk: Chunk) -> None:
        self._events += 1
        if chunk.response_id and self._response_id is None:
            self._response_id = chunk.response_id
        if chunk.error is not None:
            self.failed(t, ErrorKind.ERROR_EVENT, chunk.error)
            return
        if chunk.content or chunk.reasoning:
            if self._first_token is None:
                self._first_token = t
            else:
                self._gaps.append(t - self._last_token)
            self._last_token = t
            if chunk.content:
                if self._first_content is None:
                    self._first_content = t
                self._content.append(chunk.content)
            if chunk.reasoning:
                self._reasoning.append(chunk.reasoning)
        if chunk.finish_reason is not None:
            self._finish_reason = chunk.finish_reason
        if chunk.usage:
            self._usage = chunk.usage

    def done(self, t: float) -> None:
        """`data: [DONE]` arrived."""
        self._events += 1
        self._done = True
        self._end = t

    def stream_ended(self, t: float) -> None:
        """The connection closed or the body ended, with or without `[DONE]`."""
        if self._end is None:
            self._end = t

    def failed(self, t: float, kind: ErrorKind, message: str) -> None:
        """Record a failure; the first one wins (an error event outranks the close that follows)."""
        if self._error_kind is None:
            self._error_kind = kind
            self._error = message
            self._end = t

    def result(self, http_status: int | None, t_end: float) -> TurnResult:
        end = self._end if self._end is not None else t_end
        kind, error = self._error_kind, self._error
        if kind is None:
            if self._finish_reason == "abort":
                kind, error = ErrorKind.ABORTED, "the engine aborted the request (finish_reason: abort)"
            elif not self._done and self._finish_reason is None:
                kind, error = ErrorKind.TRUNCATED, "stream ended without [DONE] or a finish reason"

        e2e = (end - self._t0) * 1000.0
        ttft = (self._first_token - self._t0) * 1000.0 if self._first_token is not None else None
        ttfo = (self._first_content - self._t0) * 1000.0 if self._first_content is not None else None
        usage = self._usage
        completion = usage.get("completion_tokens") if usage else None
        gaps = sorted(self._gaps)
        connect = self._connect
        opened, connected = (connect.started, connect.ended) if connect is not None else (None, None)
        return TurnResult(
            started_at=self._started_at,
            started_monotonic=self._t0,
            ttft_ms=ttft,
            ttfo_ms=ttfo,
            e2e_ms=e2e,
            tpot_ms=tpot_ms(e2e, ttft, completion),
            itl_p50_ms=percentile(gaps, 0.50) * 1000.0 if gaps else None,
            itl_p99_ms=percentile(gaps, 0.99) * 1000.0 if gaps else None,
            itl_max_ms=gaps[-1] * 1000.0 if gaps else None,
            prompt_tokens=usage.get("prompt_tokens") if usage else None,
            cached_tokens=cached_tokens(usage),
            completion_tokens=completion,
            finish_reason=self._finish_reason,
            content="".join(self._content),
            reasoning="".join(self._reasoning),
            events=self._events,
            token_events=len(self._gaps) + (1 if self._first_token is not None else 0),
            http_status=http_status,
            response_id=self._response_id,
            error_kind=kind,
            error=error,
            new_connection=None if connect is None else opened is not None,
            connect_ms=(connected - opened) * 1000.0 if opened is not None and connected is not None else None,
        )
