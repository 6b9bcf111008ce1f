"""The REST v2 client against the fake Runpod: real HTTP, real problem documents, one-line errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deploy.errors import DeployError
from deploy.runpod.client import RETRY_AFTER_MAX_S, NoCapacity, RunpodClient, retry_after_s
from deploy.runpod.credentials import Credentials
from deploy.runpod.resources import PodInfo
from tests.deploy.fake_runpod import CAPACITY_DETAIL, FAKE_RUNPOD_KEY, FakeRunpod, Problem

ROOT = Path(__file__).resolve().parents[3]
BODY = {
    "name": "turnbench-vllm-ab12cd34",
    "image": "vllm/vllm-openai:v0.33.0-cu129",
    "gpu": {"id": "NVIDIA H100 80GB HBM3", "count": 2, "allowedCudaVersions": ["12.9", "13.0"]},
    "cloud": "SECURE",
    "args": "m --port 8000",
    "env": {"HF_HOME": "/workspace/hf", "VLLM_API_KEY": "engine-secret"},
    "ports": ["8000/http"],
    "disk": 50,
    "mounts": {"persistent": {"size": 200, "path": "/workspace"}},
}


@pytest.fixture
def client(fake: FakeRunpod) -> RunpodClient:
    return RunpodClient(Credentials(FAKE_RUNPOD_KEY, "engine-secret", None), base_url=fake.url, backoff_s=0.001)


def test_create_get_list_terminate(client: RunpodClient, fake: FakeRunpod) -> None:
    pod_id = client.create_pod("the vllm pod", BODY)
    assert fake.created == [pod_id] and fake.pod(pod_id).env["HF_HOME"] == "/workspace/hf"
    seen = [client.get_pod(pod_id) for _ in range(3)]
    assert [p.status for p in seen if p] == ["PROVISIONING", "STARTING", "RUNNING"]
    assert [p.serves(8000) for p in seen if p] == [False, False, True]
    running = seen[-1]
    assert running is not None and running.cost_per_hr == 7.98 and running.gpu_count == 2
    assert (running.cloud, running.data_center, running.image) == ("SECURE", "US-TX-3", BODY["image"])
    assert seen[0] is not None and seen[0].cost_per_hr == 0.0  # billed only while running
    # The fake pages by 2: three pods take two pages, and the cursor is followed.
    client.create_pod("the vllm pod", {**BODY, "name": "turnbench-vllm-ab12cd35"})
    names = {p.name for p in client.list_pods()}
    assert names == {"turnbench-vllm-ab12cd34", "turnbench-vllm-ab12cd35", "my-notebook"}
    assert fake.answered("listPods") == [200, 200]
    client.terminate_pod(pod_id)
    assert fake.terminated == [pod_id] and client.get_pod(pod_id) is None
    client.terminate_pod(pod_id)  # already gone (404) is what was asked
    assert fake.answered("deletePod") == [204, 404]


def test_availability_reads_the_catalog_for_that_count_cloud_and_cuda(client: RunpodClient, fake: FakeRunpod) -> None:
    fake.faults.availability = {"COMMUNITY/EU-RO-1": "NONE"}
    stock = client.gpu_availability("NVIDIA H100 80GB HBM3", 2, "COMMUNITY", ("12.9", "13.0"))
    assert fake.catalog_queries[-1] == {"include": "AVAILABILITY", "product": "POD", "count": "2",
                                        "cloud": "COMMUNITY", "cudaVersions": "12.9,13.0"}  # fmt: skip
    assert stock.has_room() and stock.has_room("US-TX-3") and not stock.has_room("EU-RO-1")
    assert stock.usd_per_gpu_hour == 2.69
    fake.faults.availability = {"SECURE": "NONE"}
    none = client.gpu_availability("NVIDIA H100 80GB HBM3", 2, "SECURE")
    assert not none.has_room() and not none.has_room("US-TX-3")
    with pytest.raises(DeployError, match="no such GPU type 'NVIDIA H900'; check --gpu-type"):
        client.gpu_availability("NVIDIA H900", 2, "SECURE")


def test_a_capacity_400_is_told_from_a_rule_400(client: RunpodClient, fake: FakeRunpod) -> None:
    fake.faults.create_errors = {1: Problem(400, CAPACITY_DETAIL), 2: Problem(400, "gpu.count exceeds the host")}
    with pytest.raises(NoCapacity, match=r"no free GPUs while creating the vllm pod .*--cloud/--data-center/--gpu"):
        client.create_pod("the vllm pod", BODY)
    with pytest.raises(DeployError, match=r"^Runpod refused creating the vllm pod: gpu\.count exceeds the host$") as no:
        client.create_pod("the vllm pod", BODY)
    assert not isinstance(no.value, NoCapacity) and fake.created == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [(402, "no balance left on the account"), (403, "refused the key in RUNPOD_API_KEY"),
     (422, "please report this turnbench bug"), (410, "this API version is retired")],
)  # fmt: skip
def test_refusals_are_one_line_each(client: RunpodClient, fake: FakeRunpod, status: int, expected: str) -> None:
    fake.faults.create_errors = {1: Problem(status, "refused by the fake")}
    with pytest.raises(DeployError, match=expected) as refused:
        client.create_pod("the vllm pod", BODY)
    assert "\n" not in str(refused.value) and fake.created == []


def test_an_unknown_field_is_a_422_naming_it_and_never_echoes_a_secret(client: RunpodClient, fake: FakeRunpod) -> None:
    with pytest.raises(DeployError) as refused:
        client.create_pod("the vllm pod", {**BODY, "dockerArgs": "--api-key engine-secret", "cloud": "ALL"})
    message = str(refused.value)
    assert "additional properties 'dockerArgs' not allowed" in message and "$.cloud" in message
    assert "engine-secret" not in message and fake.created == []


def test_a_retired_api_and_a_wrong_key_are_one_line(client: RunpodClient, fake: FakeRunpod) -> None:
    with pytest.raises(DeployError, match="refused the key in RUNPOD_API_KEY while listing your pods"):
        RunpodClient(Credentials("wrong", None, None), base_url=fake.url).list_pods()
    fake.faults.retired = True
    with pytest.raises(DeployError, match=r"retired \(410 Gone\) while listing your pods; update turnbench"):
        client.list_pods()
    assert fake.answered("listPods") == [401, 410]  # never retried


def test_429s_are_waited_out_and_a_storm_ends_in_one_line(client: RunpodClient, fake: FakeRunpod) -> None:
    fake.faults.rate_limited = {"listPods": 3}
    assert {p.name for p in client.list_pods()} == {"my-notebook"}
    assert fake.answered("listPods") == [429, 429, 429, 200]
    fake.faults.rate_limited = {"createPod": 2}
    assert client.create_pod("the vllm pod", BODY) in fake.created and len(fake.created) == 1
    fake.faults.rate_limited = {"getPod": 10**6}
    with pytest.raises(DeployError, match="kept answering 429 Too Many Requests while reading pod x"):
        client.get_pod("x")
    assert fake.answered("getPod") == [429] * 8  # bounded


def test_5xx_on_a_read_or_delete_is_retried(client: RunpodClient, fake: FakeRunpod) -> None:
    pod_id = client.create_pod("the vllm pod", BODY)
    fake.faults.server_errors = {"getPod": 2, "deletePod": 1}
    assert client.get_pod(pod_id) is not None and fake.answered("getPod") == [503, 503, 200]
    client.terminate_pod(pod_id)
    assert fake.answered("deletePod") == [503, 204] and fake.alive() == []
    fake.faults.server_errors = {"listPods": 10**6}
    with pytest.raises(DeployError, match="Runpod answered HTTP 503 5 times while listing your pods"):
        client.list_pods()


def test_a_create_that_failed_is_looked_for_by_name_before_it_is_retried(
    client: RunpodClient, fake: FakeRunpod
) -> None:
    # A 503 from a create that went through: the pod is adopted, never made twice.
    fake.faults.create_errors = {1: Problem(503, "upstream timeout", pod_made=True)}
    pod_id = client.create_pod("the vllm pod", BODY)
    assert fake.created == [pod_id] and fake.answered("createPod") == [503]
    # A 503 that made nothing: looked for, not found, created again.
    fake.faults.server_errors = {"createPod": 1}
    other = client.create_pod("the vllm pod", {**BODY, "name": "turnbench-vllm-ab12cd35"})
    assert fake.created == [pod_id, other] and fake.answered("createPod") == [503, 503, 201]
    fake.faults.server_errors = {"createPod": 10**6}
    with pytest.raises(DeployError, match="Runpod failed 3 times while creating the vllm pod"):
        client.create_pod("the vllm pod", {**BODY, "name": "turnbench-vllm-ab12cd36"})
    assert len(fake.created) == 2


def test_endpoints_and_templates_are_made_listed_and_deleted_and_a_lost_answer_is_found_by_name(
    client: RunpodClient, fake: FakeRunpod
) -> None:
    body = {"name": "turnbench-vllm-ab12cd34", "type": "QUEUE", "image": "runpod/worker-v1-vllm:v2.25.2",
            "gpu": {"pools": ["ADA_80_PRO"], "count": 2}, "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
            "env": {"HF_TOKEN": "hf-secret"}}  # fmt: skip
    fake.faults.endpoint_create_errors = {1: Problem(503, "upstream timeout", pod_made=True)}
    endpoint = client.create_endpoint("the vllm endpoint", body)  # made once, adopted by its name
    assert fake.endpoints_alive() == [endpoint.id] and fake.answered("createEndpoint") == [503]
    assert endpoint.request_urls["run"] == f"{fake.url}/serverless/{endpoint.id}/run"
    assert [e.id for e in client.list_endpoints()] == [endpoint.id]
    template = client.create_template("a template", {"name": "turnbench-vllm-ab12cd34", "image": "i"})
    assert [(t.id, t.name) for t in client.list_templates()] == [(template, "turnbench-vllm-ab12cd34")]
    for _ in range(2):  # the second time, 404: already gone, which is what was asked
        client.delete_endpoint(endpoint.id)
        client.delete_template(template)
    assert fake.endpoints_alive() == [] and fake.templates_alive() == []
    assert fake.answered("deleteEndpoint") == [204, 404] and fake.answered("deleteTemplate") == [204, 404]
    with pytest.raises(DeployError, match=r"^Runpod rejected the request while creating the sglang endpoint \(422"):
        client.create_endpoint("the sglang endpoint", {**body, "workersMax": 3})


def test_a_dead_api_is_one_line() -> None:
    dead = RunpodClient(Credentials(FAKE_RUNPOD_KEY, None, None), base_url="http://127.0.0.1:9", backoff_s=0.001)
    with pytest.raises(DeployError, match="cannot reach Runpod's API while listing your pods"):
        dead.list_pods()


def test_retry_after_in_seconds_or_as_a_date_is_capped() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert retry_after_s("12", now) == 12 and retry_after_s("0.05", now) == 0.05
    assert retry_after_s("Sat, 28 Nov 2026 12:00:30 GMT", now) == 30
    assert retry_after_s("Sat, 28 Nov 2026 11:00:00 GMT", now) == 0  # already past
    assert retry_after_s("86400", now) == RETRY_AFTER_MAX_S
    assert retry_after_s("soon", now) is None and retry_after_s(None, now) is None


def test_pod_info_reads_only_http_ports_and_only_while_running() -> None:
    pod = PodInfo.from_json({"id": "p", "status": "RUNNING", "cost": 3.5, "runtime": {"uptime": 60, "ports": [
        {"private": 22, "type": "tcp"}, {"private": 8000, "type": "http"}]}})  # fmt: skip
    assert pod.http_ports == (8000,) and pod.serves(8000) and not pod.serves(22) and pod.uptime_seconds == 60
    assert not PodInfo.from_json({"id": "p", "status": "RUNNING", "runtime": None}).serves(8000)
    assert not PodInfo.from_json({"id": "p", "status": "STARTING", "runtime": {"ports": [
        {"private": 8000, "type": "http"}]}}).serves(8000)  # fmt: skip


def test_deploy_imports_no_graphql_and_no_runpod_sdk() -> None:
    """GraphQL retires early 2027 (REST v1 already has): deploy/ may only mention it to say so."""
    importing = re.compile(r"^\s*(import|from)\s+(runpod|gql|graphql)\b", re.MULTILINE)
    for path in sorted((ROOT / "deploy").rglob("*.py")):
        text = path.read_text()
        assert not importing.search(text), f"{path} imports the runpod SDK or a GraphQL library"
        for number, line in enumerate(text.splitlines(), 1):
            if "graphql" in line.lower():
                assert "retire" in line.lower(), f"{path}:{number} mentions GraphQL: {line.strip()}"
