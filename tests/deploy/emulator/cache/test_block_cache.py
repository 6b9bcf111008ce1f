"""BlockCache: reuse in whole blocks only, and vLLM's eviction order (tails first). What it shares with
RadixCache (LRU eviction, locks, insert counts, the oracle) is in test_prefix_cache.py."""

from __future__ import annotations

from deploy.emulator.cache.block_cache import BLOCK_SIZE, BlockCache
from deploy.emulator.cache.prefix_cache import CacheHit
from tests.deploy.emulator.cache.invariants import assert_every_block_reachable
from tests.deploy.emulator.cache.sequences import SYSTEM_PROMPT, conversation_and_edit, question, with_token_changed
from tests.deploy.emulator.cache.serving import BIG_BUDGET, served, system_prompt_hits


def test_users_sharing_a_system_prompt_reuse_its_full_blocks() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    assert BLOCK_SIZE == 16
    # 7,000 = 437 * 16 + 8: the last 8 prompt tokens share a block with each user's question.
    assert system_prompt_hits(cache, users=5) == [0] + [6_992] * 4


def test_one_changed_token_loses_its_whole_block_and_everything_after() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    original = list(range(1_000))
    cache.insert(original)
    assert served(cache, with_token_changed(original, 500)) == 496  # block 31 covers tokens 496..511
    assert cache.match(original).tokens == 992  # the trailing 8 tokens never fill a block


def test_editing_turn_two_of_a_conversation_reuses_the_blocks_before_it() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    conversation, edited, shared = conversation_and_edit()
    cache.insert(conversation)
    assert served(cache, edited) == shared // 16 * 16 == 800
    assert cache.match(conversation).tokens == len(conversation) // 16 * 16


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
        assert_every_block_reachable(cache, [first, second])
    assert served(cache, first) == served(cache, second) == 32


def test_inputs_shorter_than_a_block_are_never_cached() -> None:
    cache = BlockCache(budget_tokens=BIG_BUDGET)
    empty = cache.match([])
    assert empty == CacheHit(tokens=0, handle=())
    cache.release(empty)
    assert cache.insert(list(range(15))) == 0
    assert cache.match(list(range(15))).tokens == 0
    assert cache.size == 0 and cache.reset()
    assert BlockCache(budget_tokens=8, block_size=4).insert(list(range(9))) == 8
