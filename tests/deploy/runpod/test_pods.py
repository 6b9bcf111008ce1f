"""`turnbench deploy up` against a fake Runpod REST v2: what the pods get, where, and what targets.toml says."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from deploy.parity import default_specs
from deploy.runpod.credentials import Credentials
from deploy.runpod.lifetime import PodName
from deploy.runpod.pods import PodOptions, create_body
from deploy.state import state_path
from deploy.targets import load_targets
from tests.deploy.conftest import ENGINE_KEY, HF_TOKEN, error_lines, fast_up, leaked_secrets, run_deploy
from tests.deploy.fake_runpod import CAPACITY_DETAIL, FakeRunpod, Problem


def test_up_creates_two_pods_waits_for_health_and_writes_targets(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    targets_file = tmp_path / "targets.toml"
    result = run_deploy(*fast_up(fake, targets_file), env=env)
    assert result.returncode == 0, result.stderr

    vllm_id, sglang_id = fake.created
    vllm, sglang = fake.pod(vllm_id), fake.pod(sglang_id)
    specs = default_specs()
    for pod in (vllm, sglang):
        body = pod.body
        assert pod.name.startswith("turnbench-") and body["gpu"] == {
            "id": "NVIDIA H100 80GB HBM3", "count": 2, "allowedCudaVersions": ["12.9", "13.0"]}  # fmt: skip
        assert (body["cloud"], body["ports"], body["disk"]) == ("SECURE", ["8000/http"], 50)
        assert body["mounts"] == {"persistent": {"size": 200, "path": "/workspace"}} and "dataCenterIds" not in body
        assert pod.env["HF_HOME"] == "/workspace/huggingface" and pod.env["HF_TOKEN"] == HF_TOKEN
        # The engine's own start command and environment, from deploy/parity.py, key included.
        spec = specs[pod.engine]
        assert body["image"] == spec.image and body["args"] == spec.start_args(ENGINE_KEY)
        assert spec.start_env(ENGINE_KEY).items() <= pod.env.items()
        assert ENGINE_KEY in body["args"] + json.dumps(pod.env)
    assert vllm.body["image"].startswith("vllm/vllm-openai:") and sglang.body["image"].startswith("lmsysorg/sglang:")
    assert vllm.body["args"].startswith("deepseek-ai/DeepSeek-R1-Distill-Llama-70B --served-model-name")
    # Every /health probe carried the engine key, since the engines run with it.
    assert fake.health_auth and set(fake.health_auth) == {f"Bearer {ENGINE_KEY}"}
    # Each create came after the catalog said there was room, for 2 GPUs on the CUDA versions allowed.
    assert [q["count"] for q in fake.catalog_queries] == ["2", "2"] and fake.catalog_queries[0]["cloud"] == "SECURE"

    targets = {t.engine: t for t in load_targets(targets_file)}
    assert targets["vllm"].base_url == f"{fake.url}/proxy/{vllm_id}-8000"
    for engine, target in targets.items():
        assert target.model == "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"
        assert target.api_key_env == "TURNBENCH_ENGINE_API_KEY"
        assert target.metrics_url == f"{target.base_url}/metrics"
        assert (target.gpu_type, target.gpu_count) == ("NVIDIA H100 80GB HBM3", 2)
        assert target.billing["usd_per_hour"] == 7.98 and target.billing["source"].startswith("live: runpod")
        assert target.launch["engine_version"] == {"vllm": "0.33.0", "sglang": "0.5.23"}[engine]
        assert (target.launch["parity"], target.launch["cloud"], target.launch["data_center"]) == (
            "checked", "SECURE", "US-TX-3")  # fmt: skip
        # The record names the key where it went (vLLM's environment, SGLang's flags), never the key.
        assert "<TURNBENCH_ENGINE_API_KEY>" in " ".join([*target.launch["flags"], *target.launch.get("env", [])])
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
    assert leaked_secrets(tmp_path, status.stdout, status.stderr) == []  # pods come back with their env

    down = run_deploy("down", "--targets", str(targets_file), env=env)
    assert down.returncode == 0, down.stderr
    assert fake.alive() == [] and "userpod0001" not in fake.terminated
    assert not state_path(targets_file).exists() and "terminated 2 pod(s)" in down.stdout


def test_without_a_live_price_the_dated_fallback_of_the_cloud_used_is_recorded(
    tmp_path: Path, fake: FakeRunpod, env: dict
) -> None:
    fake.faults.cost_per_hr = 0.0
    targets_file = tmp_path / "targets.toml"
    assert run_deploy(*fast_up(fake, targets_file, "--cloud", "community"), env=env).returncode == 0
    billing = load_targets(targets_file)[0].billing
    assert billing["usd_per_hour"] == 5.38 and "as of 2026-11" in billing["source"]
    assert fake.pod(fake.created[0]).body["cloud"] == "COMMUNITY"


def test_cloud_all_falls_back_to_community_when_secure_has_no_room(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    """Secure first; the catalog says none for one engine, a capacity 400 for the other: both land on Community."""
    fake.faults.availability = {"SECURE": "NONE"}
    targets_file = tmp_path / "targets.toml"
    result = run_deploy(*fast_up(fake, targets_file, "--cloud", "ALL"), env=env)
    assert result.returncode == 0, result.stderr
    assert [fake.pod(p).body["cloud"] for p in fake.created] == ["COMMUNITY", "COMMUNITY"]
    assert "no free 2x NVIDIA H100 80GB HBM3 in SECURE cloud, says Runpod's catalog" in result.stderr
    assert {t.launch["cloud"] for t in load_targets(targets_file)} == {"COMMUNITY"}

    fake.faults.availability = {}
    fake.faults.create_errors = {3: Problem(400, CAPACITY_DETAIL)}  # the next deployment's first create
    again = run_deploy(*fast_up(fake, tmp_path / "b.toml", "--cloud", "ALL"), env=env)
    assert again.returncode == 0, again.stderr
    assert [fake.pod(p).body["cloud"] for p in fake.created[2:]] == ["COMMUNITY", "SECURE"]
    assert f"Runpod could not place it in SECURE cloud: {CAPACITY_DETAIL}" in again.stderr


def test_data_centres_are_tried_in_the_order_given(tmp_path: Path, fake: FakeRunpod, env: dict) -> None:
    fake.faults.availability = {"SECURE/EU-RO-1": "NONE"}
    result = run_deploy(*fast_up(fake, tmp_path / "t.toml", "--data-center", "EU-RO-1,US-KS-2"), env=env)
    assert result.returncode == 0, result.stderr
    assert [fake.pod(p).body["dataCenterIds"] for p in fake.created] == [["US-KS-2"], ["US-KS-2"]]
    assert "no free 2x NVIDIA H100 80GB HBM3 in SECURE cloud in EU-RO-1" in result.stderr


def test_max_lifetime_is_carried_by_name_and_env_and_enforced_by_down_expired(
    tmp_path: Path, fake: FakeRunpod, env: dict
) -> None:
    targets_file = tmp_path / "targets.toml"
    assert run_deploy(*fast_up(fake, targets_file, "--max-lifetime", "4h"), env=env).returncode == 0
    pod = fake.pod(fake.created[0])
    name = PodName.parse(pod.name)
    assert name is not None and name.until is not None and "TURNBENCH_EXPIRES_AT" in pod.env
    # The name carries minutes, and the deploy itself took seconds: within two minutes of 4 h either way.
    assert abs((name.until - datetime.now(UTC)).total_seconds() - 4 * 3600) <= 120

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


def test_5xx_and_429_along_the_way_are_retried_and_a_create_that_went_through_is_not_made_twice(
    tmp_path: Path, fake: FakeRunpod, env: dict
) -> None:
    fake.faults.server_errors = {"getPod": 2, "listGpuTypes": 1, "listPods": 1}
    fake.faults.rate_limited = {"getPod": 2, "createPod": 1}
    fake.faults.create_errors = {1: Problem(502, "bad gateway", pod_made=True)}
    result = run_deploy(*fast_up(fake, tmp_path / "t.toml"), env=env)
    assert result.returncode == 0, result.stderr
    assert len(fake.created) == 2 and fake.alive() == fake.created
    assert 503 in fake.answered("getPod") and 429 in fake.answered("getPod")


def test_create_body_is_a_v2_body_and_never_a_cpu_pod() -> None:
    spec = default_specs()["sglang"]
    name = PodName("sglang", "abcd1234")
    body = create_body(
        spec, PodOptions(cuda_versions=()), Credentials("rk_SECRET", "ek", "hf"), name, ("COMMUNITY", "X")
    )
    assert set(body) == {"name", "image", "gpu", "cloud", "dataCenterIds", "args", "env", "ports", "disk", "mounts"}
    assert body["gpu"] == {"id": "NVIDIA H100 80GB HBM3", "count": 2} and "cpu" not in body
    assert (body["cloud"], body["dataCenterIds"], body["name"]) == ("COMMUNITY", ["X"], "turnbench-sglang-abcd1234")
    assert body["env"] == {**spec.start_env("ek"), "HF_HOME": "/workspace/huggingface", "HF_TOKEN": "hf"}
    assert body["args"] == spec.start_args("ek") and "rk_SECRET" not in json.dumps(body)
