"""Reading one chat-completion chunk in either engine's dialect.

The two engines agree on the envelope and differ in details; every difference we rely on is
handled here, with the engine and version that produces it, so that the client and the
measurement code never look at raw JSON. The facts behind them (which field carries reasoning,
which flag turns on cached tokens, who sends null) are named once per engine in deploy.engines;
the parsing stays here, written out for speed, since it runs once per token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict


class PromptTokensDetails(TypedDict, total=False):
    cached_tokens: int | None


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: NotRequired[int]
    prompt_tokens_details: NotRequired[PromptTokensDetails | None]


class Delta(TypedDict, total=False):
    role: str | None
    content: str | None
    reasoning: str | None
    reasoning_content: str | None


class Choice(TypedDict, total=False):
    index: int
    delta: Delta
    finish_reason: str | None
    matched_stop: int | str | None  # SGLang only


class ErrorBody(TypedDict, total=False):
    message: str
    type: str
    param: str | None
    code: int | str | None
    object: str


class ChatCompletionChunk(TypedDict, total=False):
    id: str
    object: str
    model: str
    choices: list[Choice]
    usage: Usage | None
    error: ErrorBody


class BadChunk(ValueError):
    """A `data:` payload that is not a JSON object."""


@dataclass(slots=True)  # not frozen: a frozen dataclass costs twice as much to build, once per token
class Chunk:
    """The parts of one chunk that the measurement needs."""

    content: str  # "" when the delta carried no visible text
    reasoning: str  # "" when the delta carried no reasoning text
    finish_reason: str | None
    usage: Usage | None
    error: str | None  # the server's message for an in-stream error event
    response_id: str | None

    @property
    def has_token(self) -> bool:
        return bool(self.content or self.reasoning)


def read_chunk(payload: bytes) -> Chunk:
    """Parse one `data:` payload (not `[DONE]`).

    Only choice 0 is read: turnbench always asks for one completion per request.
    """
    try:
        obj: ChatCompletionChunk = json.loads(payload)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise BadChunk(f"not JSON: {payload[:80]!r}") from exc
    if not isinstance(obj, dict):
        raise BadChunk(f"not a JSON object: {payload[:80]!r}")

    # Most chunks carry neither marker: skip the error lookup for them (it runs once per token).
    error = _error_message(obj) if "error" in obj or "message" in obj else None
    content = reasoning = ""
    finish_reason = None
    choices = obj.get("choices") or []  # vLLM and SGLang: the usage chunk has "choices": []
    if choices:
        choice = choices[0]
        # SGLang 0.5 serializes every field, so absent and null must be treated alike.
        delta = choice.get("delta") or {}
        content = delta.get("content") or ""
        # vLLM >= 0.12 names it `reasoning` (PR #27752); SGLang and older vLLM `reasoning_content`
        # (their Engine.reasoning_field); some vLLM builds send both as copies, so take one, never
        # their sum.
        reasoning = delta.get("reasoning") or delta.get("reasoning_content") or ""
        finish_reason = choice.get("finish_reason")
    return Chunk(
        content=content,
        reasoning=reasoning,
        finish_reason=finish_reason,
        # vLLM sends usage in its own chunk after the last delta; SGLang too when asked; some
        # OpenAI-compatible servers attach it to the last delta chunk. All three land here.
        usage=obj.get("usage"),
        error=error,
        response_id=obj.get("id"),
    )


def _error_message(obj: Mapping[str, Any]) -> str | None:
    error = obj.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(error, str):
        return error
    # Older vLLM and SGLang's pre-stream errors use a flat {"object": "error", "message": ...}.
    if obj.get("object") == "error":
        return str(obj.get("message") or obj)
    return None


def error_body_message(body: bytes) -> str:
    """The server's own words from an HTTP error body, in whichever shape it used."""
    try:
        obj = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip() or "(empty body)"
    if isinstance(obj, dict):
        message = _error_message(obj) or obj.get("detail")
        if message:
            return str(message)
    return json.dumps(obj)[:200]


def cached_tokens(usage: Usage | None) -> int | None:
    """`usage.prompt_tokens_details.cached_tokens` exactly as reported, `None` when absent.

    An engine reports it only when launched with its `cached_tokens_flag` (deploy.engines), and
    may omit the details object or send null when nothing was cached (SGLang 0.5 does:
    `nothing_cached_is_null`), so for one turn `None` means "not reported", not "zero". Whether
    it meant zero is a question about the whole run (the engine, its flags, the other turns):
    harness.recording.cached_rule answers it when the row is written.
    """
    if not usage:
        return None
    details = usage.get("prompt_tokens_details")
    if not details:
        return None
    value = details.get("cached_tokens")
    return int(value) if value is not None else None
