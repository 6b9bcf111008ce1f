"""Fault injection: each request draws at most one fault, at rates set per kind, from a seeded RNG.

The kinds are the client's error taxonomy (harness.client.turn_result.ErrorKind), so a test can check
that every injected fault comes back as a failed turn of the same kind.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

KINDS = (
    "connect",  # the connection is closed before any response
    "http_4xx",
    "http_429",
    "http_5xx",
    "timeout_first_token",  # headers, then silence
    "timeout_mid_stream",  # a few tokens, then silence
    "error_event",  # a few tokens, an error event, [DONE]
    "truncated",  # a few tokens, then the connection drops
    "aborted",  # a few tokens, finish_reason "abort"
    "bad_json",  # a few tokens, then an event that is not JSON
)
MID_STREAM = frozenset({"timeout_mid_stream", "error_event", "truncated", "aborted", "bad_json"})
HANG_S = 600.0  # how long a "timeout" fault keeps the connection silent; clients give up long before


class FaultSpecError(ValueError):
    """A --faults value that cannot be used."""


@dataclass(frozen=True)
class FaultPlan:
    rates: dict[str, float]

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        """`"http_5xx=0.01,truncated=0.02"`: the share of requests that get each fault."""
        rates: dict[str, float] = {}
        for item in (spec or "").split(","):
            if not item.strip():
                continue
            kind, sep, value = item.partition("=")
            kind = kind.strip()
            if not sep:
                raise FaultSpecError(f"fault {item.strip()!r} needs a rate, e.g. {kind}=0.01")
            if kind not in KINDS:
                raise FaultSpecError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")
            try:
                rate = float(value)
            except ValueError:
                raise FaultSpecError(f"fault rate for {kind} must be a number, got {value.strip()!r}") from None
            if not 0.0 <= rate <= 1.0:
                raise FaultSpecError(f"fault rate for {kind} must be between 0 and 1, got {rate}")
            rates[kind] = rate
        if sum(rates.values()) > 1.0:
            raise FaultSpecError(f"fault rates add up to {sum(rates.values()):g}, more than 1")
        return cls(rates)

    def draw(self, rng: random.Random) -> str | None:
        if not self.rates:
            return None
        roll = rng.random()
        for kind, rate in self.rates.items():
            if roll < rate:
                return kind
            roll -= rate
        return None
