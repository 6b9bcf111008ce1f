"""SGLang's RadixAttention prefix cache, modelled at token granularity for the emulator.

A radix tree whose edges are runs of token ids, so any shared prefix is reused down to the
token, unlike vLLM's whole blocks. A request locks every node on its matched path; eviction
takes unlocked leaves least recently used first, so it never frees KV a running request reads.
Follows sglang/srt/mem_cache/radix_cache.py (v0.4-0.5, page_size=1): nodes split on a partial
match, insert never evicts, and evict builds a heap of leaves per call.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from deploy.emulator.cache.prefix_cache import CacheHit

# Tokens compared per slice while hunting a mismatch: slices compare in C, so a long shared edge
# costs a few slice comparisons instead of a Python loop over every token.
MISMATCH_CHUNK = 64


@dataclass(eq=False, slots=True)
class RadixNode:
    """One edge of the tree: `key` is its run of token ids; `children` are keyed by their first token."""

    key: list[int]
    parent: RadixNode | None
    children: dict[int, RadixNode] = field(default_factory=dict)
    # Matches holding this node (directly or through a descendant); only nodes at 0 can be evicted.
    lock_ref: int = 0
    # A logical clock rather than wall time, so LRU order is the same on every run.
    last_access: int = 0


def _matched_length(key: list[int], ids: list[int], start: int) -> int:
    """How many leading tokens of `key` equal `ids` from `start` on."""
    if ids[start : start + len(key)] == key:
        return len(key)
    limit = min(len(key), len(ids) - start)
    i = 0
    while i + MISMATCH_CHUNK <= limit and key[i : i + MISMATCH_CHUNK] == ids[start + i : start + i + MISMATCH_CHUNK]:
        i += MISMATCH_CHUNK
    while i < limit and key[i] == ids[start + i]:
        i += 1
    return i


def _as_list(ids: Sequence[int]) -> list[int]:
    # Keys are lists, and a list never equals a tuple, so slices must come from a list too.
    return ids if isinstance(ids, list) else list(ids)


class RadixCache:
    """Token-level prefix cache with per-path locks and LRU eviction of leaves."""

    def __init__(self, budget_tokens: int) -> None:
        # Held for the scheduler; the cache itself never enforces it (insert does not evict, as in SGLang).
        self.budget_tokens = budget_tokens
        self.root = RadixNode(key=[], parent=None)
        self._size = 0
        self._evictable = 0
        self._clock = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def evictable(self) -> int:
        return self._evictable

    def match(self, ids: Sequence[int]) -> CacheHit:
        ids = _as_list(ids)
        node, matched = self.root, 0
        while matched < len(ids):
            child = node.children.get(ids[matched])
            if child is None:
                break
            length = _matched_length(child.key, ids, matched)
            matched += length
            if length < len(child.key):
                # Split so the lock covers exactly the matched tokens, as SGLang's match_prefix does.
                node = self._split(child, length)
                break
            node = child
        self._lock(node)
        return CacheHit(tokens=matched, handle=node)

    def release(self, hit: CacheHit) -> None:
        node = hit.handle
        assert isinstance(node, RadixNode), "release() takes a CacheHit from this cache's match()"
        while node.parent is not None:
            node.lock_ref -= 1
            if node.lock_ref == 0:
                self._evictable += len(node.key)
            node = node.parent

    def insert(self, ids: Sequence[int]) -> int:
        ids = _as_list(ids)
        self._clock += 1
        node, position = self.root, 0
        while position < len(ids):
            child = node.children.get(ids[position])
            if child is None:
                leaf = RadixNode(key=ids[position:], parent=node, last_access=self._clock)
                node.children[ids[position]] = leaf
                added = len(leaf.key)
                self._size += added
                self._evictable += added
                return added
            length = _matched_length(child.key, ids, position)
            if length < len(child.key):
                child = self._split(child, length)
            child.last_access = self._clock
            node, position = child, position + length
        return 0

    def evict(self, tokens: int) -> int:
        if tokens <= 0:
            return 0
        # The index breaks ties between equal access times without ever comparing nodes.
        heap = [(leaf.last_access, index, leaf) for index, leaf in enumerate(self._unlocked_leaves())]
        heapq.heapify(heap)
        pushed = len(heap)
        freed = 0
        while freed < tokens and heap:
            _, _, leaf = heapq.heappop(heap)
            parent = leaf.parent
            assert parent is not None
            del parent.children[leaf.key[0]]
            freed += len(leaf.key)
            if parent.parent is not None and not parent.children and parent.lock_ref == 0:
                heapq.heappush(heap, (parent.last_access, pushed, parent))
                pushed += 1
        self._size -= freed
        self._evictable -= freed
        return freed

    def reset(self) -> bool:
        # A lock counts up its whole path, so an unlocked node has no locked descendant: drop its subtree.
        stack = [self.root]
        while stack:
            node = stack.pop()
            for first, child in list(node.children.items()):
                if child.lock_ref == 0:
                    del node.children[first]
                else:
                    stack.append(child)
        self._size -= self._evictable
        self._evictable = 0
        return not self.root.children

    def nodes(self) -> Iterator[RadixNode]:
        """Every node but the root, parents before children."""
        stack = list(self.root.children.values())
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())

    def _unlocked_leaves(self) -> Iterator[RadixNode]:
        return (node for node in self.nodes() if not node.children and node.lock_ref == 0)

    def _lock(self, node: RadixNode) -> None:
        self._clock += 1
        while node.parent is not None:
            node.last_access = self._clock
            if node.lock_ref == 0:
                self._evictable -= len(node.key)
            node.lock_ref += 1
            node = node.parent

    def _split(self, child: RadixNode, length: int) -> RadixNode:
        """Cut `child` after `length` tokens; the new head keeps the lock and age, `child` keeps the rest."""
        parent = child.parent
        assert parent is not None
        head = RadixNode(key=child.key[:length], parent=parent, lock_ref=child.lock_ref, last_access=child.last_access)
        # `child` stays the tail object, so a CacheHit holding it still releases the whole path.
        child.key = child.key[length:]
        child.parent = head
        head.children[child.key[0]] = child
        parent.children[head.key[0]] = head
        return head
