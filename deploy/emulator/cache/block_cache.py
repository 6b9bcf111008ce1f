"""vLLM's automatic prefix caching, modelled at block granularity for the emulator.

Only full blocks are cached, each under a hash chained from the previous block's hash, so a
block is found only if everything before it is identical: a change anywhere in a block loses
that block and every block after it, and a trailing partial block is never reused. Follows
vllm/v1/core/block_pool.py and kv_cache_utils.py (v0.8-0.11): cached blocks not used by any
request sit in a free queue in LRU order and are evicted from its head.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence

from deploy.emulator.cache.prefix_cache import CacheHit

BLOCK_SIZE = 16  # vLLM's default --block-size on GPU

# Parent hash of a sequence's first block. A constant, not hash(None): before Python 3.12 None
# hashes by address, and the chain must be the same in every process.
ROOT_HASH = 0


class BlockCache:
    """Block-level prefix cache with per-block reference counts and an LRU free queue."""

    def __init__(self, budget_tokens: int, block_size: int = BLOCK_SIZE) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be at least 1, got {block_size}")
        # Held for the scheduler; the cache itself never enforces it.
        self.budget_tokens = budget_tokens
        self.block_size = block_size
        # Every cached block by chained hash, with how many running requests hold it.
        self._refs: dict[int, int] = {}
        # vLLM's free queue: cached blocks no request holds, least recently used first. A locked block
        # leaves the queue and rejoins at the most recent end when its last holder releases it.
        self._free: OrderedDict[int, None] = OrderedDict()

    @property
    def size(self) -> int:
        return len(self._refs) * self.block_size

    @property
    def evictable(self) -> int:
        return len(self._free) * self.block_size

    def match(self, ids: Sequence[int]) -> CacheHit:
        chain: list[int] = []
        for block_hash in self._hashes(ids):
            # Python's tuple hash can collide, as vLLM's builtin-hash mode can; at these sizes it does not matter.
            if block_hash not in self._refs:
                break
            chain.append(block_hash)
        for block_hash in chain:
            holders = self._refs[block_hash]
            if holders == 0:
                del self._free[block_hash]
            self._refs[block_hash] = holders + 1
        return CacheHit(tokens=len(chain) * self.block_size, handle=tuple(chain))

    def release(self, hit: CacheHit) -> None:
        chain = hit.handle
        assert isinstance(chain, tuple), "release() takes a CacheHit from this cache's match()"
        # Last block first, so a sequence's head is the most recently used: vLLM frees a request's
        # blocks in reverse so that eviction eats tails before the prefixes other requests share.
        for block_hash in reversed(chain):
            self._refs[block_hash] -= 1
            if self._refs[block_hash] == 0:
                self._free[block_hash] = None

    def insert(self, ids: Sequence[int]) -> int:
        stored = 0
        # Reversed for the same reason as in release: the first block ends up most recently used.
        for block_hash in reversed(list(self._hashes(ids))):
            if block_hash not in self._refs:
                self._refs[block_hash] = 0
                self._free[block_hash] = None
                stored += 1
            elif block_hash in self._free:
                self._free.move_to_end(block_hash)
        return stored * self.block_size

    def evict(self, tokens: int) -> int:
        freed = 0
        while freed < tokens and self._free:
            # A middle block may go before its successors; they stay stored but unreachable, as in vLLM.
            block_hash, _ = self._free.popitem(last=False)
            del self._refs[block_hash]
            freed += self.block_size
        return freed

    def reset(self) -> bool:
        for block_hash in self._free:
            del self._refs[block_hash]
        self._free.clear()
        return not self._refs

    def _hashes(self, ids: Sequence[int]) -> Iterator[int]:
        """Chained hash of each full block of `ids`, first block first."""
        parent = ROOT_HASH
        # One iterator zipped with itself yields consecutive full blocks as tuples, built in C; zip
        # drops the trailing partial block, which vLLM never caches.
        for block in zip(*[iter(ids)] * self.block_size, strict=False):
            parent = hash((parent, block))
            yield parent
