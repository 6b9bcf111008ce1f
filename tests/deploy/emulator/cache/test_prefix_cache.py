"""Either prefix cache, as the scheduler uses it (deploy/emulator/cache/prefix_cache.py): LRU eviction, locks
that survive eviction and reset, honest insert counts, and a brute-force oracle under random operations."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from deploy.emulator.cache.block_cache import BLOCK_SIZE, BlockCache
from deploy.emulator.cache.prefix_cache import CacheHit, PrefixCache
from deploy.emulator.cache.radix_cache import RadixCache
from tests.deploy.emulator.cache.invariants import assert_every_block_reachable, assert_radix_tree_consistent
from tests.deploy.emulator.cache.sequences import SYSTEM_PROMPT, lcp, question
from tests.deploy.emulator.cache.serving import BIG_BUDGET, served


@dataclass(frozen=True, slots=True)
class CacheKind:
    """A cache under test: how to build one, the granularity it reuses in, and what must hold inside it."""

    new: Callable[[int], PrefixCache]
    unit: int  # tokens per cached unit: a block for BlockCache, one token for RadixCache
    check: Callable[[PrefixCache, list[list[int]]], None]

    def cached(self, tokens: int) -> int:
        """How much of a `tokens`-long sequence the cache can hold: whole units only."""
        return tokens // self.unit * self.unit


def block_cache(block_size: int) -> CacheKind:
    return CacheKind(lambda budget: BlockCache(budget, block_size), block_size, assert_every_block_reachable)


RADIX = CacheKind(RadixCache, 1, assert_radix_tree_consistent)
CACHES = [pytest.param(block_cache(BLOCK_SIZE), id="block"), pytest.param(RADIX, id="radix")]
# The oracle's random sequences are under 13 tokens, so its blocks are 2 tokens rather than vLLM's 16.
ORACLE_CACHES = [pytest.param(block_cache(2), id="block"), pytest.param(RADIX, id="radix")]


@pytest.mark.parametrize("kind", CACHES)
def test_eviction_takes_the_least_recently_used_sequence(kind: CacheKind) -> None:
    cache = kind.new(480)
    a, b, c = question(1, 160), question(2, 160), question(3, 160)
    for sequence in (a, b, c):
        cache.insert(sequence)
    cache.release(cache.match(a))
    assert cache.evict(160) == 160
    assert cache.size == 320
    assert cache.match(b).tokens == 0
    assert cache.match(a).tokens == 160
    assert cache.match(c).tokens == 160


@pytest.mark.parametrize("kind", CACHES)
def test_a_running_request_keeps_its_prefix_through_eviction(kind: CacheKind) -> None:
    cache = kind.new(BIG_BUDGET)
    cache.insert(SYSTEM_PROMPT[:1_024] + question(1, 48))
    cache.insert(question(2, 512))
    running = cache.match(SYSTEM_PROMPT[:1_024] + question(3))
    assert running.tokens == 1_024
    assert cache.evictable == 48 + 512
    # Asked for everything, it frees only what no request holds.
    assert cache.evict(BIG_BUDGET) == 560
    assert cache.size == 1_024
    assert served(cache, SYSTEM_PROMPT[:1_024]) == 1_024
    cache.release(running)
    assert cache.evictable == 1_024


@pytest.mark.parametrize("kind", CACHES)
def test_reset_reports_a_running_request_and_keeps_its_prefix(kind: CacheKind) -> None:
    cache = kind.new(BIG_BUDGET)
    cache.insert(SYSTEM_PROMPT[:1_024] + question(1))
    running = cache.match(SYSTEM_PROMPT[:1_024] + question(3))
    assert not cache.reset()
    assert cache.size == 1_024 and cache.evictable == 0
    cache.release(running)
    assert cache.reset()
    assert cache.size == 0 and cache.evictable == 0


@pytest.mark.parametrize("kind", CACHES)
def test_insert_counts_only_newly_stored_tokens(kind: CacheKind) -> None:
    cache = kind.new(BIG_BUDGET)
    sequence = question(1, 100)
    assert cache.insert(sequence) == kind.cached(100)  # BlockCache: 96, the trailing 4 tokens never fill a block
    assert cache.insert(sequence) == 0
    extended = tuple(sequence + question(2, 20))
    assert cache.insert(extended) == kind.cached(120) - kind.cached(100)  # BlockCache: tokens 96..111 now fill a block
    assert cache.insert(sequence[:50]) == 0
    assert cache.size == kind.cached(120)
    # Both caches free tails before the heads they hang from, so the tail `extended` added goes, whole.
    freed = cache.evict(10)
    assert freed >= 10
    assert freed == kind.cached(120) - kind.cached(100) and cache.size == kind.cached(100)


@pytest.mark.parametrize("kind", CACHES)
def test_an_empty_prompt_matches_nothing_and_stores_nothing(kind: CacheKind) -> None:
    cache = kind.new(BIG_BUDGET)
    empty = cache.match([])
    assert empty.tokens == 0 and cache.size == 0
    cache.release(empty)
    assert cache.insert([]) == 0
    assert cache.evict(0) == 0
    assert cache.size == 0 and cache.reset()


@pytest.mark.parametrize("kind", ORACLE_CACHES)
def test_matches_a_brute_force_oracle_under_random_operations(kind: CacheKind) -> None:
    rng = random.Random(20240611)
    for _round in range(20):
        cache = kind.new(200)
        stored: list[list[int]] = []
        held: list[tuple[list[int], CacheHit]] = []
        evicted = False
        for _step in range(150):
            ids = [rng.randrange(3) for _ in range(rng.randrange(13))]
            operation = rng.random()
            if operation < 0.35:
                hit = cache.match(ids)
                oracle = max((kind.cached(lcp(ids, sequence)) for sequence in stored), default=0)
                assert hit.tokens == oracle if not evicted else hit.tokens <= oracle
                assert hit.tokens % kind.unit == 0
                held.append((ids, hit))
            elif operation < 0.6 and held:
                cache.release(held.pop(rng.randrange(len(held)))[1])
            elif operation < 0.9:
                before = cache.size
                assert cache.insert(ids) == cache.size - before
                stored.append(ids)
            else:
                before, wanted = cache.size, rng.randrange(1, 15)
                freed = cache.evict(wanted)
                assert cache.size == before - freed
                assert freed >= wanted or cache.evictable == 0
                evicted = evicted or freed > 0
            assert 0 <= cache.evictable <= cache.size
            kind.check(cache, stored)
            # Whatever a running request matched is still there.
            for ids, hit in held:
                probe = cache.match(ids)
                assert probe.tokens >= hit.tokens
                cache.release(probe)
        for _ids, hit in held:
            cache.release(hit)
        assert cache.reset() and cache.size == 0
