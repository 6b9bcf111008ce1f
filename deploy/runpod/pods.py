"""`turnbench deploy up`: one Runpod GPU pod per engine, ready to serve, written into targets.toml.

Each pod is placed through REST v2 (`POST /v2/pods`), which places one GPU type in one cloud with
no search of its own (notes §2.7): turnbench checks the catalog's stock first, then tries each
place the user allowed in order (Secure then Community for `--cloud ALL`, each `--data-center`
in turn) until one takes the pod. Pods are created one after the other and recorded (state
file) the moment each exists; both then load in parallel, which is where the 15-25 minutes go.
Everything runs inside a `PodGuard`, so the only ways out are a targets file for two serving
engines, or no pods left behind.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.errors import DeployError
from deploy.parity import API_KEY_PLACEHOLDER, EngineSpec
from deploy.pricing import H100_SXM, pod_billing
from deploy.runpod.client import NoCapacity, RunpodClient
from deploy.runpod.credentials import ENGINE_KEY_ENV, HF_TOKEN_ENV, Credentials
from deploy.runpod.lifetime import PodName, new_deploy_id
from deploy.runpod.readiness import Progress, ProxyUrls, read_version, wait_until_ready
from deploy.runpod.resources import PodInfo
from deploy.runpod.teardown import PodGuard, stop_signals_raise
from deploy.state import DeployState, refuse_if_up, remove_state, write_state
from deploy.targets import Target, write_targets

DEFAULT_GPU_TYPE = H100_SXM
CLOUDS = ("SECURE", "COMMUNITY")  # what REST v2 knows; it has no ALL (notes §1)
ALL_CLOUDS = "ALL"  # turnbench's own: Secure first, then Community
# The -cu129 images need a host driver offering CUDA 12.9 or newer (notes §4); an older one fails
# with "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.9".
DEFAULT_CUDA_VERSIONS = ("12.9", "13.0")
MIN_VOLUME_GB = 10  # REST v2's floor for mounts.persistent.size
HF_TOKEN_PLACEHOLDER = f"<{HF_TOKEN_ENV}>"
DRY_RUN_DEPLOY_ID = "<deploy-id>"  # a fresh random id names the real pods
_PATH_SAFE = re.compile(r"^/[A-Za-z0-9_./-]*$")


@dataclass(frozen=True)
class PodOptions:
    gpu_type: str = DEFAULT_GPU_TYPE
    gpu_count: int = 2
    cloud: str = "SECURE"  # SECURE, COMMUNITY or ALL
    volume_gb: int = 200  # the 141 GB of weights, on the pod's volume with HF_HOME (notes §2.6)
    container_disk_gb: int = 50
    # The console and REST v2 mount the volume at /workspace; said explicitly all the same.
    volume_mount_path: str = "/workspace"
    cuda_versions: tuple[str, ...] = DEFAULT_CUDA_VERSIONS
    data_centers: tuple[str, ...] = ()  # tried in this order; empty lets Runpod choose
    max_lifetime_s: float | None = None
    timeout_s: float = 40 * 60  # fresh pods need 15-25 min for a 70B model (notes §8)
    poll_s: float = 10.0
    proxy: ProxyUrls = field(default_factory=ProxyUrls)

    def validate(self, specs: dict[str, EngineSpec]) -> None:
        if self.cloud not in (*CLOUDS, ALL_CLOUDS):
            raise DeployError(f"--cloud {self.cloud}: choose one of {', '.join((*CLOUDS, ALL_CLOUDS))}")
        for engine, spec in specs.items():
            if spec.settings.tensor_parallel != self.gpu_count:
                raise DeployError(
                    f"{engine}: tensor parallel {spec.settings.tensor_parallel} needs --gpu-count "
                    f"{spec.settings.tensor_parallel}, not {self.gpu_count}"
                )
        if not _PATH_SAFE.match(self.volume_mount_path):
            raise DeployError(f"--volume-mount-path {self.volume_mount_path!r}: use a plain absolute path")
        if self.volume_gb < MIN_VOLUME_GB:
            raise DeployError(f"--volume-gb {self.volume_gb}: Runpod's minimum is {MIN_VOLUME_GB}")
        if self.container_disk_gb < 1 or self.timeout_s <= 0 or self.poll_s <= 0:
            raise DeployError("--container-disk-gb, --timeout and --poll-interval must be positive")

    def candidates(self) -> list[tuple[str, str | None]]:
        """(cloud, data centre or None) in the order they are tried."""
        clouds = CLOUDS if self.cloud == ALL_CLOUDS else (self.cloud,)
        return [(cloud, dc) for cloud in clouds for dc in (self.data_centers or (None,))]


def create_body(
    spec: EngineSpec,
    options: PodOptions,
    credentials: Credentials,
    name: PodName,
    placement: tuple[str, str | None] | None = None,
) -> dict[str, Any]:
    """The REST v2 `POST /v2/pods` body for one engine (openapi.json `CreatePodRequest`), placed at
    `placement` (cloud, data centre; default the first candidate). Secrets are in `args` and `env` only."""
    cloud, data_center = placement or options.candidates()[0]
    key = credentials.engine_key
    env = spec.start_env(key)
    env["HF_HOME"] = f"{options.volume_mount_path.rstrip('/')}/huggingface"  # weights survive on the volume
    if credentials.hf_token:
        env["HF_TOKEN"] = credentials.hf_token
    if name.until is not None:
        env["TURNBENCH_EXPIRES_AT"] = name.until.strftime("%Y-%m-%dT%H:%MZ")
    gpu: dict[str, Any] = {"id": options.gpu_type, "count": options.gpu_count}
    if options.cuda_versions:
        gpu["allowedCudaVersions"] = list(options.cuda_versions)
    body: dict[str, Any] = {
        "name": str(name),
        "image": spec.image,
        "gpu": gpu,  # never `cpu`: that would be a CPU pod
        "cloud": cloud,
        "args": spec.start_args(key),
        "env": env,
        "ports": [f"{spec.settings.port}/http"],
        "disk": options.container_disk_gb,
        "mounts": {"persistent": {"size": options.volume_gb, "path": options.volume_mount_path}},
    }
    if data_center is not None:
        body["dataCenterIds"] = [data_center]
    return body


def dry_run_bodies(
    specs: dict[str, EngineSpec], options: PodOptions, engine_key: bool, hf_token: bool, now: datetime
) -> dict[str, dict[str, Any]]:
    """The body `up` would send first for each engine, secrets shown as placeholders; no network.
    Random stand-ins go through the real code (and its checks), then are swapped for the names."""
    options.validate(specs)
    engine = secrets.token_hex(16) if engine_key else None
    hf = secrets.token_hex(16) if hf_token else None
    credentials = Credentials("<unused>", engine, hf)
    bodies = {}
    for engine_name, spec in specs.items():
        name = PodName.for_new_pod(engine_name, DRY_RUN_DEPLOY_ID, options.max_lifetime_s, now)
        text = json.dumps(create_body(spec, options, credentials, name))
        for stand_in, placeholder in ((engine, API_KEY_PLACEHOLDER), (hf, HF_TOKEN_PLACEHOLDER)):
            text = text.replace(stand_in, placeholder) if stand_in else text
        bodies[engine_name] = json.loads(text)
    return bodies


def up(
    specs: dict[str, EngineSpec],
    options: PodOptions,
    credentials: Credentials,
    targets_path: Path,
    parity: str,
    progress: Progress,
) -> list[Target]:
    """Create, wait for and record one pod per engine; on any failure or signal, terminate them all."""
    options.validate(specs)
    for spec in specs.values():
        spec.start_args(credentials.engine_key)  # refuse unsafe flags before anything is paid for
    refuse_if_up(targets_path)
    client = RunpodClient(credentials)
    deploy_id = new_deploy_id()
    started = datetime.now(UTC)

    def record(pods: dict[str, str]) -> None:
        if pods:
            write_state(targets_path, DeployState("runpod", deploy_id, pods))
        else:
            remove_state(targets_path)

    with stop_signals_raise(), PodGuard(client, deploy_id, progress, record) as guard:
        pod_ids = {}
        for engine, spec in specs.items():
            name = PodName.for_new_pod(engine, deploy_id, options.max_lifetime_s, started)
            pod_ids[engine] = place(client, guard, spec, options, credentials, name, progress)
        port = next(iter(specs.values())).settings.port
        pods = wait_until_ready(
            client, pod_ids, options.proxy, port, credentials.engine_key, options.timeout_s, options.poll_s, progress
        )
        guard.terminate_strays()
        targets = [_target(specs[engine], pods[engine], options, credentials, parity, started) for engine in specs]
        write_targets(targets_path, targets)
        guard.keep()
    return targets


def place(
    client: RunpodClient,
    guard: PodGuard,
    spec: EngineSpec,
    options: PodOptions,
    credentials: Credentials,
    name: PodName,
    progress: Progress,
) -> str:
    """Create the engine's pod in the first allowed place with room; returns its id, already guarded."""
    what = f"the {spec.engine} pod"
    gpus = f"{options.gpu_count}x {options.gpu_type}"
    tried: list[str] = []
    last_refusal = ""
    for cloud, data_center in options.candidates():
        where = f"{cloud} cloud" + (f" in {data_center}" if data_center else "")
        # Read just before each create: stock moves, and the catalog is only a guide (openapi.json createPod).
        stock = client.gpu_availability(options.gpu_type, options.gpu_count, cloud, options.cuda_versions)
        if not stock.has_room(data_center):
            progress(f"  no free {gpus} in {where}, says Runpod's catalog")
            tried.append(where)
            continue
        progress(f"  creating {name}: {gpus}, {where}, {spec.image}")
        body = create_body(spec, options, credentials, name, (cloud, data_center))
        try:
            with guard.creating(str(name)):
                pod_id = client.create_pod(what, body)
        except NoCapacity as full:
            progress(f"  Runpod could not place it in {where}: {full.detail}")
            tried.append(where)
            last_refusal = f" (Runpod: {full.detail})"
            continue
        guard.add(pod_id, spec.engine)
        return pod_id
    raise DeployError(
        f"no free GPUs for {what}: {gpus} in {', '.join(tried)}{last_refusal}; try again later, or another "
        "--cloud/--data-center/--gpu-type"
    )


def _target(
    spec: EngineSpec, pod: PodInfo, options: PodOptions, credentials: Credentials, parity: str, started: datetime
) -> Target:
    key = credentials.engine_key
    base = options.proxy.base(pod.id, spec.settings.port)
    cloud = pod.cloud or options.candidates()[0][0]
    launch = spec.launch_record(api_key_set=key is not None)
    launch.update(
        engine_version=read_version(spec.engine, base, key),
        parity=parity,
        pod_id=pod.id,
        pod_name=pod.name,
        cloud=cloud,
        deployed_at=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    if pod.data_center:
        launch["data_center"] = pod.data_center
    return Target(
        name=f"{spec.engine}-runpod",
        engine=spec.engine,
        base_url=base,
        model=spec.settings.served_model_name,
        api_key_env=ENGINE_KEY_ENV if key else None,
        metrics_url=f"{base}/metrics",
        gpu_type=options.gpu_type,
        gpu_count=options.gpu_count,
        billing=pod_billing(pod.cost_per_hr, options.gpu_type, cloud, options.gpu_count),
        launch=launch,
    )
