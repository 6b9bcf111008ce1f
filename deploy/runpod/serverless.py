"""`turnbench deploy serverless`: Runpod serverless endpoints (worker-vllm, worker-sglang) as targets.

Without endpoint ids, `create` makes one queue endpoint per engine through REST v2 (`POST
/v2/serverless`, openapi.json `CreateEndpointRequest`) from the same engine settings as `deploy up`,
spelled as each worker's environment variables (deploy.runpod.workers), with the image, env and
GPU pool inline (no template). Workers, idle timeout, execution timeout and FlashBoot are always
sent, since the console, the SDK and REST v2 each default them differently (notes §2.8). Endpoints
are named `turnbench-<engine>-<deploy id>` like pods, recorded the moment each exists, and deleted
on any failure or signal (`EndpointGuard`) and by `deploy down`. Nothing waits for a worker: with
`--workers-min 0` the first request cold-starts one.

With `--vllm-endpoint ID --sglang-endpoint ID`, `serverless_targets` writes targets for endpoints
that already exist and creates nothing. Either way Runpod serves the OpenAI API at
`https://api.runpod.ai/v2/{id}/openai/v1`; the harness appends `/v1/chat/completions` to
`base_url`, so `base_url` stops at `/openai`. The Runpod key is the bearer token, so `api_key_env`
is RUNPOD_API_KEY, and the engines get no key of their own: each worker binds its engine to loopback.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.errors import DeployError
from deploy.parity import DEFAULT_MODEL, EngineSpec
from deploy.pricing import SERVERLESS_POOL, SERVERLESS_USD_PER_GPU_SECOND, serverless_billing
from deploy.runpod.client import RunpodClient
from deploy.runpod.credentials import RUNPOD_KEY_ENV, Credentials
from deploy.runpod.lifetime import PodName, new_deploy_id
from deploy.runpod.pods import DEFAULT_GPU_TYPE, DRY_RUN_DEPLOY_ID, HF_TOKEN_PLACEHOLDER
from deploy.runpod.resources import EndpointInfo
from deploy.runpod.serverless_teardown import ENDPOINT, EndpointGuard
from deploy.runpod.teardown import Progress, stop_signals_raise
from deploy.runpod.workers import (
    WORKER_CUDA_VERSIONS,
    WORKER_ENGINE_VERSIONS,
    WORKER_IMAGES,
    WORKER_NAMES,
    WorkerEnv,
    worker_env,
)
from deploy.state import DeployState, refuse_if_up, remove_state, write_state
from deploy.targets import Target, write_targets

BASE_URL = "https://api.runpod.ai/v2/{endpoint_id}/openai"  # + /v1/chat/completions, added by the harness
_ENDPOINT_ID = re.compile(r"^[A-Za-z0-9-]{4,64}$")
WORKERS = WORKER_NAMES
# Queue endpoints are the ones whose /openai routes the workers serve (worker-vllm README);
# a LOAD_BALANCER endpoint would need a worker that serves HTTP itself.
ENDPOINT_TYPE = "QUEUE"
# Runpod's own default scaler (openapi.json example, console): one more worker once a job waits 4 s.
SCALING = {"type": "QUEUE_DELAY", "queueDelay": 4}
FLASHBOOT_MODES = ("OFF", "FLASHBOOT", "PRIORITY_FLASHBOOT")  # openapi.json FlashBoot; REST v2 defaults to OFF
MAX_IDLE_TIMEOUT_S = 3600  # openapi.json EndpointWorkers.idleTimeout
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


@dataclass(frozen=True)
class EndpointOptions:
    gpu_count: int = 2
    gpu_pool: str = SERVERLESS_POOL
    workers_min: int = 0  # no worker bills until a job comes; the first one cold-starts
    # One worker per engine: a second one would have its own, cold, prefix cache, and the
    # comparison would measure Runpod's routing between them.
    workers_max: int = 1
    # Longer than REST v2's 10 s: a worker that idles out between a run's phases costs a cold start
    # (minutes for a 70B model) and its prefix cache. Idle seconds are billed.
    idle_timeout_s: int = 300
    execution_timeout_s: float = 600  # per job; a long reasoning trace under load outlasts REST v2's 300 s
    flashboot: str = "OFF"
    # With no network volume the workers download the weights (141 GB for the 70B model) onto the container disk.
    container_disk_gb: int = 200
    cuda_versions: tuple[str, ...] | None = None  # None: what each pinned worker allows

    def validate(self, specs: dict[str, EngineSpec]) -> None:
        for engine, spec in specs.items():
            if spec.settings.tensor_parallel != self.gpu_count:
                raise DeployError(
                    f"{engine}: tensor parallel {spec.settings.tensor_parallel} needs --gpu-count "
                    f"{spec.settings.tensor_parallel}, not {self.gpu_count}"
                )
        if self.gpu_pool not in SERVERLESS_USD_PER_GPU_SECOND:
            raise DeployError(f"--gpu-pool {self.gpu_pool}: choose one of {', '.join(SERVERLESS_USD_PER_GPU_SECOND)}")
        if not 0 <= self.workers_min <= self.workers_max or self.workers_max < 1:
            raise DeployError("--workers-min and --workers-max: need 0 <= min <= max and max >= 1")
        if not 1 <= self.idle_timeout_s <= MAX_IDLE_TIMEOUT_S:
            raise DeployError(f"--idle-timeout {self.idle_timeout_s}s: Runpod allows 1s to {MAX_IDLE_TIMEOUT_S}s")
        if self.flashboot not in FLASHBOOT_MODES:
            raise DeployError(f"--flashboot {self.flashboot}: choose one of {', '.join(FLASHBOOT_MODES)}")
        if self.container_disk_gb < 1 or self.execution_timeout_s < 1:
            raise DeployError("--container-disk-gb and --execution-timeout must be positive")

    def allowed_cuda(self, engine: str) -> tuple[str, ...]:
        return WORKER_CUDA_VERSIONS[engine] if self.cuda_versions is None else self.cuda_versions


def endpoint_body(
    spec: EngineSpec, options: EndpointOptions, credentials: Credentials, name: PodName
) -> dict[str, Any]:
    """The REST v2 `POST /v2/serverless` body for one engine's worker; the HF token is its only secret."""
    gpu: dict[str, Any] = {"pools": [options.gpu_pool], "count": options.gpu_count}
    cuda = options.allowed_cuda(spec.engine)
    if cuda:
        gpu["allowedCudaVersions"] = list(cuda)
    return {
        "name": str(name),
        "type": ENDPOINT_TYPE,
        "image": spec.image,
        "env": worker_env(spec, credentials.hf_token).env,
        "disk": options.container_disk_gb,
        "gpu": gpu,
        "workers": {"min": options.workers_min, "max": options.workers_max, "idleTimeout": options.idle_timeout_s},
        "scaling": dict(SCALING),
        "timeout": round(options.execution_timeout_s * 1000),  # milliseconds
        "flashboot": options.flashboot,
    }


