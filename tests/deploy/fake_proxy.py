"""The fake pod proxy's forwarding (tests/deploy/fake_runpod.py): what the fake does not answer itself
goes to a real engine emulator on 127.0.0.1, and its answer comes back as the emulator writes it.

Runpod's HTTP proxy passes an engine's server-sent events through as they are written, and turnbench
times TTFT and inter-token gaps on them: a stream is re-chunked one upstream read at a time (`read1`
returns what one chunk holds), never gathered, and the socket to the client sends each chunk at once.
The fake's handler speaks HTTP/1.0, one request per connection; a forwarded answer says HTTP/1.1 with
`Connection: close`, so that a stream can be chunked and every client still knows where it ends.
"""

from __future__ import annotations

import http.client
import socket
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

UPSTREAM_TIMEOUT_S = 300.0  # as long as turnbench waits for a first token (harness.client.chat_client.Timeouts)
READ_BYTES = 65536  # one read from the emulator: whatever its current chunk holds, up to this
# Headers of one connection, not of the message (RFC 9110 7.6.1), and the two http.client sets itself.
NOT_FORWARDED = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
     "content-length"}
)  # fmt: skip


def forward(handler: BaseHTTPRequestHandler, url: str) -> None:
    """Send the request `handler` is answering to `url` (an emulator's), and relay the answer as it arrives."""
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else None
    headers = {name: value for name, value in handler.headers.items() if name.lower() not in NOT_FORWARDED}
    target = urlsplit(url)
    handler.close_connection = True
    upstream = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=UPSTREAM_TIMEOUT_S)
    try:
        try:
            upstream.request(handler.command, f"{target.path}?{target.query}" if target.query else target.path,
                             body, headers)  # fmt: skip
            response = upstream.getresponse()
        except (OSError, http.client.HTTPException) as exc:  # the emulator is gone: what Runpod's proxy says then
            said = str(exc).encode()
            _write(handler, b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(said))
            _write(handler, said)
            return
        _relay(handler, response)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client went away (turnbench stopped a user mid-stream); closing upstream ends the stream there
    finally:
        upstream.close()


def _relay(handler: BaseHTTPRequestHandler, response: http.client.HTTPResponse) -> None:
    streamed = response.chunked or response.length is None
    head = [f"HTTP/1.1 {response.status} {response.reason}"]
    head += [f"{name}: {value}" for name, value in response.getheaders() if name.lower() not in NOT_FORWARDED]
    head += ["Transfer-Encoding: chunked" if streamed else f"Content-Length: {response.length}", "Connection: close"]
    handler.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one token must not wait for the next
    _write(handler, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    if not streamed:
        _write(handler, response.read())
        return
    try:
        while chunk := response.read1(READ_BYTES):
            _write(handler, b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except (OSError, http.client.HTTPException):
        return  # one side cut the stream: the other sees it cut too (no last chunk, or no more reads)
    _write(handler, b"0\r\n\r\n")


def _write(handler: BaseHTTPRequestHandler, data: bytes) -> None:
    handler.wfile.write(data)  # StreamRequestHandler's wfile is unbuffered (wbufsize 0): this is one sendall
    handler.wfile.flush()
