"""The two engines' wire dialects, byte for byte where it matters to a client.

vLLM shapes are those of vLLM 0.32.0 (captured from the CPU build serving the tiny model); SGLang
shapes are those documented for SGLang 0.5.x (notes/engines-and-runpod.md section 7). Token
chunks are built from a per-request prefix so that a token costs one `json.dumps` of its text.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from deploy.engines import SGLANG, VLLM, Engine

VLLM_VERSION = "0.32.0"  # the release whose shapes are mirrored here
SGLANG_VERSION = "0.5.2"


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def event(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


DONE = event(b"[DONE]")
_QUOTED: dict[str, bytes] = {}  # JSON of token texts; the emulator's vocabulary is small and fixed


class Dialect:
    """What differs between the engines, behind one interface; see the two subclasses.

    What the rest of turnbench also knows about the engine (paths, owned_by, metric names) is its
    `engine`, from deploy.engines; a dialect holds only the shapes the emulator writes.
    """

    engine: Engine
    name: str
    version: str  # the release this emulator mirrors, for /version and /get_server_info
    unknown_model_is_404: bool

    @property
    def reasoning_field(self) -> str:
        field = self.engine.reasoning_field
        assert field is not None, f"{self.name} names no reasoning field"  # both emulated engines do
        return field

    def stream(self, request_id: str, model: str) -> StreamWriter:
        return StreamWriter(self, request_id, model)

    # The JSON bodies, as dicts, so tests can read them without parsing bytes.
    def role_delta(self) -> dict[str, Any]:
        raise NotImplementedError

    def text_delta(self, text: str, reasoning: bool) -> dict[str, Any]:
        raise NotImplementedError

    def choice(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def usage(self, usage: Usage) -> dict[str, Any]:
        raise NotImplementedError

    def error_body(self, message: str, status: int, param: str | None = None, in_stream: bool = False) -> bytes:
        raise NotImplementedError

    def finish_in_own_chunk(self) -> bool:
        raise NotImplementedError

    def completion_parts(self, content: str, reasoning: str, finish: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The engine's choice object and its extra top-level fields for a non-streamed answer."""
        raise NotImplementedError

    def completion(self, request_id: str, model: str, content: str, reasoning: str, finish: str, usage: Usage) -> bytes:
        choice, extra = self.completion_parts(content, reasoning, finish)
        envelope = {"id": request_id, "object": "chat.completion", "created": int(time.time()), "model": model}
        return _dumps({**envelope, "choices": [choice], **extra, "usage": self.usage(usage)})

    def models(self, model: str, max_model_len: int) -> bytes:
        card = {"id": model, "object": "model", "created": int(time.time()), "owned_by": self.engine.owned_by}
        card["root"] = model
        card["max_model_len"] = max_model_len
        return _dumps({"object": "list", "data": [card]})


class VllmDialect(Dialect):
    engine = VLLM
    name = VLLM.name
    version = VLLM_VERSION
    unknown_model_is_404 = True

    def role_delta(self) -> dict[str, Any]:
        return {"role": "assistant", "content": ""}

    def text_delta(self, text: str, reasoning: bool) -> dict[str, Any]:
        return {self.reasoning_field if reasoning else "content": text}

    def choice(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        # vLLM 0.32 sends finish_reason on the last delta chunk, with stop_reason beside it.
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if finish is not None:
            choice["stop_reason"] = None
        choice["token_ids"] = None
        return choice

    def usage(self, usage: Usage) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt_tokens": usage.prompt_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "completion_tokens": usage.completion_tokens,
        }
        # With --enable-prompt-tokens-details vLLM 0.32 always sends the details, 0 included.
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens, "created_cache_tokens": 0}
        return body

    def error_body(self, message: str, status: int, param: str | None = None, in_stream: bool = False) -> bytes:
        kind = {400: "BadRequestError", 404: "NotFoundError", 429: "RateLimitError"}.get(status, "InternalServerError")
        return _dumps({"error": {"message": message, "type": kind, "param": param, "code": status}})

    def finish_in_own_chunk(self) -> bool:
        return False

    def completion_parts(self, content: str, reasoning: str, finish: str) -> tuple[dict[str, Any], dict[str, Any]]:
        message = {"role": "assistant", "content": content, "refusal": None, "reasoning": reasoning or None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish, "stop_reason": None}
        return choice, {"system_fingerprint": f"vllm-{VLLM_VERSION}-emulated"}


