"""SGLang, as turnbench knows it: names read from SGLang 0.5.x and notes/engines-and-runpod.md §4-7."""

from __future__ import annotations

from deploy.engines.engine import Engine

SGLANG = Engine(
    name="sglang",
    owned_by="sglang",
    version_path="/get_server_info",  # the server's arguments, "version" among them
    # GET or POST; SGLang 0.5 refuses it with a 400 while requests run or wait (0.5.23 http_server.py).
    flush_path="/flush_cache",
    # /flush_cache is AuthLevel.ADMIN_OPTIONAL (http_server.py 0.5.23): with --admin-api-key set only
    # that key opens it (--api-key is refused), else --api-key, else it is open
    # (srt/utils/auth.py decide_request_auth, 0.5.23). deploy.parity starts it with --api-key only.
    flush_key="admin_api_key",
    metric_prefix="sglang:",
    metric_names={
        "sglang:cache_hit_rate": "cache_hit_rate",  # a gauge over recent batches (SGLang 0.5)
        "sglang:num_running_reqs": "running",
        "sglang:num_queue_reqs": "waiting",
        "sglang:token_usage": "kv_usage",
        "sglang:prompt_tokens_total": "prompt_tokens_total",
        # One series per `cache_source` label (device, host, storage) since SGLang 0.5: sum them.
        "sglang:cached_tokens_total": "cached_tokens_total",
        "sglang:generation_tokens_total": "generation_tokens_total",
    },
    prefix_cache_queries=(),  # it reports cache_hit_rate itself
    reasoning_field="reasoning_content",
    cached_tokens_flag="--enable-cache-report",  # off by default (SGLang 0.5)
    cached_tokens_setting="enable_cache_report",  # /get_server_info spreads its ServerArgs (SGLang 0.5)
    # SGLang 0.5 sends `prompt_tokens_details: null` for a zero count (sglang PR #28801, open).
    nothing_cached_is_null=True,
    metrics_flag="--enable-metrics",  # SGLang 0.5 serves no /metrics without it
)
