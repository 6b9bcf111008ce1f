"""`POST /v1/chat/completions`: validate as the engine would, then stream the engine's tokens.

Validation errors use the engine's own status codes and error shapes. Each request gets one
ground-truth record; an injected fault replaces part of the response exactly where the
client's taxonomy expects it (before the headers, at the first token, or mid-stream), and the
record names the fault only once it has struck.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import Any

from deploy.emulator.dialects import DONE, Dialect, StreamWriter, Usage, event
from deploy.emulator.engine import Engine
from deploy.emulator.faults import HANG_S, MID_STREAM, FaultPlan
from deploy.emulator.http import HttpRequest, Responder
from deploy.emulator.tokens import PromptTokenizer
from deploy.emulator.truth import Truth, TruthRecord


class RequestError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.param = status, param


class ChatEndpoint:
    def __init__(
        self,
        engine: Engine,
        dialect: Dialect,
        model: str,
        truth: Truth,
        faults: FaultPlan,
        seed: int,
    ) -> None:
        self.engine, self.dialect, self.model, self.truth, self.faults = engine, dialect, model, truth, faults
        self.tokenizer = PromptTokenizer()
        self.rng = random.Random(seed ^ 0x5EED)

    async def handle(self, request: HttpRequest, responder: Responder) -> None:
        record = TruthRecord(f"chatcmpl-{uuid.uuid4().hex[:16]}", self.dialect.name, time.monotonic(), time.time())
        self.truth.add(record)
        fault = self.faults.draw(self.rng)
        try:
            body = self._parse(request.body)
            prompt = self.tokenizer.encode_chat(body["messages"])
            max_tokens, min_tokens, exact = self._lengths(body, len(prompt))
        except RequestError as exc:
            record.status = exc.status
            responder.send(exc.status, self.dialect.error_body(str(exc), exc.status, exc.param))
            self.truth.done(record)
            return
        if fault == "connect":
            record.fault, record.status = fault, 0
            responder.abort()
            self.truth.done(record)
            return
        if fault in ("http_4xx", "http_429", "http_5xx"):
            record.fault = fault
            # 503 Service Unavailable: what a server shedding load answers (a proxy in front of vLLM or
            # SGLang when every replica is busy), the case a capacity search must count as a miss.
            record.status = {"http_4xx": 400, "http_429": 429, "http_5xx": 503}[fault]
            responder.send(record.status, self.dialect.error_body(f"injected fault: {fault}", record.status))
            self.truth.done(record)
            return

        model = str(body.get("model") or self.model)
        options = body.get("stream_options")
        # vLLM defaults include_usage to true once stream_options is sent; SGLang to false (0.5.x).
        default_usage = self.dialect.name == "vllm" and isinstance(options, dict)
        include_usage = bool((options or {}).get("include_usage", default_usage))
        sink: StreamSink | CompleteSink
        if body.get("stream"):
            responder.start_stream()
            sink = StreamSink(self, responder, record, StreamWriter(self.dialect, record.request_id, model))
            sink.include_usage = include_usage
            responder.write(sink.writer.role())
        else:
            sink = CompleteSink(self, responder, record, model)
        if fault == "timeout_first_token":
            hang(record, fault, responder, self.truth)
            return
        if fault in MID_STREAM:
            sink.strike_at = self.rng.randint(1, 4)
            sink.fault = fault
        seq = self.engine.submit(prompt, max_tokens, min_tokens, exact, sink)
        responder.on_close = lambda: self.engine.drop(seq)

    def _parse(self, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError:
            raise RequestError(400, "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise RequestError(400, "request body must be a JSON object")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise RequestError(400, "messages must be a non-empty list of message objects", "messages")
        if self.dialect.unknown_model_is_404 and body.get("model") != self.model:
            raise RequestError(404, f"The model `{body.get('model')}` does not exist.", "model")
        return body

    def _lengths(self, body: dict[str, Any], prompt_tokens: int) -> tuple[int, int, bool]:
        limit = self.engine.profile.max_model_len
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        if max_tokens is None:
            max_tokens = limit - prompt_tokens  # both engines fill the context when not told
        min_tokens = body.get("min_tokens") or 0
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise RequestError(400, f"max_tokens must be a positive integer, got {max_tokens!r}", "max_tokens")
        if not isinstance(min_tokens, int) or min_tokens < 0 or min_tokens > max_tokens:
            raise RequestError(400, f"min_tokens must be between 0 and max_tokens, got {min_tokens!r}", "min_tokens")
        if prompt_tokens + max_tokens > limit:
            message = (
                f"This model's maximum context length is {limit} tokens. However, you requested "
                f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, "
                f"{max_tokens} in the completion)."
            )
            raise RequestError(400, message, "max_tokens")
        if not self.engine.fits(prompt_tokens, max_tokens):
            raise RequestError(400, "the request needs more KV cache than the whole budget of the profile")
        exact = min_tokens >= max_tokens or bool(body.get("ignore_eos"))
        return max_tokens, min_tokens, exact


def hang(record: TruthRecord, fault: str, responder: Responder, truth: Truth) -> None:
    """Fall silent: the client's timeout ends the request, or HANG_S does. Its outcome is known, so
    the record is written now, and stays listed however the connection ends."""
    record.fault, record.hung = fault, True
    asyncio.get_running_loop().call_later(HANG_S, responder.abort)
    truth.done(record)


def settle(record: TruthRecord, finish_reason: str, prompt: int, cached: int, completion: int) -> TruthRecord:
    record.finish_reason, record.prompt_tokens = finish_reason, prompt
    record.cached_tokens, record.completion_tokens = cached, completion
    return record


class StreamSink:
    """Streams tokens as SSE events and logs when each really left."""

    __slots__ = ("endpoint", "fault", "include_usage", "record", "responder", "sent", "strike_at", "writer")

    def __init__(self, endpoint: ChatEndpoint, responder: Responder, record: TruthRecord, writer: StreamWriter):
        self.endpoint, self.responder, self.record, self.writer = endpoint, responder, record, writer
        self.include_usage = True
        self.fault: str | None = None
        self.strike_at = -1
        self.sent = 0

    def token(self, text: str, reasoning: bool, finish: str | None, scheduled: float) -> bool:
        if self.sent == self.strike_at:
            self._strike()
            return False
        data = self.writer.last_token(text, reasoning, finish) if finish else self.writer.token(text, reasoning)
        if not self.responder.write(data):
            return False
        now = time.monotonic()
        self.endpoint.truth.late((now - scheduled) * 1000.0)
        record = self.record
        if not self.sent:
            record.first_token_sent = now
        self.sent += 1
        record.completion_tokens = self.sent
        record.last_token_sent = now
        return True

    def finished(self, finish_reason: str, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> None:
        settle(self.record, finish_reason, prompt_tokens, cached_tokens, completion_tokens)
        if self.include_usage:
            self.responder.write(self.writer.usage(Usage(prompt_tokens, completion_tokens, cached_tokens)))
        self.responder.write(DONE)
        self.responder.end()
        self.endpoint.truth.done(self.record)

    def _strike(self) -> None:
        fault, responder = self.fault, self.responder
        if fault == "timeout_mid_stream":
            hang(self.record, fault, responder, self.endpoint.truth)
            return
        if fault == "truncated":
            responder.abort()
        elif fault == "error_event":
            responder.write(self.writer.error("injected fault: error_event") + DONE)
            responder.end()
        elif fault == "bad_json":
            responder.write(event(b'{"id": "broken", "choices": [') + DONE)
            responder.end()
        elif fault == "aborted":
            responder.write(self.writer.finish("abort") + DONE)
            responder.end()
        self.record.finish_reason = "abort" if fault == "aborted" else None
        self.record.fault = fault
        self.endpoint.truth.done(self.record)


class CompleteSink:
    """A non-streaming answer: collect the tokens, answer once."""

    def __init__(self, endpoint: ChatEndpoint, responder: Responder, record: TruthRecord, model: str) -> None:
        self.endpoint, self.responder, self.record, self.model = endpoint, responder, record, model
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.fault: str | None = None
        self.strike_at = -1

    def token(self, text: str, reasoning: bool, finish: str | None, scheduled: float) -> bool:
        if len(self.content) + len(self.reasoning) == self.strike_at:
            # Unstreamed, a mid-stream fault can only be an error answer.
            self.record.fault, self.record.status = "http_5xx", 500
            self.responder.send(500, self.endpoint.dialect.error_body(f"injected fault: {self.fault}", 500))
            self.endpoint.truth.done(self.record)
            return False
        (self.reasoning if reasoning else self.content).append(text)
        now = time.monotonic()
        if self.record.first_token_sent is None:
            self.record.first_token_sent = now
        self.record.last_token_sent = now
        return not self.responder.closed

    def finished(self, finish_reason: str, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> None:
        r = settle(self.record, finish_reason, prompt_tokens, cached_tokens, completion_tokens)
        usage = Usage(prompt_tokens, completion_tokens, cached_tokens)
        body = self.endpoint.dialect.completion(
            r.request_id, self.model, "".join(self.content), "".join(self.reasoning), finish_reason, usage
        )
        self.responder.send(200, body)
        self.endpoint.truth.done(r)