def dry_run_bodies(specs: dict[str, EngineSpec], options: EndpointOptions, hf_token: bool) -> dict[str, dict[str, Any]]:
    """The body `create` would send for each engine, the token shown as a placeholder; no network."""
    options.validate(specs)
    hf = secrets.token_hex(16) if hf_token else None
    credentials = Credentials("<unused>", None, hf)
    bodies = {}
    for engine, spec in specs.items():
        text = json.dumps(endpoint_body(spec, options, credentials, PodName(engine, DRY_RUN_DEPLOY_ID)))
        bodies[engine] = json.loads(text.replace(hf, HF_TOKEN_PLACEHOLDER) if hf else text)
    return bodies


def with_unset_settings(parity: str, specs: dict[str, EngineSpec]) -> str:
    """The parity line, plus the settings a worker cannot carry: the endpoints run without those."""
    missing = [f"{WORKER_NAMES[engine]} cannot set {', '.join(worker_env(spec).not_set)}"
               for engine, spec in specs.items() if worker_env(spec).not_set]  # fmt: skip
    return "; ".join([parity, *missing])


def create(
    specs: dict[str, EngineSpec],
    options: EndpointOptions,
    credentials: Credentials,
    targets_path: Path,
    parity: str,
    progress: Progress,
) -> list[Target]:
    """Create and record one endpoint per engine, then write targets; on any failure or signal, delete them."""
    options.validate(specs)
    refuse_if_up(targets_path)
    client = RunpodClient(credentials)
    deploy_id = new_deploy_id()
    started = datetime.now(UTC)

    def record(endpoints: dict[str, str], templates: dict[str, str]) -> None:
        if endpoints or templates:
            write_state(targets_path, DeployState("runpod", deploy_id, endpoints=endpoints, templates=templates))
        else:
            remove_state(targets_path)

    with stop_signals_raise(), EndpointGuard(client, deploy_id, progress, record) as guard:
        made: dict[str, EndpointInfo] = {}
        for engine, spec in specs.items():
            name = PodName(engine, deploy_id)
            progress(
                f"  creating {name}: {WORKER_NAMES[engine]} {spec.image}, {options.gpu_count}x {options.gpu_pool}, "
                f"workers {options.workers_min}-{options.workers_max}, idle {options.idle_timeout_s}s, "
                f"FlashBoot {options.flashboot}"
            )
            body = endpoint_body(spec, options, credentials, name)
            with guard.creating(ENDPOINT, str(name)):
                endpoint = client.create_endpoint(f"the {engine} endpoint", body)
            guard.add(ENDPOINT, endpoint.id, engine)
            made[engine] = endpoint
        hf_set = credentials.hf_token is not None
        targets = [_created_target(specs[e], made[e], options, parity, started, hf_set) for e in specs]
        write_targets(targets_path, targets)
        guard.keep()
    return targets


