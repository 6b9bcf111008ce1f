"""The Locust users `turnbench bench` compares: turnbench's client, and two bare FastHttpUsers.

Each is a real `FastHttpUser` in a real Locust `Environment` (stats included), streaming one
chat completion per call, so the comparison is what a locustfile author would actually get:

- `TurnbenchStreamer`: `harness.client.chat_client.ChatClient` on the user's session.
- `ReadlineStreamer`: a bare user doing it right by hand: one `readline` per SSE line, so every
  event is timed on arrival, and `json.loads` on every line.
- `IterLinesStreamer`: a bare user with Locust's own `FastHttpSession.iter_lines`, which reads
  1 KiB at a time (notes/locust.md 1.3): cheap, but late by however many events fill 1 KiB.

The baselines keep no more than the figures compared (first-token time and gaps).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from locust import FastHttpUser

from harness.client.chat_client import CHAT_PATH, ChatClient
from harness.client.measurement import percentile
from harness.client.request import ChatRequest

HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream", "Accept-Encoding": "identity"}


class BenchError(Exception):
    """The benchmark cannot go on (a turn failed: the figures would be meaningless)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """What one client measured for one stream, to compare with the server's log."""

    response_id: str
    ttft_ms: float
    itl_p50_ms: float | None
    itl_p99_ms: float | None
    tokens: int


def _sample(response_id: str, t0: float, first: float | None, gaps: list[float], tokens: int) -> Sample:
    if first is None or not response_id:
        raise BenchError("a baseline stream ended without a token")
    gaps.sort()
    p50 = percentile(gaps, 0.5) * 1000 if gaps else None
    p99 = percentile(gaps, 0.99) * 1000 if gaps else None
    return Sample(response_id, (first - t0) * 1000, p50, p99, tokens)


class BenchUser(FastHttpUser):
    abstract = True
    label = ""

    def stream(self, request: ChatRequest) -> Sample:
        raise NotImplementedError


class TurnbenchStreamer(BenchUser):
    abstract = True
    label = "turnbench"

    def stream(self, request: ChatRequest) -> Sample:
        if not hasattr(self, "chat"):
            self.chat = ChatClient(self.client)
        r = self.chat.send(request)
        if not r.ok or r.ttft_ms is None or r.response_id is None:
            raise BenchError(f"a turnbench stream failed: {r.error_kind}: {r.error}")
        return Sample(r.response_id, r.ttft_ms, r.itl_p50_ms, r.itl_p99_ms, r.completion_tokens or 0)


class ReadlineStreamer(BenchUser):
    abstract = True
    label = "locust readline"

    def stream(self, request: ChatRequest) -> Sample:
        payload = json.dumps(request.body())
        t0 = time.monotonic()
        first: float | None = None
        last = 0.0
        gaps: list[float] = []
        response_id, tokens = "", 0
        with self.client.post(CHAT_PATH, data=payload, headers=HEADERS, stream=True, catch_response=True) as response:
            while line := response._response.readline(b"\n"):
                if not line.startswith(b"data: "):
                    continue
                data = line[6:].strip()
                if data == b"[DONE]":
                    break
                t = time.monotonic()
                chunk: dict[str, Any] = json.loads(data)
                response_id = chunk.get("id") or response_id
                choices = chunk.get("choices") or [{}]
                if choices[0].get("delta", {}).get("content"):
                    if first is None:
                        first = t
                    else:
                        gaps.append(t - last)
                    last = t
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
            response.success()
        return _sample(response_id, t0, first, gaps, tokens)


class IterLinesStreamer(BenchUser):
    abstract = True
    label = "locust iter_lines"

    def stream(self, request: ChatRequest) -> Sample:
        payload = json.dumps(request.body())
        t0 = time.monotonic()
        first: float | None = None
        last = 0.0
        gaps: list[float] = []
        response_id, tokens = "", 0
        for line in self.client.iter_lines(CHAT_PATH, method="POST", data=payload, headers=HEADERS):
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            t = time.monotonic()
            chunk: dict[str, Any] = json.loads(line[6:])
            response_id = chunk.get("id") or response_id
            choices = chunk.get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                if first is None:
                    first = t
                else:
                    gaps.append(t - last)
                last = t
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
        return _sample(response_id, t0, first, gaps, tokens)


STREAMERS: dict[str, type[BenchUser]] = {
    cls.label: cls for cls in (TurnbenchStreamer, ReadlineStreamer, IterLinesStreamer)
}
