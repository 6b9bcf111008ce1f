"""The fake Runpod itself: what it answers must match openapi.json, or the other tests prove nothing."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.deploy.fake_runpod import FAKE_RUNPOD_KEY, FakeRunpod

AUTH = {"Authorization": f"Bearer {FAKE_RUNPOD_KEY}"}
ENDPOINT = {"name": "turnbench-vllm-sls", "type": "QUEUE", "image": "runpod/worker-v1-vllm:v2.14.0",
            "gpu": {"pools": ["ADA_80_PRO"], "count": 2}, "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
            "workers": {"min": 0, "max": 1}, "env": {"MODEL_NAME": "m"}}  # fmt: skip
TEMPLATE = {"name": "turnbench-vllm", "image": "vllm/vllm-openai:v0.33.0-cu129", "serverless": True}


def call(fake: FakeRunpod, method: str, path: str, body: Any = None, headers: dict | None = None) -> requests.Response:
    return requests.request(method, fake.url + path, json=body, headers=AUTH if headers is None else headers, timeout=5)


def test_every_call_needs_the_bearer_key_and_errors_are_problem_documents(fake: FakeRunpod) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = call(fake, "GET", "/v2/pods", headers=headers)
        assert refused.status_code == 401 and refused.headers["Content-Type"] == "application/problem+json"
        assert set(refused.json()) == {"title", "status", "detail"} and refused.json()["status"] == 401
    missing = call(fake, "GET", "/v2/pods/nosuchpod")
    assert missing.status_code == 404 and missing.json()["title"] == "Not Found"


@pytest.mark.parametrize(
    ("path", "body", "kind", "key"),
    [("/v2/serverless", ENDPOINT, "endpoint", "endpoints"), ("/v2/templates", TEMPLATE, "template", "templates")],
)
def test_serverless_endpoints_and_templates_are_made_listed_and_deleted(
    fake: FakeRunpod, path: str, body: dict, kind: str, key: str
) -> None:
    made = call(fake, "POST", path, body)
    assert made.status_code == 201, made.text
    item = made.json()
    assert item["name"] == body["name"] and item["env"] == body.get("env", {})
    assert call(fake, "GET", path).json() == {key: [item]}
    assert call(fake, "GET", f"{path}/{item['id']}").json() == item
    alive = fake.endpoints_alive if kind == "endpoint" else fake.templates_alive
    assert alive() == [item["id"]]
    assert call(fake, "DELETE", f"{path}/{item['id']}").status_code == 204
    assert alive() == [] and call(fake, "DELETE", f"{path}/{item['id']}").status_code == 404
    assert call(fake, "GET", path).json() == {key: []}


def test_an_endpoint_reads_like_openapi_says(fake: FakeRunpod) -> None:
    endpoint = call(fake, "POST", "/v2/serverless", ENDPOINT).json()
    assert endpoint["workers"] == {"min": 0, "max": 1, "idleTimeout": 10}  # the documented defaults filled in
    assert endpoint["gpu"] == {"pools": ["ADA_80_PRO"], "count": 2, "allowedCudaVersions": [], "minCudaVersion": None}
    assert set(endpoint["requestUrls"]) == {"run", "runSync", "status", "stream", "cancel", "retry", "purgeQueue",
                                            "health"}  # fmt: skip
    assert (endpoint["timeout"], endpoint["flashboot"]) == (300000, "OFF")
    template = call(fake, "POST", "/v2/templates", TEMPLATE).json()
    assert (template["startSsh"], template["startJupyter"], template["category"]) == (True, True, "NVIDIA")


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [("/v2/serverless", {**ENDPOINT, "workersMax": 3}, "additional properties 'workersMax' not allowed"),
     ("/v2/serverless", {k: v for k, v in ENDPOINT.items() if k != "scaling"}, "$.scaling: required"),
     ("/v2/templates", {"name": "x"}, "$.image: required"),
     ("/v2/pods", {"name": "p", "image": "i", "gpu": {"id": "NVIDIA H100 80GB HBM3"}, "cloud": "ALL"}, "$.cloud"),
     ("/v2/pods", {"name": "p", "image": "i", "gpuTypeIds": ["x"]}, "'gpuTypeIds' not allowed")],
)  # fmt: skip
def test_bodies_that_break_the_schema_are_422_naming_the_field(
    fake: FakeRunpod, path: str, body: dict, error: str
) -> None:
    refused = call(fake, "POST", path, body)
    assert refused.status_code == 422 and any(error in e for e in refused.json()["errors"]), refused.text
    assert fake.created == [] and fake.endpoints_alive() == [] and fake.templates_alive() == []


def test_a_pod_has_runtime_and_cost_only_while_running(fake: FakeRunpod) -> None:
    body = {"name": "p", "image": "i", "gpu": {"id": "NVIDIA H100 80GB HBM3", "count": 2}}
    pod = call(fake, "POST", "/v2/pods", body).json()
    assert (pod["status"], pod["runtime"], pod["cost"]) == ("PROVISIONING", None, 0.0)
    seen = [call(fake, "GET", f"/v2/pods/{pod['id']}").json() for _ in range(3)]
    assert [p["status"] for p in seen] == ["PROVISIONING", "STARTING", "RUNNING"]
    assert seen[-1]["runtime"]["ports"] == [{"private": 8000, "public": None, "type": "http", "ip": None}]
    assert seen[-1]["cost"] == 7.98 and "desiredStatus" not in seen[-1] and "costPerHr" not in seen[-1]
