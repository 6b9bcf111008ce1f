"""What the emulator's scheduler needs from a prefix cache; `RadixCache` and `BlockCache` provide it.

Both hold token ids (ints) under a KV budget counted in tokens. A running request locks the cached
prefix it matched, so eviction can never take KV that a request is using; when the request ends,
its whole sequence (prompt + output) is inserted and the lock released.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A matched, locked prefix: `tokens` cached tokens; `handle` is the cache's own bookkeeping."""

    tokens: int
    handle: object


class PrefixCache(Protocol):
    budget_tokens: int

    def match(self, ids: Sequence[int]) -> CacheHit:
        """Longest cached prefix of `ids`, locked against eviction until `release`. Touches it for LRU."""
        ...

    def release(self, hit: CacheHit) -> None: ...

    def insert(self, ids: Sequence[int]) -> int:
        """Cache `ids` (sharing any cached prefix); returns how many tokens were newly stored."""
        ...

    def evict(self, tokens: int) -> int:
        """Free at least `tokens` from unlocked entries, least recently used first; returns tokens freed."""
        ...

    def reset(self) -> bool:
        """Drop every unlocked entry (the engines' cache-flush endpoint); False if something stayed locked."""
        ...

    @property
    def size(self) -> int:
        """Tokens held, locked or not."""
        ...

    @property
    def evictable(self) -> int:
        """Tokens that `evict` could free now."""
        ...
