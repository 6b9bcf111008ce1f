"""The emulated engine: continuous batching over a prefix cache, one step at a time.

Each step admits waiting requests first-come first-served while the KV budget allows (evicting
unlocked cache entries when needed), spends up to `prefill_chunk_tokens` on the uncached parts of
prompts (chunked prefill), and gives every decoding request one token. The step lasts
`Profile.step_ms(...)`; its tokens are handed to each request's sink at the step's scheduled end,
and the sink logs how late it really sent them.

KV accounting: the cache holds `cache.size` tokens; a running request reserves its uncached
prompt plus `max_tokens` when admitted (so it can never run out mid-answer). Its prompt goes into
the cache as soon as it is prefilled (moving that part of the reservation into the cache), and its
output when it ends, when the rest of the reservation is returned.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from deploy.emulator.cache.prefix_cache import CacheHit, PrefixCache
from deploy.emulator.profile import Profile
from deploy.emulator.tokens import piece_id

# Short, common words: each is one token piece, so a reply re-tokenizes to the ids it was made of.
WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but "
    "have an they you were her she there one all we their has been if more when will would who so no "
    "can said about other many then them these some its into only could time may do than first over "
    "any new also after most such where well way even back good made across long still since while "
    "cache prefix token model engine batch turn reply answer query policy order refund ship price "
    "bill user agent server client memory queue block radix tree delay speed cost simple fast"
).split()
TIMER_SLACK_S = 0.0012  # wake this early and spin to the step's end (about 6% of a 20 ms step)
# Token texts and their ids, computed once: the step loop runs this for every token it emits.
FIRST_TOKENS = [(word, piece_id(word)) for word in WORDS]
NEXT_TOKENS = [(" " + word, piece_id(" " + word)) for word in WORDS]


class TokenSink(Protocol):
    """Where a request's output goes (the HTTP stream); it also times each send against `scheduled`."""

    def token(self, text: str, reasoning: bool, finish: str | None, scheduled: float) -> bool:
        """Send one token (`finish` is set on the last); False: the client is gone, drop the request."""
        ...

    def finished(self, finish_reason: str, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> None:
        """The answer is complete (after the last token)."""
        ...


@dataclass(eq=False, slots=True)
class Sequence:
    """One request inside the engine."""

    prompt: list[int]
    max_tokens: int
    output_len: int
    reasoning_len: int
    sink: TokenSink
    rng: random.Random
    arrival: float = field(default_factory=time.monotonic)
    hit: CacheHit | None = None
    cached: int = 0
    prefilled: int = 0
    generated: int = 0
    reserved: int = 0
    output_ids: list[int] = field(default_factory=list)

    @property
    def context(self) -> int:
        return self.prefilled + self.generated


@dataclass
class EngineCounters:
    """Cumulative figures for /metrics."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    generation_tokens: int = 0
    requests_finished: int = 0
    ttft_seconds: list[float] = field(default_factory=list)  # drained by the metrics exporter


class Engine:
    def __init__(self, profile: Profile, cache: PrefixCache, seed: int = 0) -> None:
        self.profile = profile
        self.cache = cache
        self.rng = random.Random(seed)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.reserved = 0
        self.counters = EngineCounters()
        self._wake = asyncio.Event()
        self._cache_block = getattr(cache, "block_size", 1)

    # -- requests ---------------------------------------------------------------------------

    def fits(self, prompt_tokens: int, max_tokens: int) -> bool:
        """Could this request ever be admitted, with the whole KV budget to itself?"""
        return prompt_tokens + max_tokens <= self.profile.kv_budget_tokens

    def submit(self, prompt: list[int], max_tokens: int, min_tokens: int, exact: bool, sink: TokenSink) -> Sequence:
        rng = random.Random(self.rng.getrandbits(64))
        output_len = max_tokens if exact else self._natural_length(rng, min_tokens, max_tokens)
        reasoning_len = math.floor(output_len * self.profile.reasoning_share)
        seq = Sequence(prompt, max_tokens, output_len, reasoning_len, sink, rng)
        self.waiting.append(seq)
        self._wake.set()
        return seq

    def drop(self, seq: Sequence) -> None:
        """The client went away: free what the request held, cache nothing."""
        if seq in self.waiting:
            self.waiting.remove(seq)
        elif seq in self.running:
            self.running.remove(seq)
            self._release(seq)

    def _natural_length(self, rng: random.Random, min_tokens: int, max_tokens: int) -> int:
        sigma = self.profile.output_sigma
        mu = math.log(self.profile.mean_output_tokens) - sigma * sigma / 2  # so that the mean is as set
        return max(min_tokens, 1, min(max_tokens, round(rng.lognormvariate(mu, sigma))))

    # -- the step loop --------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            if not self.waiting and not self.running:
                self._wake.clear()
                await self._wake.wait()
            start = time.monotonic()
            self._admit()
            plan, decoding = self._plan()
            prefill = sum(n for _, n in plan)
            kv_active = sum(seq.context for seq in self.running)
            end = start + self.profile.step_ms(prefill, len(self.running), kv_active) / 1000.0
            delay = end - time.monotonic()
            if delay > TIMER_SLACK_S:
                await asyncio.sleep(delay - TIMER_SLACK_S)
            while time.monotonic() < end:
                pass  # spin the last moment: event-loop timers have 1 ms resolution and would wake late
            finished: list[Sequence] = []
            for seq, n in plan:
                seq.prefilled += n
                if seq.prefilled == len(seq.prompt):
                    self._cache_prompt(seq)
                    self.counters.ttft_seconds.append(end - seq.arrival)
                    self._emit(seq, end, finished)
            for seq in decoding:
                self._emit(seq, end, finished)
            # Ending a request (cache insert, usage chunk, [DONE]) waits until every token of the
            # step is out, so that it never delays another stream's token.
            for seq in finished:
                self._finish(seq)

    def _admit(self) -> None:
        budget = self.profile.kv_budget_tokens
        while self.waiting and len(self.running) < self.profile.max_running:
            seq = self.waiting[0]
            hit = self.cache.match(seq.prompt)
            cached = hit.tokens
            if cached >= len(seq.prompt):
                # Both engines recompute at least the last prompt token to get its logits.
                cached = (len(seq.prompt) - 1) // self._cache_block * self._cache_block
            need = len(seq.prompt) - cached + seq.max_tokens
            short = need - (budget - self.cache.size - self.reserved)
            if short > 0:
                self.cache.evict(short)
                short = need - (budget - self.cache.size - self.reserved)
            if short > 0:
                self.cache.release(hit)
                return  # first come, first served: the head of the queue waits for KV
            self.waiting.popleft()
            seq.hit, seq.cached, seq.prefilled, seq.reserved = hit, cached, cached, need
            self.reserved += need
            self.running.append(seq)
            self.counters.prompt_tokens += len(seq.prompt)
            self.counters.cached_tokens += cached

    def _plan(self) -> tuple[list[tuple[Sequence, int]], list[Sequence]]:
        budget = self.profile.prefill_chunk_tokens
        plan: list[tuple[Sequence, int]] = []
        decoding: list[Sequence] = []
        for seq in self.running:
            remaining = len(seq.prompt) - seq.prefilled
            if remaining <= 0:
                decoding.append(seq)
            elif budget > 0:
                chunk = min(remaining, budget)
                budget -= chunk
                plan.append((seq, chunk))
        return plan, decoding

    def _emit(self, seq: Sequence, scheduled: float, finished: list[Sequence]) -> None:
        text, token_id = seq.rng.choice(NEXT_TOKENS if seq.generated else FIRST_TOKENS)
        seq.output_ids.append(token_id)
        seq.generated += 1
        self.counters.generation_tokens += 1
        finish = None
        if seq.generated >= seq.output_len:
            finish = "length" if seq.output_len >= seq.max_tokens else "stop"
        if not seq.sink.token(text, seq.generated <= seq.reasoning_len, finish, scheduled):
            self.drop(seq)
        elif finish is not None:
            finished.append(seq)

    def _cache_prompt(self, seq: Sequence) -> None:
        """Both engines share a prompt's KV as soon as it is computed, not when the answer ends
        (SGLang's cache_unfinished_req, vLLM's full-block caching): a request arriving while this
        one still decodes can hit. The stored tokens move from the reservation into the cache."""
        stored = self.cache.insert(seq.prompt)
        hit = self.cache.match(seq.prompt)
        if seq.hit is not None:
            self.cache.release(seq.hit)
        seq.hit = hit
        stored = min(stored, seq.reserved)
        seq.reserved -= stored
        self.reserved -= stored

    def _finish(self, seq: Sequence) -> None:
        self.running.remove(seq)
        self._release(seq)
        self.cache.insert(seq.prompt + seq.output_ids)
        self.counters.requests_finished += 1
        finish = "length" if seq.output_len >= seq.max_tokens else "stop"
        seq.sink.finished(finish, len(seq.prompt), seq.cached, seq.generated)

    def _release(self, seq: Sequence) -> None:
        if seq.hit is not None:
            self.cache.release(seq.hit)
            seq.hit = None
        self.reserved -= seq.reserved
        seq.reserved = 0

    # -- state for /metrics and the flush endpoint ----------------------------------------------

    def kv_usage(self) -> float:
        used = self.cache.size + sum(seq.context - seq.cached for seq in self.running)
        return min(1.0, used / self.profile.kv_budget_tokens)
