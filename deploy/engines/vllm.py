"""vLLM, as turnbench knows it: names read from vLLM 0.32-0.33 and notes/engines-and-runpod.md §4-7."""

from __future__ import annotations

from deploy.engines.engine import Engine

VLLM = Engine(
    name="vllm",
    owned_by="vllm",
    version_path="/version",
    # vLLM >= 0.10 mounts it only with VLLM_SERVER_DEV_MODE=1; otherwise it answers 404.
    flush_path="/reset_prefix_cache",
    # vLLM 0.33's --api-key guards only /v1, /v2 and /inference, so the flush is open; the key goes
    # along anyway, as it always has.
    flush_key="api_key",
    metric_prefix="vllm:",
    metric_names={
        "vllm:num_requests_running": "running",
        "vllm:num_requests_waiting": "waiting",
        "vllm:kv_cache_usage_perc": "kv_usage",
        "vllm:gpu_cache_usage_perc": "kv_usage",  # before vLLM 0.12
        "vllm:prompt_tokens_total": "prompt_tokens_total",
        "vllm:prefix_cache_hits_total": "cached_tokens_total",
        "vllm:gpu_prefix_cache_hits_total": "cached_tokens_total",  # before vLLM V1
        "vllm:generation_tokens_total": "generation_tokens_total",
    },
    # vLLM V1 has no hit-rate gauge, only these counters (the second name before V1).
    prefix_cache_queries=("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    reasoning_field="reasoning",  # renamed from reasoning_content in vLLM 0.12 (PR #27752)
    cached_tokens_flag="--enable-prompt-tokens-details",  # off by default (vLLM 0.27.1-0.33)
    cached_tokens_setting=None,  # /version answers only the version (vLLM 0.33)
    # With that flag vLLM 0.32 always sends the details, {"cached_tokens": 0} included.
    nothing_cached_is_null=False,
    metrics_flag=None,
)
