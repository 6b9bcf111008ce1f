"""The emulator's HTTP server closes idle keep-alive connections the way vLLM's and SGLang's uvicorn does."""

from __future__ import annotations

import socket
import time

import gevent
import pytest

from deploy.emulator.process import running_emulator
from harness.client.chat_client import ChatClient, Timeouts
from harness.client.request import ChatRequest, user_message
from tests.deploy.emulator.conftest import MODEL

KEEP_ALIVE_S = 1.0
IDLE_S = KEEP_ALIVE_S + 1.0  # a margin no busy machine eats: the server's timer never fires early
BOUNDED = Timeouts(connect=2.0, first_token=10.0, stall=10.0)


def ask(max_tokens: int = 3) -> ChatRequest:
    return ChatRequest(MODEL, [user_message("hello")], max_tokens, ignore_eos=True)


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_an_idle_connection_is_closed_after_the_timeout_and_a_busy_one_never(engine: str) -> None:
    with running_emulator(engine, "--profile", "fast", "--model", MODEL, "--keep-alive-timeout", "1") as url:
        client = ChatClient.standalone(url, timeouts=BOUNDED)
        with gevent.Timeout(60):
            first = client.send(ask())
            # The fast profile's 20 ms step: 80 tokens stream for longer than the timeout.
            long_stream = client.send(ask(max_tokens=80))
            right_after = client.send(ask())
            gevent.sleep(IDLE_S)
            after_idle = client.send(ask())
    results = [first, long_stream, right_after, after_idle]
    assert all(r.ok for r in results), [r.error for r in results]
    assert long_stream.e2e_ms > KEEP_ALIVE_S * 1000
    assert [r.new_connection for r in results] == [True, False, False, True]
    assert after_idle.connect_ms is not None and after_idle.connect_ms < (after_idle.ttft_ms or 0)


def test_the_server_closes_no_sooner_than_the_timeout_and_zero_means_never() -> None:
    request = b"GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n"
    for timeout, closes in (("1", True), ("0", False)):
        with running_emulator("vllm", "--profile", "fast", "--keep-alive-timeout", timeout) as url:
            host, port = url.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=10) as connection:
                asked = time.monotonic()  # before the server could start its clock
                connection.sendall(request)
                assert connection.recv(4096).startswith(b"HTTP/1.1 200 OK")
                connection.settimeout(IDLE_S + 1.0)
                try:
                    closed = connection.recv(4096) == b""
                except TimeoutError:
                    closed = False
                idle = time.monotonic() - asked
        assert closed is closes, timeout
        if closes:
            assert idle >= KEEP_ALIVE_S, idle
