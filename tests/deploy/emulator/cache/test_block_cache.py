"""BlockCache: reuse in whole blocks only, vLLM's eviction order, locks that survive eviction, an oracle."""

from __future__ import annotations

import random

from deploy.emulator.cache.block_cache import BLOCK_SIZE, BlockCache
from deploy.emulator.cache.prefix_cache import CacheHit, PrefixCache

SYSTEM_PROMPT = list(range(7_000))
BIG_BUDGET = 1_000_000


def question(user: int, length: int = 40) -> list[int]:
    """A user's own tokens, far above the system prompt's ids so they never collide with it."""
    start = 100_000 + user * 1_000
    return list(range(start, start + length))


def served(cache: PrefixCache, ids: list[int]) -> int:
    """One request's life in the emulator: match, run, insert prompt + output, release; returns the hit."""
    hit = cache.match(ids)
    cache.insert(ids)
    cache.release(hit)
    return hit.tokens


def test_users_sharing_a_system_prompt_reuse_its_full_blocks() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    assert BLOCK_SIZE == 16
    assert served(cache, SYSTEM_PROMPT + question(0)) == 0
    hits = [served(cache, SYSTEM_PROMPT + question(user)) for user in range(1, 5)]
    # 7,000 = 437 * 16 + 8: the last 8 prompt tokens share a block with each user's question.
    assert hits == [6_992] * 4


def test_one_changed_token_loses_its_whole_block_and_everything_after() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    original = list(range(1_000))
    cache.insert(original)
    changed = original.copy()
    changed[500] = -1
    assert served(cache, changed) == 496  # block 31 covers tokens 496..511
    assert cache.match(original).tokens == 992  # the trailing 8 tokens never fill a block


def test_editing_turn_two_of_a_conversation_reuses_the_blocks_before_it() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    turns = [question(turn, length) for turn, length in enumerate([303, 250, 410, 333, 275])]
    conversation = SYSTEM_PROMPT[:500] + [token for turn in turns for token in turn]
    cache.insert(conversation)
    shared = 500 + len(turns[0])
    edited = conversation[:shared] + question(50, 200)
    assert served(cache, edited) == shared // 16 * 16 == 800
    assert cache.match(conversation).tokens == len(conversation) // 16 * 16


def test_eviction_takes_the_least_recently_used_sequence() -> None:
    cache = BlockCache(budget_tokens=480)
    a, b, c = question(1, 160), question(2, 160), question(3, 160)
    for sequence in (a, b, c):
        cache.insert(sequence)
    cache.release(cache.match(a))
    assert cache.evict(160) == 160
    assert cache.size == 320
    assert cache.match(b).tokens == 0
    assert cache.match(a).tokens == 160
    assert cache.match(c).tokens == 160


def test_eviction_eats_a_sequence_from_its_tail() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    sequence = question(1, 64)
    cache.insert(sequence)
    assert cache.evict(1) == 16
    assert served(cache, sequence) == 48
    assert cache.evict(17) == 32
    assert cache.match(sequence).tokens == 32


def test_a_shared_head_outlives_every_tail_hanging_from_it() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    head = SYSTEM_PROMPT[:32]
    first, second = head + question(1, 32), head + question(2, 32)
    cache.insert(first)
    cache.insert(second)
    # Each eviction takes a tail block, so no stored block is ever cut off from the start of its chain.
    for evicted in range(1, 5):
        assert cache.evict(1) == 16
        assert cache.size == 96 - 16 * evicted
        reachable = {block for ids in (first, second) for block in held_blocks(cache, ids)}
        assert len(reachable) * 16 == cache.size
    assert served(cache, first) == served(cache, second) == 32


def held_blocks(cache: BlockCache, ids: list[int]) -> tuple[object, ...]:
    """The blocks `ids` reaches from its start, without leaving them locked."""
    hit = cache.match(ids)
    cache.release(hit)
    assert isinstance(hit.handle, tuple)
    return hit.handle


def test_a_running_request_keeps_its_blocks_through_eviction() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
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


def test_reset_reports_a_running_request_and_keeps_its_blocks() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    cache.insert(SYSTEM_PROMPT[:1_024] + question(1))
    running = cache.match(SYSTEM_PROMPT[:1_024] + question(3))
    assert not cache.reset()
    assert cache.size == 1_024 and cache.evictable == 0
    cache.release(running)
    assert cache.reset()
    assert cache.size == 0 and cache.evictable == 0


def test_insert_counts_only_newly_stored_full_blocks() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    sequence = question(1, 100)
    assert cache.insert(sequence) == 96
    assert cache.insert(sequence) == 0
    assert cache.insert(tuple(sequence + question(2, 20))) == 16  # tokens 96..111 now fill a block
    assert cache.insert(sequence[:50]) == 0
    assert cache.size == 112
    freed = cache.evict(10)
    assert freed == 16 and cache.size == 96


def test_inputs_shorter_than_a_block_are_never_cached() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    empty = cache.match([])
    assert empty == CacheHit(tokens=0, handle=())
    cache.release(empty)
    assert cache.insert([]) == 0
    assert cache.insert(list(range(15))) == 0
    assert cache.match(list(range(15))).tokens == 0
    assert cache.size == 0 and cache.reset()
    assert BlockCache(budget_tokens=8, block_size=4).insert(list(range(9))) == 8


def lcp(left: list[int], right: list[int]) -> int:
    length = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        length += 1
    return length


def test_matches_a_brute_force_oracle_under_random_operations() -> None:
    rng = random.Random(20240611)
    block = 2
    for _round in range(20):
        cache = BlockCache(budget_tokens=100, block_size=block)
        stored: list[list[int]] = []
        held: list[tuple[list[int], CacheHit]] = []
        evicted = False
        for _step in range(150):
            ids = [rng.randrange(3) for _ in range(rng.randrange(13))]
            operation = rng.random()
            if operation < 0.35:
                hit = cache.match(ids)
                oracle = max((lcp(ids, sequence) // block * block for sequence in stored), default=0)
                assert hit.tokens == oracle if not evicted else hit.tokens <= oracle
                assert hit.tokens % block == 0
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
            # Eviction takes tails before heads, so every stored block stays reachable from some sequence.
            reachable = {block for sequence in stored for block in held_blocks(cache, sequence)}
            assert len(reachable) * block == cache.size
            for ids, hit in held:
                probe = cache.match(ids)
                assert probe.tokens >= hit.tokens
                cache.release(probe)
        for _ids, hit in held:
            cache.release(hit)
        assert cache.reset() and cache.size == 0
