"""The workers' environment: one set of settings in each worker's variables, and what a worker cannot set."""

from __future__ import annotations

from dataclasses import replace

from deploy.parity import FLAG_NAMES, EngineSettings, default_specs
from deploy.runpod.workers import VLLM_VARIABLES, worker_env


def test_vllm_variables_are_its_flags_in_upper_snake_as_worker_vllm_reads_them() -> None:
    """worker-vllm turns MAX_MODEL_LEN into --max-model-len: every variable but its aliases is a flag's name."""
    aliases = {"model": "MODEL_NAME", "served_model_name": "OPENAI_SERVED_MODEL_NAME_OVERRIDE"}
    for setting, flags in FLAG_NAMES.items():
        assert VLLM_VARIABLES[setting] == flags["vllm"].lstrip("-").replace("-", "_").upper()
    assert {k: VLLM_VARIABLES[k] for k in aliases} == aliases


def test_the_same_settings_in_each_workers_variables() -> None:
    specs = default_specs()
    vllm, sglang = worker_env(specs["vllm"], "hf-token"), worker_env(specs["sglang"])
    assert vllm.env["HF_TOKEN"] == "hf-token" and "HF_TOKEN" not in sglang.env
    assert (vllm.env["MAX_NUM_BATCHED_TOKENS"], sglang.env["CHUNKED_PREFILL_SIZE"]) == ("8192", "8192")
    assert (vllm.env["MAX_NUM_SEQS"], sglang.env["MAX_RUNNING_REQUESTS"]) == ("1024", "1024")
    assert (vllm.env["SCHEDULING_POLICY"], sglang.env["SCHEDULE_POLICY"]) == ("fcfs", "fcfs")
    assert vllm.env["GENERATION_CONFIG"] == "auto" and vllm.env["VLLM_SERVER_DEV_MODE"] == "1"
    assert vllm.env["MAX_CONCURRENCY"] == sglang.env["MAX_CONCURRENCY"] == "1024"  # the workers' defaults: 30, 300
    assert vllm.not_set == () and sglang.not_set == ("metrics", "cached_tokens", "sampling_defaults")
    assert not any("API_KEY" in name for name in (*vllm.env, *sglang.env))  # Runpod's key guards the endpoint


def test_prefix_cache_off_and_no_reasoning_parser() -> None:
    settings = replace(EngineSettings(), prefix_cache=False, reasoning_parser=None, cached_tokens=False)
    specs = default_specs(settings)
    vllm, sglang = worker_env(specs["vllm"]), worker_env(specs["sglang"])
    assert vllm.env["ENABLE_PREFIX_CACHING"] == "false" and sglang.env["DISABLE_RADIX_CACHE"] == "true"
    assert "REASONING_PARSER" not in vllm.env and "REASONING_PARSER" not in sglang.env
    assert vllm.env["ENABLE_PROMPT_TOKENS_DETAILS"] == "false" and "cached_tokens" not in sglang.not_set
