"""What must hold inside each cache after any operation, checked by the oracle test and the caches' own tests."""

from __future__ import annotations

from deploy.emulator.cache.block_cache import BlockCache
from deploy.emulator.cache.prefix_cache import PrefixCache
from deploy.emulator.cache.radix_cache import RadixCache


def held_blocks(cache: BlockCache, ids: list[int]) -> tuple[object, ...]:
    """The blocks `ids` reaches from its start, without leaving them locked."""
    hit = cache.match(ids)
    cache.release(hit)
    assert isinstance(hit.handle, tuple)
    return hit.handle


def assert_every_block_reachable(cache: PrefixCache, stored: list[list[int]]) -> None:
    """Eviction takes tails before heads, so every stored block stays reachable from the start of some sequence."""
    assert isinstance(cache, BlockCache)
    reachable = {block for ids in stored for block in held_blocks(cache, ids)}
    assert len(reachable) * cache.block_size == cache.size


def assert_radix_tree_consistent(cache: PrefixCache, _stored: list[list[int]]) -> None:
    """Sizes add up over the nodes, children are keyed by their first token, and a lock covers its whole path."""
    assert isinstance(cache, RadixCache)
    nodes = list(cache.nodes())
    assert cache.size == sum(len(node.key) for node in nodes) >= 0
    assert cache.evictable == sum(len(node.key) for node in nodes if node.lock_ref == 0) >= 0
    for node in nodes:
        assert node.key and node.lock_ref >= 0
        assert all(first == child.key[0] and child.parent is node for first, child in node.children.items())
        assert all(node.lock_ref >= child.lock_ref for child in node.children.values())
