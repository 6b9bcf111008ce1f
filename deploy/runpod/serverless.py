"""`turnbench deploy serverless`: existing Runpod serverless endpoints (worker-vllm, worker-sglang) as targets.

Nothing is created: endpoints are set up in the Runpod console (their engine flags are the
workers' environment variables), and this writes the targets file that points the harness at
them. Runpod serves the OpenAI API at `https://api.runpod.ai/v2/{id}/openai/v1`; the harness
appends `/v1/chat/completions` to `base_url`, so `base_url` stops at `/openai`. The Runpod key
is the bearer token, so `api_key_env` is RUNPOD_API_KEY.
"""

from __future__ import annotations

import re

from deploy.errors import DeployError
from deploy.parity import DEFAULT_MODEL
from deploy.pricing import SERVERLESS_POOL, serverless_billing
from deploy.runpod.credentials import RUNPOD_KEY_ENV
from deploy.runpod.pods import DEFAULT_GPU_TYPE
from deploy.targets import Target

BASE_URL = "https://api.runpod.ai/v2/{endpoint_id}/openai"  # + /v1/chat/completions, added by the harness
_ENDPOINT_ID = re.compile(r"^[A-Za-z0-9-]{4,64}$")
WORKERS = {"vllm": "worker-vllm", "sglang": "worker-sglang"}
COLD_START = (
    "cold starts (scheduling, image pull, weight load, engine init: 2-5 min at best, 10-20 min on a fresh host "
    "for 70B) count toward TTFT and cost; warm the endpoint or keep an active worker for steady-state numbers"
)
NOTES = {
    "vllm": "worker-vllm maps env vars to flags (MAX_MODEL_LEN, ENABLE_PREFIX_CACHING, REASONING_PARSER, ...); "
    "it relays raw SSE chunks whose boundaries need not align with events",
    "sglang": "worker-sglang has no env var for --enable-metrics or --enable-cache-report, so cached_tokens "
    "are not reported; its README's REASONING_PARSER values are wrong: use deepseek-r1",
}


def serverless_targets(endpoints: dict[str, str], model: str = DEFAULT_MODEL, gpu_count: int = 2) -> list[Target]:
    """One target per engine -> endpoint id; billed per GPU-second for the worker's whole life."""
    targets = []
    for engine, endpoint_id in endpoints.items():
        if not _ENDPOINT_ID.match(endpoint_id):
            raise DeployError(
                f"--{engine}-endpoint {endpoint_id!r} is not a Runpod endpoint id (letters and digits, "
                "as shown in the console's endpoint URL)"
            )
        if gpu_count < 1:
            raise DeployError("--gpu-count must be at least 1")
        targets.append(
            Target(
                name=f"{engine}-serverless",
                engine=engine,
                base_url=BASE_URL.format(endpoint_id=endpoint_id),
                model=model,
                api_key_env=RUNPOD_KEY_ENV,
                gpu_type=DEFAULT_GPU_TYPE,  # the ADA_80_PRO pool is H100s
                gpu_count=gpu_count,
                billing=serverless_billing(SERVERLESS_POOL),
                launch={
                    "worker": WORKERS[engine],
                    "endpoint_id": endpoint_id,
                    "gpu_pool": SERVERLESS_POOL,
                    "cold_start": COLD_START,
                    "note": NOTES[engine],
                },
            )
        )
    return targets
