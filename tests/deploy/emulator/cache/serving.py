"""Requests going through a prefix cache the way the emulator's scheduler sends them."""

from __future__ import annotations

from deploy.emulator.cache.prefix_cache import PrefixCache
from tests.deploy.emulator.cache.sequences import SYSTEM_PROMPT, question

# The caches only hold the budget for the scheduler, never enforce it; this one is larger than any test stores.
BIG_BUDGET = 1_000_000


def served(cache: PrefixCache, ids: list[int]) -> int:
    """One request's life in the emulator: match, run, insert prompt + output, release; returns the hit."""
    hit = cache.match(ids)
    cache.insert(ids)
    cache.release(hit)
    return hit.tokens


def system_prompt_hits(cache: PrefixCache, users: int) -> list[int]:
    """Serve `users` users one after another, each asking their own question under the system prompt."""
    return [served(cache, SYSTEM_PROMPT + question(user)) for user in range(users)]
