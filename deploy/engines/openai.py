"""Any other OpenAI-compatible server: measured through /v1 only, so turnbench assumes nothing else.

No flush (a comparison against it starts with whatever its cache holds, and run.json says so), no
version endpoint, no metric names; reasoning may come in either field, which the client reads anyway.
"""

from __future__ import annotations

from deploy.engines.engine import Engine

OPENAI = Engine(
    name="openai",
    owned_by=None,  # real servers say "openai", "system", their organisation...: nothing to go by
    version_path=None,
    flush_path=None,
    flush_key="none",
    metric_prefix="",
    metric_names={},
    prefix_cache_queries=(),
    reasoning_field=None,
    cached_tokens_flag=None,
    cached_tokens_setting=None,
    nothing_cached_is_null=False,
    metrics_flag=None,
)
