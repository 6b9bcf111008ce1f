"""Server-sent events framing for OpenAI-compatible chat streams.

Both engines send only `data: <payload>` lines separated by blank lines: no `event:` names, no
ids, no keep-alive comments (vLLM 0.11+, SGLang 0.5.x). That makes a full SSE parser
(sseclient-py) unnecessary on the hot path, where it would cost a decode and an object per event;
the tests check this decoder against sseclient-py on the same bytes.
"""

from __future__ import annotations

DONE = b"[DONE]"


class SSEDecoder:
    """Turns bytes, as they arrive in reads of any size, into complete `data:` payloads.

    A payload is returned only once the blank line that ends its event has arrived, so an event
    split across reads is timed when its last byte arrives. `\\r\\n` line ends are accepted
    (Runpod's serverless relay and some proxies rewrite them).
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data if self._buffer else data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._buffer = buffer
            return []
        self._buffer = buffer[end + 2 :]
        payloads: list[bytes] = []
        for event in buffer[:end].split(b"\n\n"):
            if event.startswith(b"data: ") and b"\n" not in event:
                payloads.append(event[6:])  # the shape both engines send: one line, one space
                continue
            # The general case: several data lines are joined by newlines, and each loses one
            # leading space; other fields and comments are ignored.
            lines = [line[5:] for line in event.split(b"\n") if line.startswith(b"data:")]
            if lines:
                payloads.append(b"\n".join(line[1:] if line[:1] == b" " else line for line in lines))
        return payloads

    @property
    def pending(self) -> bytes:
        """Bytes of an event that has not been completed by a blank line."""
        return self._buffer
