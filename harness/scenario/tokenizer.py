"""Counting and cutting prompt text in the target model's tokens, offline and at start-up only.

Scenarios promise sizes in tokens ("a 7,000-token shared context"), and those sizes only mean
something in the tokenizer of the model being served. `load_tokenizer` loads that tokenizer from a
local folder or the Hugging Face cache, never from the network (`local_files_only=True`): a
benchmark must not depend on, or be slowed by, a hub download, and many GPU hosts have no hub
access. When the tokenizer cannot be had offline, an approximate one (4 characters per token)
stands in; it says so in `exact` and `describe()` so the run record shows that sizes are estimates.

Tokenize at start-up, never per request. Tokenizing runs on the CPU and holds the gevent loop for
the whole call (notes/locust.md 10: 0.7 to 2.9 s stalls), which would inflate every other user's
TTFT. Scenarios therefore build every prompt part once when they load; the hot path uses the
server's `usage` for counts and never calls this module.
"""

from __future__ import annotations

import logging
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Locust forks worker processes; a Rust tokenizer that already used its thread pool deadlocks or
# warns after a fork unless parallelism is off. Respect a value the user set on purpose.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4  # the approximate tokenizer's rate; close to BPE tokenizers on English prose
# Chat-template framing when there is no template to render: ChatML spends about 4 tokens per
# message (<|im_start|>, role, newline, <|im_end|>) and 3 on the assistant prompt.
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REPLY_PROMPT = 3
FIT_MARGIN = 64  # extra source tokens beyond the target so the cut never runs off the end
# `fit` encodes only the head of a long source, which keeps a per-user context at about a
# millisecond: first (target tokens) x this many characters, three times more while short of it.
FIT_HEAD_CHARS_PER_TOKEN = 6
FIT_SEARCH = 16  # how far around the target cut `fit` looks when decode/encode does not round-trip
CYCLE_SEPARATOR = "\n\n"  # joins copies of a source text that is shorter than the target
# What `fit` may append when no cut of the text is exact. Several kinds, because what adds exactly
# one token depends on the end of the text (after "\n\n", a "." splits the newlines: +2 tokens).
FIT_PADDING = (" ", ".", "\n", ",", "-", "a", "  ", "\t", " a", "\n\n")
REPLACEMENT = "\ufffd"  # what decoding a cut through a multi-byte character ends with


class PromptTokenizer(ABC):
    """What scenarios need from a tokenizer: count, cut to an exact size, count a chat prompt."""

    name: str
    exact: bool  # False when counts are estimates (no tokenizer available offline)

    @abstractmethod
    def count(self, text: str) -> int:
        """Tokens of `text` on its own, without any special tokens the model would add."""

    @abstractmethod
    def fit(self, text: str, tokens: int) -> str:
        """A prefix of `text` (cycled when too short) that is `tokens` tokens long.

        Exact for an exact tokenizer; on the rare size that no prefix has (a character worth two
        tokens), a space or punctuation mark is appended to make it up.
        """

    @abstractmethod
    def count_chat(self, messages: Sequence[Mapping[str, str]]) -> int:
        """Prompt tokens of a chat request: the messages as the chat template renders them."""

    @abstractmethod
    def describe(self) -> str:
        """One line for run.json and logs: which tokenizer, and whether sizes are exact."""


def _cycled(text: str, copies: int) -> str:
    return CYCLE_SEPARATOR.join([text] * max(1, copies))


