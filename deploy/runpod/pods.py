"""`turnbench deploy up`: one Runpod GPU pod per engine, ready to serve, written into targets.toml.

Pods are created one after the other and recorded (state file) the moment each exists; both then
load in parallel, which is where the 15-25 minutes go. Everything runs inside a `PodGuard`, so
the only ways out are a targets file for two serving engines, or no pods left behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.errors import DeployError
from deploy.parity import EngineSpec
from deploy.pricing import H100_SXM, pod_billing
from deploy.runpod.client import PodInfo, RunpodClient
from deploy.runpod.credentials import ENGINE_KEY_ENV, Credentials
from deploy.runpod.lifetime import PodName, new_deploy_id
from deploy.runpod.readiness import Progress, ProxyUrls, read_version, wait_until_ready
from deploy.runpod.teardown import PodGuard, stop_signals_raise
from deploy.state import DeployState, load_state, remove_state, state_path, write_state
from deploy.targets import Target, write_targets

DEFAULT_GPU_TYPE = H100_SXM
CLOUDS = ("SECURE", "COMMUNITY", "ALL")  # the SDK defaults to ALL; we default to SECURE like REST v2
# The -cu129 images need a host driver offering CUDA 12.9 or newer (notes §4); an older one fails
# with "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.9".
DEFAULT_CUDA_VERSIONS = ("12.9", "13.0")
_PATH_SAFE = re.compile(r"^/[A-Za-z0-9_./-]*$")


@dataclass(frozen=True)
class PodOptions:
    gpu_type: str = DEFAULT_GPU_TYPE
    gpu_count: int = 2
    cloud: str = "SECURE"
    volume_gb: int = 200  # the 141 GB of weights, on the pod's volume with HF_HOME (notes §2.6)
    container_disk_gb: int = 50
    # The SDK's default is /runpod-volume while the console uses /workspace: say it explicitly.
    volume_mount_path: str = "/workspace"
    cuda_versions: tuple[str, ...] = DEFAULT_CUDA_VERSIONS
    data_center: str | None = None
    max_lifetime_s: float | None = None
    timeout_s: float = 40 * 60  # fresh pods need 15-25 min for a 70B model (notes §8)
    poll_s: float = 10.0
    proxy: ProxyUrls = field(default_factory=ProxyUrls)

    def validate(self, specs: dict[str, EngineSpec]) -> None:
        if self.cloud not in CLOUDS:
            raise DeployError(f"--cloud {self.cloud}: choose one of {', '.join(CLOUDS)}")
        for engine, spec in specs.items():
            if spec.settings.tensor_parallel != self.gpu_count:
                raise DeployError(
                    f"{engine}: tensor parallel {spec.settings.tensor_parallel} needs --gpu-count "
                    f"{spec.settings.tensor_parallel}, not {self.gpu_count}"
                )
        if not _PATH_SAFE.match(self.volume_mount_path):
            raise DeployError(f"--volume-mount-path {self.volume_mount_path!r}: use a plain absolute path")
        if self.volume_gb < 1 or self.container_disk_gb < 1 or self.timeout_s <= 0 or self.poll_s <= 0:
            raise DeployError("volume and disk sizes, --timeout and --poll-interval must be positive")


def create_kwargs(spec: EngineSpec, options: PodOptions, credentials: Credentials, name: PodName) -> dict[str, Any]:
    """Arguments for the SDK's create_pod; the engine key goes into docker_args and nowhere else."""
    env = {"HF_HOME": f"{options.volume_mount_path.rstrip('/')}/huggingface"}  # weights survive on the volume
    if credentials.hf_token:
        env["HF_TOKEN"] = credentials.hf_token
    if name.until is not None:
        env["TURNBENCH_EXPIRES_AT"] = name.until.strftime("%Y-%m-%dT%H:%MZ")
    return {
        "name": str(name),
        "image_name": spec.image,
        "gpu_type_id": options.gpu_type,  # never None: that would deploy a CPU pod (notes §2.2)
        "cloud_type": options.cloud,
        "gpu_count": options.gpu_count,
        "volume_in_gb": options.volume_gb,
        "container_disk_in_gb": options.container_disk_gb,
        "volume_mount_path": options.volume_mount_path,
        "docker_args": spec.docker_args(credentials.engine_key),
        "ports": f"{spec.settings.port}/http",
        "env": env,
        "allowed_cuda_versions": list(options.cuda_versions),
        "data_center_id": options.data_center,
    }


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
        spec.docker_args(credentials.engine_key)  # refuse unsafe flags before anything is paid for
    if load_state(targets_path) is not None:
        raise DeployError(
            f"{state_path(targets_path)} records a deployment still up; run `turnbench deploy down --targets "
            f"{targets_path}` first, or use another --targets"
        )
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
            progress(f"  creating {name}: {options.gpu_count}x {options.gpu_type}, {options.cloud} cloud, {spec.image}")
            pod_id = client.create_pod(f"the {engine} pod", **create_kwargs(spec, options, credentials, name))
            guard.add(pod_id, engine)
            pod_ids[engine] = pod_id
        port = next(iter(specs.values())).settings.port
        pods = wait_until_ready(
            client, pod_ids, options.proxy, port, credentials.engine_key, options.timeout_s, options.poll_s, progress
        )
        targets = [_target(specs[engine], pods[engine], options, credentials, parity, started) for engine in specs]
        write_targets(targets_path, targets)
        guard.keep()
    return targets


def _target(
    spec: EngineSpec, pod: PodInfo, options: PodOptions, credentials: Credentials, parity: str, started: datetime
) -> Target:
    key = credentials.engine_key
    base = options.proxy.base(pod.id, spec.settings.port)
    launch = spec.launch_record(api_key_set=key is not None)
    launch.update(
        engine_version=read_version(spec.engine, base, key),
        parity=parity,
        pod_id=pod.id,
        pod_name=pod.name,
        cloud=options.cloud,
        deployed_at=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return Target(
        name=f"{spec.engine}-runpod",
        engine=spec.engine,
        base_url=base,
        model=spec.settings.served_model_name,
        api_key_env=ENGINE_KEY_ENV if key else None,
        metrics_url=f"{base}/metrics",
        gpu_type=options.gpu_type,
        gpu_count=options.gpu_count,
        billing=pod_billing(pod.cost_per_hr, options.gpu_type, options.cloud, options.gpu_count),
        launch=launch,
    )
