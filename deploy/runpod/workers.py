"""Runpod's serverless workers, worker-vllm and worker-sglang: their images, and how one engine's
`EngineSettings` become the environment variables each worker turns into its engine's flags.

Neither worker takes a start command: each image's entrypoint builds the engine's command line from
its environment, starts the engine on loopback and then serves Runpod jobs, so an endpoint's `args`
would replace the worker itself. A setting a worker has no variable for cannot be set on its
endpoint; `worker_env` names those, and the targets file records them.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy.parity import REASONING_PARSERS, SAMPLING_DEFAULTS, EngineSpec

WORKER_NAMES = {"vllm": "worker-vllm", "sglang": "worker-sglang"}
WORKER_IMAGES = {
    # worker-vllm v2.25.2 (2026-08-20) is built FROM vllm/vllm-openai:v0.27.1 (its Dockerfile's VLLM_VERSION).
    "vllm": "runpod/worker-v1-vllm:v2.25.2",
    # worker-sglang 2.0.1 (2025-11-07, its newest release) is built FROM lmsysorg/sglang:v0.5.2-cu126.
    "sglang": "runpod/worker-sglang:2.0.1",
}
# The engine inside each pinned image, from its Dockerfile: not read from a running engine.
WORKER_ENGINE_VERSIONS = {"vllm": "0.27.1", "sglang": "0.5.2"}
# Host CUDA versions each pinned worker allows in its .runpod/hub.json. REST v2 matches them exactly
# (openapi.json CreateEndpointGpuConfig), so another image may need --cuda-versions.
WORKER_CUDA_VERSIONS = {"vllm": ("13.0",), "sglang": ("12.9", "12.8", "12.7", "12.6")}

# Setting -> the worker's variable for it. worker-vllm (src/args_builder.py, v2.25.2) turns any variable
# named like a `vllm serve` flag in UPPER_SNAKE into that flag, booleans into `--x` / `--no-x`;
# OPENAI_SERVED_MODEL_NAME_OVERRIDE and MODEL_NAME are its aliases of --served-model-name and --model.
VLLM_VARIABLES = {
    "model": "MODEL_NAME",
    "served_model_name": "OPENAI_SERVED_MODEL_NAME_OVERRIDE",
    "tensor_parallel": "TENSOR_PARALLEL_SIZE",
    "context_length": "MAX_MODEL_LEN",
    "gpu_memory_fraction": "GPU_MEMORY_UTILIZATION",
    "prefix_cache": "ENABLE_PREFIX_CACHING",
    "cached_tokens": "ENABLE_PROMPT_TOKENS_DETAILS",
    "reasoning_parser": "REASONING_PARSER",
    "schedule_policy": "SCHEDULING_POLICY",
    "sampling_defaults": "GENERATION_CONFIG",
    "prefill_chunk_tokens": "MAX_NUM_BATCHED_TOKENS",
    "max_running_requests": "MAX_NUM_SEQS",
}
# worker-sglang (engine.py, 2.0.1) knows a fixed list of variables; booleans only when true.
SGLANG_VARIABLES = {
    "model": "MODEL_NAME",
    "served_model_name": "SERVED_MODEL_NAME",
    "tensor_parallel": "TENSOR_PARALLEL_SIZE",
    "context_length": "CONTEXT_LENGTH",
    "gpu_memory_fraction": "MEM_FRACTION_STATIC",
    "prefix_cache": "DISABLE_RADIX_CACHE",  # inverted: "true" turns the radix cache off
    "reasoning_parser": "REASONING_PARSER",
    "schedule_policy": "SCHEDULE_POLICY",
    "prefill_chunk_tokens": "CHUNKED_PREFILL_SIZE",
    "max_running_requests": "MAX_RUNNING_REQUESTS",
}
# What worker-sglang 2.0.1 has no variable for, and so what its endpoint runs without (notes §2.8).
SGLANG_NOT_SETTABLE = {
    "metrics": "metrics (--enable-metrics): SGLang serves no /metrics",
    "cached_tokens": "cached_tokens (--enable-cache-report): usage has no cached_tokens",
    "sampling_defaults": "sampling_defaults (--sampling-defaults): SGLang 0.5.2's own default applies",
}
# The jobs one worker takes at once (Runpod queues the rest). The workers' defaults differ
# (worker-vllm 30, worker-sglang 300) and change results, so both get the engine's own limit.
MAX_CONCURRENCY = "MAX_CONCURRENCY"
HF_TOKEN = "HF_TOKEN"  # both workers pass it to the Hugging Face download


@dataclass(frozen=True)
class WorkerEnv:
    env: dict[str, str]  # the endpoint's `env`, the token included when one was given
    not_set: tuple[str, ...] = ()  # the settings the worker cannot carry (keys of SGLANG_NOT_SETTABLE)

    def not_set_described(self) -> list[str]:
        return [SGLANG_NOT_SETTABLE[setting] for setting in self.not_set]


def worker_env(spec: EngineSpec, hf_token: str | None = None) -> WorkerEnv:
    """The endpoint `env` that makes `spec.engine`'s worker start its engine with `spec.settings`."""
    s = spec.settings
    vllm = spec.engine == "vllm"
    names = VLLM_VARIABLES if vllm else SGLANG_VARIABLES
    parser = REASONING_PARSERS.get(s.reasoning_parser or "", {}).get(spec.engine, s.reasoning_parser or "")
    values = {
        "model": s.model,
        "served_model_name": s.served_model_name,
        "tensor_parallel": str(s.tensor_parallel),
        "context_length": str(s.context_length),
        "gpu_memory_fraction": f"{s.gpu_memory_fraction:g}",
        "prefix_cache": _bool(s.prefix_cache if vllm else not s.prefix_cache),
        "cached_tokens": _bool(s.cached_tokens),
        "reasoning_parser": parser,  # empty: the worker passes no --reasoning-parser
        "schedule_policy": s.schedule_policy,
        "sampling_defaults": SAMPLING_DEFAULTS.get(s.sampling_defaults, {}).get(spec.engine, ("", ""))[1],
        "prefill_chunk_tokens": str(s.prefill_chunk_tokens),
        "max_running_requests": str(s.max_running_requests),
    }
    env = {names[setting]: value for setting, value in values.items() if setting in names and value}
    # The engine's own variables (vLLM's dev mode, for its cache flush) reach the engine unchanged: worker-vllm
    # starts `vllm serve` with its environment (docs/configuration.md), and any vLLM route, the flush
    # too, is reachable through a job's `route` (src/handler.py).
    env.update(spec.start_env(None))
    env[MAX_CONCURRENCY] = str(s.max_running_requests)
    if hf_token:
        env[HF_TOKEN] = hf_token
    not_set: list[str] = []
    if not vllm:
        wanted = {"metrics": s.metrics, "cached_tokens": s.cached_tokens, "sampling_defaults": True}
        not_set = [setting for setting, asked in wanted.items() if asked]
    return WorkerEnv(env, tuple(not_set))


def _bool(value: bool) -> str:
    return "true" if value else "false"
