"""RadixCache: token-exact reuse, LRU eviction that spares running requests, checked against a brute-force oracle."""

from __future__ import annotations

import random

from deploy.emulator.cache.prefix_cache import CacheHit, PrefixCache
from deploy.emulator.cache.radix_cache import RadixCache

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


def test_users_sharing_a_system_prompt_reuse_all_of_it() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    assert served(cache, SYSTEM_PROMPT + question(0)) == 0
    hits = [served(cache, SYSTEM_PROMPT + question(user)) for user in range(1, 5)]
    assert hits == [7_000] * 4
    assert cache.size == 7_000 + 5 * 40


def test_one_changed_token_loses_only_the_tokens_from_it_on() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    original = list(range(1_000))
    cache.insert(original)
    changed = original.copy()
    changed[500] = -1
    assert served(cache, changed) == 500
    # Both versions are stored, sharing the first 500 tokens.
    assert cache.size == 1_000 + 500
    assert cache.match(original).tokens == 1_000


def test_editing_turn_two_of_a_conversation_reuses_everything_before_it() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    turns = [question(turn, length) for turn, length in enumerate([303, 250, 410, 333, 275])]
    conversation = SYSTEM_PROMPT[:500] + [token for turn in turns for token in turn]
    cache.insert(conversation)
    shared = 500 + len(turns[0])
    edited = conversation[:shared] + question(50, 200)
    assert served(cache, edited) == shared
    # The original branch is untouched and both are now fully cached.
    assert cache.match(conversation).tokens == len(conversation)
    assert cache.match(edited).tokens == len(edited)


def test_eviction_takes_the_least_recently_used_sequence() -> None:
    cache = RadixCache(budget_tokens=300)
    a, b, c = question(1, 100), question(2, 100), question(3, 100)
    for sequence in (a, b, c):
        cache.insert(sequence)
    cache.release(cache.match(a))
    assert cache.evict(100) == 100
    assert cache.size == 200
    assert cache.match(b).tokens == 0
    assert cache.match(a).tokens == 100
    assert cache.match(c).tokens == 100


def test_eviction_frees_whole_leaves_then_the_branch_they_hung_from() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    trunk = question(0, 100)
    first, second = trunk + question(1, 30), trunk + question(2, 30)
    cache.insert(first)
    cache.insert(second)
    # Asking for one token frees the oldest whole leaf, never part of one.
    assert cache.evict(1) == 30
    assert cache.size == 130
    assert served(cache, first) == 100
    # With both leaves gone the shared trunk is itself a leaf, and goes too.
    assert cache.evict(61) == 160
    assert cache.size == 0


def test_a_running_request_keeps_its_prefix_through_eviction() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    cache.insert(SYSTEM_PROMPT[:1_000] + question(1))
    cache.insert(question(2, 500))
    running = cache.match(SYSTEM_PROMPT[:1_000] + question(3))
    assert running.tokens == 1_000
    assert cache.evictable == 40 + 500
    # Asked for everything, it frees only what no request holds.
    assert cache.evict(BIG_BUDGET) == 540
    assert cache.size == 1_000
    assert served(cache, SYSTEM_PROMPT[:1_000]) == 1_000
    cache.release(running)
    assert cache.evictable == 1_000


def test_reset_reports_a_running_request_and_keeps_its_prefix() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    cache.insert(SYSTEM_PROMPT[:1_000] + question(1))
    running = cache.match(SYSTEM_PROMPT[:1_000] + question(3))
    assert not cache.reset()
    assert cache.size == 1_000 and cache.evictable == 0
    cache.release(running)
    assert cache.reset()
    assert cache.size == 0 and cache.evictable == 0


def test_insert_counts_only_newly_stored_tokens() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    sequence = question(1, 100)
    assert cache.insert(sequence) == 100
    assert cache.insert(sequence) == 0
    assert cache.insert(tuple(sequence + question(2, 20))) == 20
    assert cache.insert(sequence[:50]) == 0
    assert cache.size == 120
    freed = cache.evict(10)
    assert cache.size == 120 - freed and freed >= 10


def test_empty_and_tiny_inputs() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    empty = cache.match([])
    assert empty.tokens == 0 and cache.size == 0
    cache.release(empty)
    assert cache.insert([]) == 0
    assert cache.insert([7]) == 1
    assert cache.match([7, 8]).tokens == 1
    assert cache.evict(0) == 0


def lcp(left: list[int], right: list[int]) -> int:
    length = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        length += 1
    return length


def check_invariants(cache: RadixCache, held: list[tuple[list[int], CacheHit]]) -> None:
    nodes = list(cache.nodes())
    assert cache.size == sum(len(node.key) for node in nodes) >= 0
    assert cache.evictable == sum(len(node.key) for node in nodes if node.lock_ref == 0) >= 0
    for node in nodes:
        assert node.key and node.lock_ref >= 0
        assert all(first == child.key[0] and child.parent is node for first, child in node.children.items())
        assert all(node.lock_ref >= child.lock_ref for child in node.children.values())
    # Whatever a running request matched is still there.
    for ids, hit in held:
        probe = cache.match(ids)
        assert probe.tokens >= hit.tokens
        cache.release(probe)


def test_matches_a_brute_force_oracle_under_random_operations() -> None:
    rng = random.Random(20240611)
    for _round in range(20):
        cache = RadixCache(budget_tokens=200)
        stored: list[list[int]] = []
        held: list[tuple[list[int], CacheHit]] = []
        evicted = False
        for _step in range(150):
            ids = [rng.randrange(3) for _ in range(rng.randrange(13))]
            operation = rng.random()
            if operation < 0.35:
                hit = cache.match(ids)
                oracle = max((lcp(ids, sequence) for sequence in stored), default=0)
                assert hit.tokens == oracle if not evicted else hit.tokens <= oracle
                held.append((ids, hit))
            elif operation < 0.6 and held:
                cache.release(held.pop(rng.randrange(len(held)))[1])
            elif operation < 0.9:
                before = cache.size
                added = cache.insert(ids)
                assert cache.size == before + added
                stored.append(ids)
            else:
                before, wanted = cache.size, rng.randrange(1, 15)
                freed = cache.evict(wanted)
                assert cache.size == before - freed
                assert freed >= wanted or cache.evictable == 0
                evicted = evicted or freed > 0
            check_invariants(cache, held)
        for _ids, hit in held:
            cache.release(hit)
        assert cache.reset() and cache.size == 0
