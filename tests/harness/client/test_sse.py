"""The SSE decoder gives the same payloads as sseclient-py, however the bytes are split."""

from __future__ import annotations

import random

import pytest
import sseclient

from harness.client.sse import SSEDecoder

STREAM = (
    b'data: {"id":"a","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
    b": a comment line that servers may send\n\n"
    b'data: {"id":"a","choices":[{"index":0,"delta":{"content":"caf\xc3\xa9"}}]}\n\n'
    b'data: {"id":"a","choices":[{"index":0,"delta":{"reasoning":"hm"}}]}\r\n\r\n'
    b"data:no-space-after-colon\n\n"
    b'data: {"first": 1,\ndata:  "second": 2}\n\n'
    b"event: ignored\ndata: after-event-line\n\n"
    b"data: [DONE]\n\n"
)


def reference_payloads(stream: bytes) -> list[bytes]:
    return [event.data.encode() for event in sseclient.SSEClient(iter([stream])).events()]


def decode(pieces: list[bytes]) -> list[bytes]:
    decoder = SSEDecoder()
    return [payload for piece in pieces for payload in decoder.feed(piece)]


def test_whole_stream_matches_sseclient() -> None:
    assert decode([STREAM]) == reference_payloads(STREAM)


@pytest.mark.parametrize("seed", range(25))
def test_any_split_matches_sseclient(seed: int) -> None:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 40)))
    pieces = [STREAM[a:b] for a, b in zip([0, *cuts], [*cuts, len(STREAM)], strict=True)]
    assert decode(pieces) == reference_payloads(STREAM)


def test_an_event_is_released_only_when_its_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"x": 1}\n') == []
    assert decoder.feed(b"\r") == []
    assert decoder.feed(b"\n") == [b'{"x": 1}']
    assert decoder.pending == b""
