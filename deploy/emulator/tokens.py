"""Deterministic token ids for chat prompts, without a real tokenizer.

Pieces are short runs of letters (at most six, so a typical English word is one or two tokens),
digits, single punctuation marks and whitespace; a piece's id is its CRC-32. The same text always
gives the same ids, in every process, so prefix-cache matching is exact. The prompt is built
message by message in a ChatML-like layout, which gives the property the engines' caches rely
on: a conversation's prompt at turn n+1 starts with the prompt of turn n plus the reply.

Content is memoised per message, so a long shared system prompt is tokenized once, not per turn.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any
from zlib import crc32

PIECE = re.compile(r" ?[^\W\d_]{1,6}| ?\d{1,3}| ?[^\w\s]|\s+|_")
IM_START, IM_END, NEWLINE = 1, 2, 3  # fixed ids for the template's own markers
MEMO_ENTRIES = 4096  # distinct message texts remembered (system prompts, documents, replies)


def piece_id(piece: str) -> int:
    return crc32(piece.encode()) | 0x100  # never collides with the fixed marker ids


class PromptTokenizer:
    def __init__(self) -> None:
        self._memo: OrderedDict[str, list[int]] = OrderedDict()

    def encode(self, text: str) -> list[int]:
        ids = self._memo.get(text)
        if ids is None:
            ids = [piece_id(p) for p in PIECE.findall(text)]
            self._memo[text] = ids
            if len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)
        else:
            self._memo.move_to_end(text)
        return ids

    def encode_chat(self, messages: Iterable[Mapping[str, Any]]) -> list[int]:
        """The templated prompt, ending with the assistant's generation prompt."""
        ids: list[int] = []
        for message in messages:
            ids += self.role_header(str(message.get("role", "user")))
            ids += self.encode(content_text(message.get("content")))
            ids += (IM_END, NEWLINE)
        ids += self.role_header("assistant")
        return ids

    def role_header(self, role: str) -> list[int]:
        return [IM_START, piece_id(role), NEWLINE]


def content_text(content: Any) -> str:
    """OpenAI content is a string or a list of parts; only text parts count."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content)
