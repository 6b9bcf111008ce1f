"""Reading a streamed HTTP body as the bytes arrive.

geventhttpclient's public readers wait for more than the next event: `read(n)` blocks until n
bytes are buffered and Locust's `iter_lines` reads 1 KiB at a time, which delays each event by
several inter-token gaps (about +60 ms of TTFT, notes/locust.md 1.3). `readline` is unbiased but
costs a call and a copy per line. This reader takes whatever one `recv` returns, so every
timestamp is taken when its bytes arrived and several events in one read cost one call.

It relies on three internals of `geventhttpclient.response.HTTPSocketResponse` (2.6.x, pinned
in pyproject.toml): `_sock`, `_body_buffer` and `feed()`. They have been stable since 2.0.
"""

from __future__ import annotations

from typing import Any

from geventhttpclient.response import HTTPSocketResponse

RECV_BYTES = 65536  # one recv returns what is there, up to this; big enough for a burst of events


class BodyEnded(Exception):
    """The peer closed the connection before the HTTP body was complete."""


class BodyReader:
    """Hands out body bytes one `recv` at a time; `b""` means the body ended cleanly."""

    __slots__ = ("_buffer", "_response", "_restore_timeout", "_sock")

    def __init__(self, response: HTTPSocketResponse) -> None:
        self._response: Any = response  # Any: we use its private attributes, see module doc
        self._buffer: bytearray = self._response._body_buffer
        self._sock = self._response._sock  # None if the whole body came with the headers
        self._restore_timeout = self._sock.gettimeout() if self._sock is not None else None

    def set_timeout(self, seconds: float | None) -> None:
        """Limit how long the next reads may wait for bytes (raises `TimeoutError`); None: no limit."""
        if self._sock is not None:
            self._sock.settimeout(seconds)

    def read(self) -> bytes:
        response, buffer = self._response, self._buffer
        while not buffer:
            if response.message_complete:
                return b""
            sock = response._sock
            if sock is None:
                raise BodyEnded("connection released before the body ended")
            data = sock.recv(RECV_BYTES)
            if not data:
                self.close()
                raise BodyEnded("connection closed by the server before the body ended")
            response.feed(data)  # de-chunks into _body_buffer; on the last chunk it pools the socket
            if response.message_complete:
                self._reset_timeout()
        data = bytes(buffer)
        del buffer[:]
        return data

    def close(self, drain_s: float = 0.0) -> None:
        """Give the connection back: pooled if the body ended cleanly, closed otherwise.

        With `drain_s`, first wait that long for the rest of the body. After `[DONE]` only the
        chunked terminator is left; reading it keeps the connection for the next turn, where a
        fresh connect would otherwise add its setup to the next t0-to-write gap.
        """
        if drain_s > 0 and not self._response.message_complete:
            try:
                self.set_timeout(drain_s)
                while self.read():
                    pass
            except Exception:
                pass
        self._reset_timeout()
        self._response.release()

    def _reset_timeout(self) -> None:
        # The socket may go back to a pool shared with later requests: undo our timeouts.
        if self._sock is not None:
            self._sock.settimeout(self._restore_timeout)
