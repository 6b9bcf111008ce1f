"""RadixCache: token-exact reuse, and eviction of whole leaves then the branch they hung from. What it shares
with BlockCache (LRU eviction, locks, insert counts, the oracle) is in test_prefix_cache.py."""

from __future__ import annotations

from deploy.emulator.cache.radix_cache import RadixCache
from tests.deploy.emulator.cache.invariants import assert_radix_tree_consistent
from tests.deploy.emulator.cache.sequences import conversation_and_edit, question, with_token_changed
from tests.deploy.emulator.cache.serving import BIG_BUDGET, served, system_prompt_hits


def test_users_sharing_a_system_prompt_reuse_all_of_it() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    assert system_prompt_hits(cache, users=5) == [0] + [7_000] * 4
    assert cache.size == 7_000 + 5 * 40


def test_one_changed_token_loses_only_the_tokens_from_it_on() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    original = list(range(1_000))
    cache.insert(original)
    assert served(cache, with_token_changed(original, 500)) == 500
    # Both versions are stored, sharing the first 500 tokens.
    assert cache.size == 1_000 + 500
    assert cache.match(original).tokens == 1_000


def test_editing_turn_two_of_a_conversation_reuses_everything_before_it() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    conversation, edited, shared = conversation_and_edit()
    cache.insert(conversation)
    assert served(cache, edited) == shared
    # The original branch is untouched and both are now fully cached.
    assert cache.match(conversation).tokens == len(conversation)
    assert cache.match(edited).tokens == len(edited)


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


def test_a_single_token_is_cached_and_reused() -> None:
    cache = RadixCache(budget_tokens=BIG_BUDGET)
    assert cache.insert([7]) == 1
    assert cache.match([7, 8]).tokens == 1
    assert cache.size == 1
    assert_radix_tree_consistent(cache, [[7]])
