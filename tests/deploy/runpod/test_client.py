"""The SDK wrapper against the fake Runpod: real SDK calls, real GraphQL text, one-line errors."""

from __future__ import annotations

import pytest

from deploy.errors import DeployError
from deploy.runpod.client import PodInfo, RunpodClient
from deploy.runpod.credentials import Credentials
from tests.deploy.fake_runpod import CAPACITY_ERROR, FAKE_RUNPOD_KEY, FakeRunpod

POD = {
    "name": "turnbench-vllm-ab12cd34",
    "image_name": "vllm/vllm-openai:v0.33.0-cu129",
    "gpu_type_id": "NVIDIA H100 80GB HBM3",
    "cloud_type": "SECURE",
    "gpu_count": 2,
    "ports": "8000/http",
    "volume_mount_path": "/workspace",
    "docker_args": "m --port 8000",
    "env": {"HF_HOME": "/workspace/hf"},
}


@pytest.fixture
def client(fake: FakeRunpod, monkeypatch: pytest.MonkeyPatch) -> RunpodClient:
    monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)  # the SDK reads it on every call
    return RunpodClient(Credentials(FAKE_RUNPOD_KEY, "engine-secret", None))


def test_create_get_list_terminate(client: RunpodClient, fake: FakeRunpod) -> None:
    pod_id = client.create_pod("the vllm pod", **POD)
    assert fake.created == [pod_id] and fake.pod(pod_id).env == {"HF_HOME": "/workspace/hf"}
    first = client.get_pod(pod_id)
    assert first is not None and not first.serves(8000)  # running, but no port routed yet
    second = client.get_pod(pod_id)
    assert second is not None and second.serves(8000) and second.cost_per_hr == 7.98
    assert {p.name for p in client.list_pods()} == {"turnbench-vllm-ab12cd34", "my-notebook"}
    client.terminate_pod(pod_id)
    assert fake.terminated == [pod_id] and client.get_pod(pod_id) is None


def test_capacity_errors_say_what_to_try(client: RunpodClient, fake: FakeRunpod) -> None:
    fake.faults.create_errors = {1: CAPACITY_ERROR}
    with pytest.raises(DeployError, match="no free GPUs of that type while creating the vllm pod; try again later"):
        client.create_pod("the vllm pod", **POD)


def test_an_unknown_gpu_type_is_caught_by_the_sdk_check(client: RunpodClient) -> None:
    with pytest.raises(DeployError, match="no such GPU type"):
        client.create_pod("the vllm pod", **{**POD, "gpu_type_id": "NVIDIA H900"})


def test_a_graphql_error_never_shows_the_mutation_or_its_secrets(client: RunpodClient, fake: FakeRunpod) -> None:
    """A quote pasted into the mutation (what parity.py prevents) is a syntax error from the server."""
    with pytest.raises(DeployError) as refused:
        client.create_pod("the vllm pod", **{**POD, "docker_args": '--api-key engine-secret --x "y"'})
    assert "Runpod refused creating the vllm pod: Syntax Error" in str(refused.value)
    assert "engine-secret" not in str(refused.value) and fake.created == []


def test_a_wrong_key_and_a_dead_api_are_one_line(fake: FakeRunpod, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)
    with pytest.raises(DeployError, match="refused the key in RUNPOD_API_KEY"):
        RunpodClient(Credentials("wrong", None, None)).list_pods()
    monkeypatch.setenv("RUNPOD_API_BASE_URL", "http://127.0.0.1:9")
    with pytest.raises(DeployError, match="cannot reach Runpod's API while listing your pods"):
        RunpodClient(Credentials(FAKE_RUNPOD_KEY, None, None)).list_pods()


def test_pod_info_reads_only_http_ports() -> None:
    pod = PodInfo.from_json({"id": "p", "desiredStatus": "RUNNING", "runtime": {"ports": [
        {"privatePort": 22, "type": "tcp"}, {"privatePort": 8000, "type": "http"}]}})  # fmt: skip
    assert pod.http_ports == (8000,) and pod.serves(8000) and not pod.serves(22)
    assert not PodInfo.from_json({"id": "p", "desiredStatus": "RUNNING", "runtime": None}).serves(8000)
