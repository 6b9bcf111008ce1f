"""Connections as a turn pays for them, against a ground-truth server that closes idle ones like uvicorn."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import gevent
import pytest

from harness.bench.groundtruth.process import GroundTruth, running_groundtruth
from harness.client.chat_client import ChatClient, Timeouts
from harness.client.turn_result import ErrorKind, TurnResult
from tests.harness.client.test_chat_client import SINGLE_SAMPLE_MS, turn

KEEP_ALIVE_S = 1.0
# Longer than the server's keep-alive timeout by a margin a busy machine cannot eat: its timer
# never fires early, and a second late is far beyond any scheduler hiccup.
IDLE_S = KEEP_ALIVE_S + 1.0
BOUNDED = Timeouts(connect=2.0, first_token=5.0, stall=5.0)


@pytest.fixture(scope="module")
def closing_server() -> Iterator[GroundTruth]:
    with running_groundtruth("--ttft-ms", "200", "--itl-ms", "20", "--keep-alive-timeout", str(KEEP_ALIVE_S)) as server:
        yield server


def ttft_error_ms(result: TurnResult, log: dict[str, dict[str, float]]) -> float:
    """Client TTFT minus the server's (from the request's arrival to the first token written)."""
    truth = log[result.response_id or ""]
    return (result.ttft_ms or 0.0) - (truth["first_token"] - truth["received"]) * 1000


def test_a_turn_after_the_idle_timeout_reconnects_inside_its_ttft(closing_server: GroundTruth) -> None:
    client = ChatClient.standalone(closing_server.url, timeouts=BOUNDED)
    with gevent.Timeout(30):
        first = client.send(turn(max_tokens=4))
        right_after = client.send(turn(max_tokens=4))
        gevent.sleep(IDLE_S)  # the person thinks; the server closes the kept-alive connection
        after_idle = client.send(turn(max_tokens=4))
        again = client.send(turn(max_tokens=4))
    log = closing_server.log()
    results = [first, right_after, after_idle, again]
    assert all(r.ok for r in results), [r.error for r in results]
    assert [r.new_connection for r in results] == [True, False, True, False]
    assert [r.connect_ms is not None for r in results] == [True, False, True, False]
    for result in results:
        error = ttft_error_ms(result, log)
        # A reconnect is inside TTFT: the server cannot see it, so the client's TTFT exceeds the
        # server's by at least the connect (0.5 ms: the server stamps a token just after writing it).
        connect = result.connect_ms or 0.0
        assert error >= connect - 0.5, (error, connect)
        # ... and TTFT without it is the server's own, within one sample's tolerance.
        assert abs(error - connect) <= SINGLE_SAMPLE_MS, (error, connect)


def test_a_request_in_flight_longer_than_the_timeout_keeps_its_connection(closing_server: GroundTruth) -> None:
    # Idle means nothing in flight: a first token that takes longer than the keep-alive timeout
    # must not cost the connection (uvicorn starts its keep-alive clock only once a response ends).
    client = ChatClient.standalone(closing_server.url, timeouts=BOUNDED)
    with gevent.Timeout(30):
        slow = client.send(turn(max_tokens=4, ttft_ms=KEEP_ALIVE_S * 1000 + 500))
        next_one = client.send(turn(max_tokens=4))
    assert slow.ok and next_one.ok, (slow.error, next_one.error)
    assert (slow.new_connection, next_one.new_connection) == (True, False)
    assert (slow.ttft_ms or 0) > KEEP_ALIVE_S * 1000


def test_a_refused_connect_is_a_new_connection_with_its_time() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with gevent.Timeout(30):
        refused = ChatClient.standalone(f"http://127.0.0.1:{closed_port}", timeouts=BOUNDED).send(turn())
    assert refused.error_kind is ErrorKind.CONNECT
    assert refused.new_connection is True
    assert refused.connect_ms is not None and 0 <= refused.connect_ms <= refused.e2e_ms