class HuggingFaceTokenizer(PromptTokenizer):
    """The model's own tokenizer, loaded with transformers from local files."""

    exact = True

    def __init__(self, name: str, tokenizer: Any) -> None:
        self.name = name
        self._tokenizer = tokenizer
        # The Rust tokenizer directly: no max-length warnings on long texts, no clean-up of spaces
        # on decode (which would break the decode/encode round trip `fit` depends on).
        self._fast = getattr(tokenizer, "backend_tokenizer", None)

    def encode(self, text: str) -> list[int]:
        if self._fast is not None:
            return list(self._fast.encode(text, add_special_tokens=False).ids)
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        if self._fast is not None:
            return str(self._fast.decode(list(ids), skip_special_tokens=False))
        return str(self._tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False))

    def count(self, text: str) -> int:
        return len(self.encode(text)) if text else 0

    def fit(self, text: str, tokens: int) -> str:
        if tokens <= 0:
            return ""
        if not text.strip():
            raise ValueError("cannot fit an empty text to a token size")
        head = (tokens + FIT_MARGIN) * FIT_HEAD_CHARS_PER_TOKEN
        ids = self.encode(text[:head])
        while len(ids) < tokens + FIT_MARGIN and len(text) > head:
            head *= 3
            ids = self.encode(text[:head])
        if len(ids) < tokens + FIT_MARGIN:
            ids = self.encode(_cycled(text, math.ceil((tokens + FIT_MARGIN) / max(1, len(ids))) + 1))
        return self._cut(ids, tokens)

    def _cut(self, ids: list[int], tokens: int) -> str:
        # Decoding a cut and encoding it again need not give the same tokens: the cut can split
        # a word (which then merges differently) or a UTF-8 character (which decodes to U+FFFD).
        # Step the cut towards the target until the re-encoded text has exactly `tokens` tokens.
        cut = tokens
        tried: set[int] = set()
        while cut not in tried and 0 < cut <= len(ids):
            tried.add(cut)
            text = self.decode(ids[:cut])
            have = self.count(text)
            if have == tokens and not text.endswith(REPLACEMENT):
                return text
            cut += 1 if have < tokens else -1
        for cut in sorted(range(tokens - FIT_SEARCH, tokens + FIT_SEARCH + 1), key=lambda c: abs(c - tokens)):
            if 0 < cut <= len(ids) and cut not in tried:
                text = self.decode(ids[:cut])
                if self.count(text) == tokens and not text.endswith(REPLACEMENT):
                    return text
        return self._trim(self.decode(ids[: tokens + 2]).rstrip(REPLACEMENT), tokens)

    def _trim(self, text: str, tokens: int) -> str:
        # Last resort, for sizes no prefix of the source has (a character that is two byte
        # tokens can jump the count from n - 1 to n + 1): drop characters from the end until the
        # text is not too long, then add punctuation or spaces one token at a time.
        while text and self.count(text) > tokens:
            text = text[:-1]
        have = self.count(text)
        while have < tokens:
            grown = next((text + p for p in FIT_PADDING if self.count(text + p) == have + 1), None)
            if grown is None:
                break
            text, have = grown, have + 1
        if have != tokens:
            log.warning("could not cut text to exactly %d tokens with %s; using %d", tokens, self.name, have)
        return text

    def count_chat(self, messages: Sequence[Mapping[str, str]]) -> int:
        if getattr(self._tokenizer, "chat_template", None):
            try:
                rendered = self._tokenizer.apply_chat_template(
                    [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
                )
            except Exception as exc:  # some templates refuse a system role or unpaired turns
                log.warning("chat template of %s failed (%s); counting with ChatML framing", self.name, exc)
            else:
                # The rendered text already holds the template's special tokens (BOS and the
                # like) as text; encoding without adding more gives what the server will count.
                return self.count(str(rendered))
        return _framed_count(self, messages)

    def describe(self) -> str:
        return f"exact: {self.name} ({type(self._tokenizer).__name__})"


class ApproximateTokenizer(PromptTokenizer):
    """Stand-in when the real tokenizer is not available: 4 characters per token.

    Counts and cuts agree with each other exactly (`count(fit(t, n)) == n`), so a scenario stays
    self-consistent; only the relation to the model's real tokens is an estimate.
    """

    exact = False

    def __init__(self, reason: str) -> None:
        self.name = "approximate"
        self.reason = reason

    def count(self, text: str) -> int:
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def fit(self, text: str, tokens: int) -> str:
        if tokens <= 0:
            return ""
        if not text.strip():
            raise ValueError("cannot fit an empty text to a token size")
        chars = tokens * CHARS_PER_TOKEN
        if len(text) < chars:
            text = _cycled(text, math.ceil(chars / len(text)) + 1)
        return text[:chars]

    def count_chat(self, messages: Sequence[Mapping[str, str]]) -> int:
        return _framed_count(self, messages)

    def describe(self) -> str:
        return f"approximate (~{CHARS_PER_TOKEN} chars/token): {self.reason}"


def _framed_count(tokenizer: PromptTokenizer, messages: Sequence[Mapping[str, str]]) -> int:
    """Chat prompt size without a template: content plus ChatML-like framing per message."""
    content = sum(tokenizer.count(str(m.get("content", ""))) for m in messages)
    return content + TOKENS_PER_MESSAGE * len(messages) + TOKENS_PER_REPLY_PROMPT


def load_tokenizer(spec: str | None) -> PromptTokenizer:
    """The tokenizer of `spec` (a Hugging Face model name or a local folder), offline only.

    Never raises for a tokenizer that cannot be had: it falls back to `ApproximateTokenizer` and
    logs why, because a load test against an API-only model must still run.
    """
    if not spec:
        return ApproximateTokenizer("no tokenizer given")
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return _fallback("transformers is not installed")
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec, local_files_only=True)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError, ... for one cause
        if Path(spec).is_dir():
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return _fallback(f"{spec!r} could not be loaded: {first_line}")
        return _fallback(f"{spec!r} is not available offline")
    return HuggingFaceTokenizer(spec, tokenizer)


def _fallback(reason: str) -> ApproximateTokenizer:
    log.warning("token sizes are approximate: %s (pass a local tokenizer folder for exact sizes)", reason)
    return ApproximateTokenizer(reason)
