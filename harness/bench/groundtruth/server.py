"""A streaming chat server that knows when it sent every token: ground truth for tests and benchmarks.

It speaks vLLM's or SGLang's stream dialect with a set TTFT and inter-token latency, logs the
monotonic time right after it wrote the first and the last token of every response, and injects
one fault per request on demand. It runs in its own process (asyncio, no gevent), so the client
under test and the truth never share an event loop; `time.monotonic()` is system-wide on Linux,
so both sides' timestamps are comparable.

Per-request behaviour comes from the request body's "groundtruth" object (sent as an extra body
field), falling back to the server's defaults:

    ttft_ms, itl_ms        when the first token goes out, and the gap between tokens
    cached_tokens          what usage.prompt_tokens_details.cached_tokens reports
    dialect                "vllm" | "sglang"
    reasoning_tokens       how many of the first tokens are reasoning deltas
    usage                  "separate" (own chunk, both engines) | "last" (on the finish chunk) | "none"
    split                  write every event in two halves, 2 ms apart
    fault                  one of FAULTS; fault_after: tokens sent before it strikes

Like vLLM and SGLang (uvicorn's `timeout_keep_alive`), it closes a keep-alive connection that has
been idle, no request in flight and no byte received, for --keep-alive-timeout seconds (default 5;
0: never), so the client's reconnects can be tested against a server that knows its own timing.

Usage: python -m harness.bench.groundtruth.server [--port 0] [--dialect vllm] [--ttft-ms 200] [--itl-ms 20]
       [--keep-alive-timeout 5]
It prints "listening on http://127.0.0.1:PORT" once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

FAULTS = (
    "connect",
    "http_4xx",
    "http_429",
    "http_5xx",
    "timeout_first_token",
    "timeout_mid_stream",
    "error_event",
    "truncated",
    "aborted",
    "bad_json",
)
HANG_S = 10.0  # how long a "timeout" fault stays silent; bounded so the server never hangs forever
KEEP_ALIVE_TIMEOUT_S = 5.0  # uvicorn's default, which vLLM and SGLang 0.5 keep
WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing".split()


@dataclass
class Settings:
    model: str = "groundtruth"
    dialect: str = "vllm"
    ttft_ms: float = 200.0
    itl_ms: float = 20.0
    cached_tokens: int = 0
    api_key: str | None = None
    keep_alive_timeout_s: float = KEEP_ALIVE_TIMEOUT_S  # 0: never close an idle connection


@dataclass
class Record:
    id: str
    received: float
    dialect: str
    fault: str | None
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int = 0
    first_token: float | None = None
    last_token: float | None = None
    end: float | None = None
    token_times: list[float] = field(default_factory=list)
    # What was asked, as digests: the system message (a user's private context) and the last user
    # message, so a test can tell which person and question a request was without storing prompts.
    system_digest: str = ""
    question_digest: str = ""
    accepted: float | None = None  # when the server took the connection, if this request opened it


class GroundTruthServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log: list[Record] = []
        self._ids = itertools.count(1)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted: float | None = time.monotonic()  # stamped on this connection's first request only
        try:
            while True:
                try:
                    # Idle means not one byte: only the wait for the next request's first byte is timed.
                    async with asyncio.timeout(self.settings.keep_alive_timeout_s or None):
                        first = await reader.readexactly(1)
                except TimeoutError:
                    break
                head = first + await reader.readuntil(b"\r\n\r\n")
                received = time.monotonic()
                # Let every other request that arrived with this one take its stamp before any of
                # them is processed: the truth must not be late because the server was busy.
                await asyncio.sleep(0)
                method, path, headers = _parse_head(head)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                authorized = self.settings.api_key is None or headers.get("authorization") == (
                    f"Bearer {self.settings.api_key}"
                )
                if method == "POST" and path == "/v1/chat/completions" and not authorized:
                    keep = await _respond(writer, 401, b'{"error": {"message": "Unauthorized", "code": 401}}')
                elif method == "POST" and path == "/v1/chat/completions":
                    keep = await self.chat(json.loads(body), received, writer, accepted)
                    accepted = None
                elif method == "GET" and path.startswith("/groundtruth/log"):
                    entries = [vars(r) for r in self.log]
                    if "clear=1" in path:
                        self.log.clear()
                    keep = await _respond(writer, 200, json.dumps(entries).encode())
                elif method == "GET" and path == "/v1/models":
                    card = {"id": self.settings.model, "object": "model", "owned_by": "groundtruth"}
                    keep = await _respond(writer, 200, json.dumps({"object": "list", "data": [card]}).encode())
                elif method == "GET" and path == "/health":
                    keep = await _respond(writer, 200, b"")
                else:
                    keep = await _respond(writer, 404, b'{"detail":"Not Found"}')
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass  # the server is stopping; a stream still open just ends
        finally:
            writer.close()

    async def chat(
        self, body: dict[str, Any], received: float, writer: asyncio.StreamWriter, accepted: float | None = None
    ) -> bool:
        s = self.settings
        gt = body.get("groundtruth") or {}
        dialect = gt.get("dialect", s.dialect)
        fault = gt.get("fault")
        if fault is not None and fault not in FAULTS:
            return await _respond(writer, 400, _error(dialect, f"unknown fault {fault!r}", 400))
        if fault == "connect":
            return False  # close without a response
        if dialect == "vllm" and body.get("model") != s.model:
            # vLLM answers 404 to an unknown model; SGLang echoes whatever it was sent.
            message = f"The model `{body.get('model')}` does not exist."
            return await _respond(writer, 404, _error(dialect, message, 404))
        statuses = {"http_4xx": 400, "http_429": 429, "http_5xx": 500}
        if fault in statuses:
            status = statuses[fault]
            return await _respond(writer, status, _error(dialect, f"injected {fault}", status))

        rid = f"chatcmpl-gt{next(self._ids)}"
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) + 3
        cached = min(int(gt.get("cached_tokens", s.cached_tokens)), prompt_tokens)
        system_digest, question_digest = _digests(body.get("messages", []))
        record = Record(rid, received, dialect, fault, prompt_tokens, cached)
        record.system_digest, record.question_digest = system_digest, question_digest
        record.accepted = accepted
        self.log.append(record)
        stream = _Stream(writer, dialect, rid, body.get("model", s.model), bool(gt.get("split")))
        max_tokens = int(body.get("max_tokens", 16))
        fault_after = int(gt.get("fault_after", 3))
        reasoning = int(gt.get("reasoning_tokens", 0))
        ttft = float(gt.get("ttft_ms", s.ttft_ms)) / 1000.0
        itl = float(gt.get("itl_ms", s.itl_ms)) / 1000.0
        usage_mode = gt.get("usage", "separate")

        writer.write(_STREAM_HEAD)
        await stream.send(stream.role_chunk())
        if fault == "timeout_first_token":
            await asyncio.sleep(HANG_S)
            return False
        for i in range(max_tokens):
            if fault is not None and i == fault_after:
                return await self._strike(fault, stream, record, usage_mode)
            await _sleep_until(received + ttft + i * itl)
            last = i == max_tokens - 1
            record.completion_tokens = i + 1
            finish = "length" if last and dialect == "vllm" else None
            usage = record if last and usage_mode == "last" and dialect == "vllm" else None
            await stream.send(stream.token_chunk(WORDS[i % len(WORDS)] + " ", i < reasoning, finish, usage))
            now = time.monotonic()
            record.token_times.append(now)
            record.first_token = record.first_token or now
            record.last_token = now
        await self._finish(stream, record, "length", usage_mode)
        return True

    async def _strike(self, fault: str, stream: _Stream, record: Record, usage_mode: str) -> bool:
        if fault == "timeout_mid_stream":
            await asyncio.sleep(HANG_S)
            return False
        if fault == "error_event":
            await stream.send(_error(stream.dialect, "injected error event", 500, wrapped=True))
            await stream.send(b"[DONE]")
            await stream.end()
            return True
        if fault == "truncated":
            return False  # close with neither [DONE] nor a finish reason
        if fault == "bad_json":
            await stream.send(b'{"id": "' + stream.rid.encode() + b'", "choices": [')
            await stream.send(b"[DONE]")
            await stream.end()
            return True
        await self._finish(stream, record, "abort", usage_mode)  # aborted
        return True

    async def _finish(self, stream: _Stream, record: Record, reason: str, usage_mode: str) -> None:
        if stream.dialect == "sglang" or reason == "abort":
            # SGLang sends the finish reason in a chunk of its own; vLLM on the last delta.
            usage = record if usage_mode == "last" else None
            await stream.send(stream.finish_chunk(reason, usage))
        if usage_mode == "separate":
            await stream.send(stream.usage_chunk(record))
        await stream.send(b"[DONE]")
        record.end = time.monotonic()
        await stream.end()


_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)


class _Stream:
    def __init__(self, writer: asyncio.StreamWriter, dialect: str, rid: str, model: str, split: bool) -> None:
        self.writer, self.dialect, self.rid, self.model, self.split = writer, dialect, rid, model, split
        self.created = int(time.time())

    async def send(self, payload: bytes) -> None:
        event = b"data: " + payload + b"\n\n"
        if self.split:
            half = len(event) // 2
            self.writer.write(b"%x\r\n%s\r\n" % (half, event[:half]))
            await asyncio.sleep(0.002)
            event = event[half:]
        self.writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        if self.writer.transport.get_write_buffer_size() > 1 << 16:
            await self.writer.drain()

    async def end(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()

    def _chunk(self, choices: list[dict[str, Any]], usage: Record | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.rid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None or self.dialect == "sglang":
            chunk["usage"] = _usage(usage, self.dialect) if usage is not None else None
        return json.dumps(chunk, separators=(",", ":") if self.dialect == "vllm" else (", ", ": ")).encode()

    def _choice(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        if self.dialect == "vllm":
            choice: dict[str, Any] = {"index": 0, "delta": {k: v for k, v in delta.items() if v is not None}}
            if finish:
                choice["finish_reason"] = finish
                choice["stop_reason"] = None
            return choice
        full = {"role": None, "content": None, "reasoning_content": None, "tool_calls": None, **delta}
        return {"index": 0, "delta": full, "logprobs": None, "finish_reason": finish, "matched_stop": None}

    def role_chunk(self) -> bytes:
        return self._chunk([self._choice({"role": "assistant", "content": ""}, None)])

    def token_chunk(self, text: str, reasoning: bool, finish: str | None, usage: Record | None) -> bytes:
        key = "content" if not reasoning else ("reasoning" if self.dialect == "vllm" else "reasoning_content")
        return self._chunk([self._choice({key: text}, finish)], usage)

    def finish_chunk(self, reason: str, usage: Record | None) -> bytes:
        return self._chunk([self._choice({}, reason)], usage)

    def usage_chunk(self, record: Record) -> bytes:
        return self._chunk([], record)


def _digests(messages: list[dict[str, Any]]) -> tuple[str, str]:
    def digest(role: str, last: bool) -> str:
        texts = [str(m.get("content", "")) for m in messages if m.get("role") == role]
        return hashlib.sha256(texts[-1 if last else 0].encode()).hexdigest()[:16] if texts else ""

    return digest("system", False), digest("user", True)


def _usage(record: Record, dialect: str) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": record.prompt_tokens,
        "total_tokens": record.prompt_tokens + record.completion_tokens,
        "completion_tokens": record.completion_tokens,
    }
    if record.cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": record.cached_tokens}
    elif dialect == "sglang":
        usage["prompt_tokens_details"] = None
    return usage


def _error(dialect: str, message: str, code: int, wrapped: bool = False) -> bytes:
    kind = "BadRequestError" if code < 500 else "InternalServerError"
    body: dict[str, Any] = {"message": message, "type": kind, "param": None, "code": code}
    if dialect == "sglang" and not wrapped:
        return json.dumps({"object": "error", **body}).encode()  # SGLang's flat pre-stream shape
    if dialect == "sglang":
        body = {"object": "error", **body}
    return json.dumps({"error": body}).encode()


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes) -> bool:
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}.get(
        status, "Error"
    )
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    return True


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    return method, path, headers


async def serve(host: str, port: int, settings: Settings) -> None:
    server = GroundTruthServer(settings)
    listener = await asyncio.start_server(server.handle, host, port, backlog=1024)
    bound = listener.sockets[0].getsockname()[1]
    print(f"listening on http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with listener:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default=Settings.model)
    parser.add_argument("--dialect", choices=("vllm", "sglang"), default=Settings.dialect)
    parser.add_argument("--ttft-ms", type=float, default=Settings.ttft_ms)
    parser.add_argument("--itl-ms", type=float, default=Settings.itl_ms)
    parser.add_argument("--cached-tokens", type=int, default=0)
    parser.add_argument("--api-key-env", default=None, help="require the key held by this variable")
    parser.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=KEEP_ALIVE_TIMEOUT_S,
        metavar="SECONDS",
        help=f"close a connection idle this long (default {KEEP_ALIVE_TIMEOUT_S:g}, as uvicorn; 0: never)",
    )
    args = parser.parse_args()
    if args.keep_alive_timeout < 0:
        parser.error(f"--keep-alive-timeout: expected seconds >= 0, got {args.keep_alive_timeout:g}")
    api_key = os.environ[args.api_key_env] if args.api_key_env else None
    settings = Settings(
        args.model, args.dialect, args.ttft_ms, args.itl_ms, args.cached_tokens, api_key, args.keep_alive_timeout
    )
    try:
        import uvloop  # faster loop when available; the log stays truthful either way

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.host, args.port, settings))


if __name__ == "__main__":
    main()
