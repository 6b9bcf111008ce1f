"""One chat turn as sent on the wire, with turnbench's non-negotiable fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict


class Message(TypedDict):
    role: str
    content: str


class StreamOptions(TypedDict):
    include_usage: bool


class ChatCompletionRequest(TypedDict):
    model: str
    messages: list[Message]
    stream: bool
    stream_options: StreamOptions
    max_tokens: int
    min_tokens: NotRequired[int]
    ignore_eos: NotRequired[bool]
    temperature: NotRequired[float]
    top_p: NotRequired[float]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What to ask. `max_tokens` is required: without it generation runs to the context limit.

    `min_tokens` and `ignore_eos` control output length so that both engines generate the same
    number of tokens (both vLLM and SGLang accept them as extra sampling parameters).
    """

    model: str
    messages: Sequence[Message]
    max_tokens: int
    min_tokens: int | None = None
    ignore_eos: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.min_tokens is not None and self.min_tokens > self.max_tokens:
            raise ValueError(f"min_tokens ({self.min_tokens}) exceeds max_tokens ({self.max_tokens})")

    def body(self) -> dict[str, Any]:
        body: ChatCompletionRequest = {
            "model": self.model,
            "messages": list(self.messages),
            "stream": True,
            # SGLang's StreamOptions defaults include_usage to false (0.5.x): always ask.
            "stream_options": {"include_usage": True},
            "max_tokens": self.max_tokens,
        }
        if self.min_tokens is not None:
            body["min_tokens"] = self.min_tokens
        if self.ignore_eos is not None:
            body["ignore_eos"] = self.ignore_eos
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.top_p is not None:
            body["top_p"] = self.top_p
        return {**body, **self.extra_body}


def user_message(text: str) -> Message:
    return {"role": "user", "content": text}
