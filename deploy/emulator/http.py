"""A small HTTP/1.1 server on asyncio protocols, for servers that stream many small events.

An emulator step hands out a token to every running stream at once; with 256 streams each write
must cost microseconds, or the last stream's token leaves late and the emulator's own timing
becomes the thing measured. Writing chunked frames straight to the transport does that; general
frameworks add a coroutine and a buffer per write. Requests are simple (Content-Length bodies,
keep-alive, one at a time per connection), which is all OpenAI-compatible clients send.

Like the engines' uvicorn, it closes a connection that has been idle (no request in flight, no
byte received) for the keep-alive timeout: a person who thinks longer than that between turns
reconnects inside TTFT on a real engine, and so must on the emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024  # a very long conversation, never a reason to refuse
# uvicorn's default `timeout_keep_alive`, which vLLM (VLLM_HTTP_TIMEOUT_KEEP_ALIVE) and SGLang 0.5 keep.
KEEP_ALIVE_TIMEOUT_S = 5.0
REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
    411: "Length Required", 413: "Content Too Large", 429: "Too Many Requests",
    500: "Internal Server Error", 503: "Service Unavailable",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes


class Responder:
    """Answers one request: a whole response, or a chunked stream written piece by piece."""

    __slots__ = ("_done", "_protocol", "_streaming", "on_close")

    def __init__(self, protocol: HttpProtocol) -> None:
        self._protocol = protocol
        self._streaming = False
        self._done = False
        self.on_close: Callable[[], None] | None = None  # called if the client goes away first

    @property
    def closed(self) -> bool:
        return self._done or self._protocol.transport is None

    def send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        self._write(head.encode() + body)
        self._finish()

    def start_stream(self, content_type: str = "text/event-stream; charset=utf-8") -> None:
        self._streaming = True
        self._write(
            f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncache-control: no-cache\r\n"
            "transfer-encoding: chunked\r\n\r\n".encode()
        )

    def write(self, data: bytes) -> bool:
        """One chunk of the stream; False if the client is gone."""
        transport = self._protocol.transport
        if transport is None or self._done:
            return False
        transport.write(b"%x\r\n%s\r\n" % (len(data), data))
        return True

    def end(self) -> None:
        if self._streaming:
            self._write(b"0\r\n\r\n")
        self._finish()

    def abort(self) -> None:
        """Drop the connection without finishing the response (a crashed server, as seen by a client)."""
        self._done = True
        if self._protocol.transport is not None:
            self._protocol.transport.close()

    def _write(self, data: bytes) -> None:
        if self._protocol.transport is not None and not self._done:
            self._protocol.transport.write(data)

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self._protocol.request_done()


Handler = Callable[[HttpRequest, Responder], Coroutine[Any, Any, None]]


class HttpProtocol(asyncio.Protocol):
    def __init__(self, handler: Handler, keep_alive_timeout_s: float = KEEP_ALIVE_TIMEOUT_S) -> None:
        self._handler = handler
        self._keep_alive_timeout_s = keep_alive_timeout_s  # 0: never close an idle connection
        self._idle_timer: asyncio.TimerHandle | None = None
        self._buffer = b""
        self._current: Responder | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # asyncio keeps only weak references to tasks
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self._idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._busy()
        current, self._current = self._current, None
        if current is not None and current.on_close is not None:
            current.on_close()

    def data_received(self, data: bytes) -> None:
        self._busy()
        self._buffer += data
        if self._current is None:
            self._next_request()

    def request_done(self) -> None:
        self._current = None
        if self._buffer and self.transport is not None:
            self._next_request()
        elif not self._buffer:
            self._idle()

    def _idle(self) -> None:
        """Nothing in flight and nothing received: start the keep-alive clock."""
        if self._keep_alive_timeout_s > 0 and self.transport is not None and self._idle_timer is None:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_later(self._keep_alive_timeout_s, self._close_idle)

    def _busy(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _close_idle(self) -> None:
        self._idle_timer = None
        if self.transport is not None and self._current is None and not self._buffer:
            self.transport.close()

    def _next_request(self) -> None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                self._reject(413)
            return
        try:
            request_line, *lines = self._buffer[:end].decode("latin-1").split("\r\n")
            method, target, _version = request_line.split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        except ValueError:
            self._reject(400)
            return
        if "chunked" in headers.get("transfer-encoding", ""):
            self._reject(411)
            return
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY_BYTES:
            self._reject(413)
            return
        if len(self._buffer) < end + 4 + length:
            return  # wait for the rest of the body
        body = self._buffer[end + 4 : end + 4 + length]
        self._buffer = self._buffer[end + 4 + length :]
        url = urlsplit(target)
        request = HttpRequest(method, url.path, parse_qs(url.query), headers, body)
        self._current = Responder(self)
        task = asyncio.get_running_loop().create_task(self._handler(request, self._current))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _reject(self, status: int) -> None:
        if self.transport is not None:
            reason = REASONS.get(status, "Error")
            self.transport.write(f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n\r\n".encode())
            self.transport.close()