class SglangDialect(Dialect):
    engine = SGLANG
    name = SGLANG.name
    version = SGLANG_VERSION
    unknown_model_is_404 = False  # SGLang 0.5 echoes whatever model name it was sent

    def role_delta(self) -> dict[str, Any]:
        return {"role": "assistant", "content": "", "reasoning_content": None, "tool_calls": None}

    def text_delta(self, text: str, reasoning: bool) -> dict[str, Any]:
        # SGLang serializes every field, nulls included.
        delta: dict[str, Any] = {"role": None, "content": None, "reasoning_content": None, "tool_calls": None}
        delta[self.reasoning_field if reasoning else "content"] = text
        return delta

    def choice(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish, "matched_stop": None}

    def usage(self, usage: Usage) -> dict[str, Any]:
        # With --enable-cache-report; nothing cached comes back as null, not 0 (deploy.engines.sglang).
        reported = usage.cached_tokens or not self.engine.nothing_cached_is_null
        details = {"cached_tokens": usage.cached_tokens} if reported else None
        return {
            "prompt_tokens": usage.prompt_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "completion_tokens": usage.completion_tokens,
            "prompt_tokens_details": details,
        }

    def error_body(self, message: str, status: int, param: str | None = None, in_stream: bool = False) -> bytes:
        body = {"object": "error", "message": message, "type": "BadRequestError", "param": param, "code": status}
        # Before the stream SGLang sends the flat shape; inside it, wrapped in "error".
        return _dumps({"error": body} if in_stream else body)

    def finish_in_own_chunk(self) -> bool:
        return True

    def completion_parts(self, content: str, reasoning: str, finish: str) -> tuple[dict[str, Any], dict[str, Any]]:
        message = {"role": "assistant", "content": content, "reasoning_content": reasoning or None, "tool_calls": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish, "matched_stop": None}
        return choice, {}


DIALECTS: dict[str, Dialect] = {"vllm": VllmDialect(), "sglang": SglangDialect()}


class StreamWriter:
    """The SSE events of one streamed response, in order: role, tokens, finish, usage, [DONE]."""

    __slots__ = ("_content_head", "_dialect", "_envelope", "_reasoning_head", "_tail")

    def __init__(self, dialect: Dialect, request_id: str, model: str) -> None:
        self._dialect = dialect
        self._envelope: dict[str, Any] = {
            "id": request_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        # A token chunk is head + json(text) + tail; both cut from a real chunk around a marker.
        self._content_head, self._tail = self._split(dialect.text_delta("\x00", reasoning=False))
        self._reasoning_head, _ = self._split(dialect.text_delta("\x00", reasoning=True))

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = {**self._envelope, "choices": choices, **extra}
        if self._dialect.name == "sglang":
            body.setdefault("usage", None)
        return event(_dumps(body))

    def _split(self, delta: dict[str, Any]) -> tuple[bytes, bytes]:
        whole = self._chunk([self._dialect.choice(delta, None)])
        head, tail = whole.split(b'"\\u0000"')
        return head, tail

    def role(self) -> bytes:
        choice = self._dialect.choice(self._dialect.role_delta(), None)
        if self._dialect.name != "vllm":
            return self._chunk([choice])
        choice.pop("token_ids")  # vLLM 0.32's role chunk has no token_ids, but prompt fields instead
        return self._chunk([choice], prompt_token_ids=None, prompt_text=None)

    def token(self, text: str, reasoning: bool) -> bytes:
        quoted = _QUOTED.get(text)
        if quoted is None:
            quoted = _QUOTED[text] = json.dumps(text).encode()
        return (self._reasoning_head if reasoning else self._content_head) + quoted + self._tail

    def last_token(self, text: str, reasoning: bool, finish: str) -> bytes:
        """vLLM's last delta carries the finish reason; SGLang's comes in its own chunk."""
        if self._dialect.finish_in_own_chunk():
            return self.token(text, reasoning) + self.finish(finish)
        return self._chunk([self._dialect.choice(self._dialect.text_delta(text, reasoning), finish)])

    def finish(self, reason: str) -> bytes:
        empty = self._dialect.text_delta("", False) if self._dialect.name == "sglang" else {}
        if self._dialect.name == "sglang":
            empty["content"] = None
        return self._chunk([self._dialect.choice(empty, reason)])

    def usage(self, usage: Usage) -> bytes:
        extra: dict[str, Any] = {"usage": self._dialect.usage(usage)}
        if self._dialect.name == "vllm":
            extra["system_fingerprint"] = f"vllm-{VLLM_VERSION}-emulated"
        return self._chunk([], **extra)

    def error(self, message: str) -> bytes:
        return event(self._dialect.error_body(message, 500, in_stream=True))
