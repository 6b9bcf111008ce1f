"""`/metrics` in each engine's own metric names, so the same scraper reads the emulator and the engine.

Each quantity goes by the current name deploy.engines gives it for the engine, the name the scraper
maps back to a common one. Figures are brought up to date when scraped, not on every step, so the
step loop pays nothing for them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from deploy.emulator.engine import Engine
from deploy.engines import engine_named

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0)


class EngineMetrics:
    def __init__(self, engine: Engine, dialect: str, model: str) -> None:
        self.engine = engine
        self.dialect = dialect
        self.registry = CollectorRegistry()
        self._seen = {"prompt": 0, "cached": 0, "generation": 0}
        known = engine_named(dialect)
        metric = known.metric
        labels = {"model_name": model, "engine": "0"} if dialect == "vllm" else {"model_name": model}
        names = list(labels)

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, names, registry=self.registry).labels(**labels)

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, names, registry=self.registry).labels(**labels)

        self._ttft = Histogram(
            f"{known.metric_prefix}time_to_first_token_seconds", "Time to first token", names, buckets=TTFT_BUCKETS,
            registry=self.registry,
        ).labels(**labels)  # fmt: skip
        # prometheus_client adds `_total` to a counter's name on the wire, and drops it when given.
        if dialect == "vllm":
            self._queries = counter(known.prefix_cache_queries[0], "Prefix cache queries, in tokens")
            self._hits = counter(metric("cached_tokens_total"), "Prefix cache hits, in tokens")
            self._prompt = counter(metric("prompt_tokens_total"), "Prompt tokens processed")
            self._generation = counter(metric("generation_tokens_total"), "Generation tokens")
            self._running = gauge(metric("running"), "Requests in the running batch")
            self._waiting = gauge(metric("waiting"), "Requests waiting")
            self._usage = gauge(metric("kv_usage"), "KV-cache usage, 1 = full")
        else:
            self._hits = counter(metric("cached_tokens_total"), "Prompt tokens served from the radix cache")
            self._prompt = counter(metric("prompt_tokens_total"), "Prompt tokens")
            self._generation = counter(metric("generation_tokens_total"), "Generation tokens")
            self._queries = self._prompt
            self._hit_rate = gauge(metric("cache_hit_rate"), "Cache hit rate of recent requests")
            self._running = gauge(metric("running"), "Running requests")
            self._waiting = gauge(metric("waiting"), "Queued requests")
            self._usage = gauge(metric("kv_usage"), "KV token usage, 1 = full")

    def render(self) -> bytes:
        c = self.engine.counters
        prompt, cached = c.prompt_tokens - self._seen["prompt"], c.cached_tokens - self._seen["cached"]
        self._prompt.inc(prompt)
        self._hits.inc(cached)
        if self._queries is not self._prompt:
            self._queries.inc(prompt)
        self._generation.inc(c.generation_tokens - self._seen["generation"])
        self._seen = {"prompt": c.prompt_tokens, "cached": c.cached_tokens, "generation": c.generation_tokens}
        if self.dialect == "sglang" and prompt:
            # SGLang's gauge covers recent batches; here, the requests admitted since the last scrape.
            self._hit_rate.set(cached / prompt)
        for seconds in c.ttft_seconds:
            self._ttft.observe(seconds)
        c.ttft_seconds.clear()
        self._running.set(len(self.engine.running))
        self._waiting.set(len(self.engine.waiting))
        self._usage.set(self.engine.kv_usage())
        return generate_latest(self.registry)
