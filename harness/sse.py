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
            data_lines = [line[5:] for line in event.split(b"\n") if line.startswith(b"data:")]
            if not data_lines:
                continue  # a comment or a field we do not use
            payload = b"\n".join(data_lines)
            # The spec strips one leading space after the colon; engines always send one.
            payloads.append(payload[1:] if payload[:1] == b" " else payload)
        return payloads

    @property
    def pending(self) -> bytes:
        """Bytes of an event that has not been completed by a blank line."""
        return self._buffer