def openai_base(endpoint: EndpointInfo) -> str:
    """The endpoint's OpenAI base from the `run` URL Runpod gave (`.../v2/{id}/run` -> `.../v2/{id}/openai`)."""
    run = endpoint.request_urls.get("run", "")
    return run.removesuffix("/run") + "/openai" if run.endswith("/run") else BASE_URL.format(endpoint_id=endpoint.id)


def _created_target(
    spec: EngineSpec, endpoint: EndpointInfo, options: EndpointOptions, parity: str, started: datetime, hf_set: bool
) -> Target:
    worker: WorkerEnv = worker_env(spec, HF_TOKEN_PLACEHOLDER if hf_set else None)
    launch: dict[str, Any] = {"worker": WORKER_NAMES[spec.engine], "image": spec.image}
    if spec.image == WORKER_IMAGES[spec.engine]:
        launch["engine_version"] = WORKER_ENGINE_VERSIONS[spec.engine]  # the pinned image's, not read live
    launch.update(
        # "K=V" strings: targets.toml writes launch values as JSON, which TOML reads for arrays of strings only.
        env=[f"{k}={v}" for k, v in worker.env.items()],
        not_set=worker.not_set_described(),
        parity=parity,
        endpoint_id=endpoint.id,
        endpoint_name=endpoint.name,
        gpu_pool=options.gpu_pool,
        cuda_versions=list(options.allowed_cuda(spec.engine)),
        workers_min=options.workers_min,
        workers_max=options.workers_max,
        idle_timeout_s=options.idle_timeout_s,
        execution_timeout_s=options.execution_timeout_s,
        flashboot=options.flashboot,
        scaling=f"{SCALING['type']} {SCALING['queueDelay']}s",
        deployed_at=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        cold_start=COLD_START,
        note=NOTES[spec.engine],
    )
    return Target(
        name=f"{spec.engine}-serverless",
        engine=spec.engine,
        base_url=openai_base(endpoint),
        model=spec.settings.served_model_name,
        api_key_env=RUNPOD_KEY_ENV,
        gpu_type=DEFAULT_GPU_TYPE if options.gpu_pool == SERVERLESS_POOL else None,  # the ADA_80_PRO pool is H100s
        gpu_count=options.gpu_count,
        billing=serverless_billing(options.gpu_pool),
        launch=launch,
    )


def serverless_targets(endpoints: dict[str, str], model: str = DEFAULT_MODEL, gpu_count: int = 2) -> list[Target]:
    """One target per engine -> id of an endpoint that already exists; billed per GPU-second for the worker's life."""
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
