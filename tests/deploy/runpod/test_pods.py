"""`turnbench deploy up` against a fake Runpod: what the pods get, and what targets.toml says."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from deploy.parity import default_specs
from deploy.runpod.credentials import Credentials
from deploy.runpod.lifetime import PodName
from deploy.runpod.pods import PodOptions, create_kwargs
from deploy.state import state_path
from deploy.targets import load_targets
from tests.deploy.conftest import ENGINE_KEY, HF_TOKEN, error_lines, fast_up, leaked_secrets, run_deploy
from tests.deploy.fake_runpod import FakeRunpod


def test_up_creates_two_pods_waits_for_health_and_writes_targets(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    targets_file = tmp_path / "targets.toml"
    result = run_deploy(*fast_up(fake, targets_file), env=env)
    assert result.returncode == 0, result.stderr

    vllm_id, sglang_id = fake.created
    vllm, sglang = fake.pod(vllm_id), fake.pod(sglang_id)
    for pod in (vllm, sglang):
        assert pod.name.startswith("turnbench-") and pod.gpu_type == "NVIDIA H100 80GB HBM3"
        assert (pod.gpu_count, pod.cloud, pod.ports, pod.volume_mount_path) == (2, "SECURE", "8000/http", "/workspace")
        assert pod.container_disk_gb == 50 and pod.volume_gb == 200
        assert pod.env["HF_HOME"] == "/workspace/huggingface" and pod.env["HF_TOKEN"] == HF_TOKEN
        assert f"--api-key {ENGINE_KEY}" in pod.docker_args
    assert vllm.image.startswith("vllm/vllm-openai:") and sglang.image.startswith("lmsysorg/sglang:")
    assert vllm.docker_args.startswith("deepseek-ai/DeepSeek-R1-Distill-Llama-70B --served-model-name")
    assert sglang.docker_args.startswith("python3 -m sglang.launch_server --model-path deepseek-ai/")
    # Every /health probe carried the engine key, since the engines run with --api-key.
    assert fake.health_auth and set(fake.health_auth) == {f"Bearer {ENGINE_KEY}"}

    targets = {t.engine: t for t in load_targets(targets_file)}
    assert targets["vllm"].base_url == f"{fake.url}/proxy/{vllm_id}-8000"
    for engine, target in targets.items():
        assert target.model == "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"
        assert target.api_key_env == "TURNBENCH_ENGINE_API_KEY"
        assert target.metrics_url == f"{target.base_url}/metrics"
        assert (target.gpu_type, target.gpu_count) == ("NVIDIA H100 80GB HBM3", 2)
        assert target.billing == {"kind": "pod", "usd_per_hour": 7.98, "source": "live: runpod costPerHr"}
        assert target.launch["engine_version"] == {"vllm": "0.33.0", "sglang": "0.5.23"}[engine]
        assert target.launch["parity"] == "checked"
        assert "<TURNBENCH_ENGINE_API_KEY>" in target.launch["flags"]
    assert "--enable-prompt-tokens-details" in targets["vllm"].launch["flags"]
    assert "--enable-cache-report" in targets["sglang"].launch["flags"]

    assert set(json.loads(state_path(targets_file).read_text())["pods"]) == {vllm_id, sglang_id}
    assert "turnbench deploy down --targets" in result.stdout
    assert leaked_secrets(tmp_path, result.stdout, result.stderr) == []
    assert fake.alive() == [vllm_id, sglang_id]  # a successful deployment stays up, to be measured


def test_status_then_down_terminates_exactly_this_deployment(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    targets_file = tmp_path / "targets.toml"
    assert run_deploy(*fast_up(fake, targets_file), env=env).returncode == 0
    fake.pod(fake.created[0]).uptime_offset_s = 1800  # half an hour at $7.98/h

    status = run_deploy("status", "--targets", str(targets_file), env=env)
    assert status.returncode == 0, status.stderr
    assert fake.created[0] in status.stdout and "my-notebook" not in status.stdout
    assert "3.99" in status.stdout and "2 pod(s): $15.96/h now" in status.stdout

    down = run_deploy("down", "--targets", str(targets_file), env=env)
    assert down.returncode == 0, down.stderr
    assert fake.alive() == [] and "userpod0001" not in fake.terminated
    assert not state_path(targets_file).exists() and "terminated 2 pod(s)" in down.stdout


def test_without_a_live_price_the_dated_fallback_is_recorded(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.cost_per_hr = None
    targets_file = tmp_path / "targets.toml"
    assert run_deploy(*fast_up(fake, targets_file, "--cloud", "community"), env=env).returncode == 0
    billing = load_targets(targets_file)[0].billing
    assert billing["usd_per_hour"] == 5.38 and "as of 2026-11" in billing["source"]
    assert fake.pod(fake.created[0]).cloud == "COMMUNITY"


def test_max_lifetime_is_carried_by_name_and_env_and_enforced_by_down_expired(
    tmp_path: Path, fake: FakeRunpod, env: dict
) -> None:
    targets_file = tmp_path / "targets.toml"
    assert run_deploy(*fast_up(fake, targets_file, "--max-lifetime", "4h"), env=env).returncode == 0
    pod = fake.pod(fake.created[0])
    name = PodName.parse(pod.name)
    assert name is not None and name.until is not None and "TURNBENCH_EXPIRES_AT" in pod.env
    assert 4 * 3600 <= (name.until - datetime.now(UTC)).total_seconds() <= 4 * 3600 + 120

    early = run_deploy("down", "--expired", "--targets", str(targets_file), env=env)
    assert early.returncode == 0 and fake.alive() == fake.created and "no turnbench pods" in early.stdout
    for pod_id in fake.created:  # the deadline passes
        fake.pod(pod_id).name = pod.name.rsplit("-until-", 1)[0] + "-until-20200101T0000Z"
    assert "EXPIRED" in run_deploy("status", env=env, timeout=60).stdout
    late = run_deploy("down", "--expired", "--targets", str(targets_file), env=env)
    assert late.returncode == 0 and fake.alive() == []


def test_down_all_leaves_other_pods_alone_and_down_needs_a_record(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    assert run_deploy(*fast_up(fake, tmp_path / "a.toml"), env=env).returncode == 0
    refused = run_deploy("down", "--targets", str(tmp_path / "never.toml"), env=env)
    assert refused.returncode == 2 and error_lines(refused.stderr)[0].endswith(
        "every turnbench- pod in your Runpod account"
    )
    everything = run_deploy("down", "--all", env=env)
    assert everything.returncode == 0 and fake.alive() == [] and "userpod0001" not in fake.terminated


def test_a_second_up_on_the_same_targets_file_is_refused(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    targets_file = tmp_path / "targets.toml"
    assert run_deploy(*fast_up(fake, targets_file), env=env).returncode == 0
    again = run_deploy(*fast_up(fake, targets_file), env=env)
    assert again.returncode == 2 and "turnbench deploy down" in again.stderr and len(fake.created) == 2


def test_create_kwargs_pass_the_volume_path_explicitly_and_never_a_cpu_pod() -> None:
    spec = default_specs()["sglang"]
    name = PodName("sglang", "abcd1234")
    kwargs = create_kwargs(spec, PodOptions(), Credentials("rk", "ek", None), name)
    assert kwargs["volume_mount_path"] == "/workspace" and kwargs["gpu_type_id"] == "NVIDIA H100 80GB HBM3"
    assert kwargs["env"] == {"HF_HOME": "/workspace/huggingface"} and kwargs["cloud_type"] == "SECURE"
    assert kwargs["docker_args"].endswith("--api-key ek") and kwargs["allowed_cuda_versions"] == ["12.9", "13.0"]
