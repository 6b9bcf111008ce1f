"""Readiness: RUNNING with a routed port, then /health 200 through the proxy (fake, on 127.0.0.1)."""

from __future__ import annotations

import pytest

from deploy.errors import DeployError
from deploy.runpod.client import RunpodClient
from deploy.runpod.credentials import Credentials
from deploy.runpod.readiness import ProxyUrls, probe, read_version, wait_until_ready
from tests.deploy.fake_runpod import FAKE_RUNPOD_KEY, FakeRunpod

POD = {"name": "turnbench-sglang-ab12cd34", "image": "lmsysorg/sglang:v0.5.23-cu129",
       "gpu": {"id": "NVIDIA H100 80GB HBM3", "count": 2}, "cloud": "SECURE", "ports": ["8000/http"]}  # fmt: skip


@pytest.fixture
def client(fake: FakeRunpod) -> RunpodClient:
    return RunpodClient(Credentials(FAKE_RUNPOD_KEY, None, None), base_url=fake.url, backoff_s=0.001)


def test_waits_through_provisioning_starting_and_502_then_returns_the_pod(
    client: RunpodClient, fake: FakeRunpod
) -> None:
    fake.faults.health_after_probes = 2
    pod_id = client.create_pod("the sglang pod", POD)
    lines: list[str] = []
    pods = wait_until_ready(client, {"sglang": pod_id}, ProxyUrls(fake.proxy_template()), 8000, None, 10, 0.01,
                            lines.append)  # fmt: skip
    assert pods["sglang"].id == pod_id and pods["sglang"].cost_per_hr == 7.98
    assert [line.split("] ", 1)[1] for line in lines] == [
        f"sglang pod {pod_id}: provisioning, port 8000 not routed yet",
        f"sglang pod {pod_id}: starting, port 8000 not routed yet",
        f"sglang pod {pod_id}: running, engine loading (/health: HTTP 502)",
        f"sglang pod {pod_id}: ready (/health 200)",
    ]


def test_running_is_not_enough_without_the_port_in_runtime(client: RunpodClient, fake: FakeRunpod) -> None:
    fake.faults.ports_routed = False
    pod_id = client.create_pod("the sglang pod", POD)
    with pytest.raises(DeployError, match=r"sglang: running, port 8000 not routed yet"):
        wait_until_ready(client, {"sglang": pod_id}, ProxyUrls(fake.proxy_template()), 8000, None, 0.3, 0.02, print)
    assert fake.health_auth == []  # never probed


def test_a_few_failed_status_calls_do_not_end_a_long_wait(client: RunpodClient, fake: FakeRunpod) -> None:
    pod_id = client.create_pod("the sglang pod", POD)
    fake.faults.server_errors = {"getPod": 3 * 5}  # three calls, each failing all 5 of its attempts
    lines: list[str] = []
    proxy = ProxyUrls(fake.proxy_template())
    assert (
        wait_until_ready(client, {"sglang": pod_id}, proxy, 8000, None, 10, 0.01, lines.append)["sglang"].id == pod_id
    )
    assert "Runpod did not answer (3 in a row)" in "".join(lines)
    fake.faults.server_errors = {"getPod": 10**6}
    other = client.create_pod("the sglang pod", {**POD, "name": "turnbench-sglang-ab12cd35"})
    with pytest.raises(DeployError, match="Runpod answered HTTP 503 5 times while reading pod"):
        wait_until_ready(client, {"sglang": other}, proxy, 8000, None, 10, 0.01, lines.append)


@pytest.mark.parametrize("status", ["EXITED", "ERROR"])
def test_a_pod_that_exits_or_errors_is_not_waited_for(client: RunpodClient, fake: FakeRunpod, status: str) -> None:
    fake.faults.stops_after_polls, fake.faults.stop_status = 1, status
    pod_id = client.create_pod("the sglang pod", POD)
    with pytest.raises(DeployError, match=f"stopped \\({status}\\) before it served; its log in the Runpod console"):
        wait_until_ready(client, {"sglang": pod_id}, ProxyUrls(fake.proxy_template()), 8000, None, 10, 0.01, print)


def test_a_pod_that_disappears_is_not_waited_for(client: RunpodClient, fake: FakeRunpod) -> None:
    pod_id = client.create_pod("the sglang pod", POD)
    client.terminate_pod(pod_id)
    with pytest.raises(DeployError, match="stopped \\(gone\\) before it served"):
        wait_until_ready(client, {"sglang": pod_id}, ProxyUrls(fake.proxy_template()), 8000, None, 10, 0.01, print)


def test_the_timeout_names_what_each_engine_was_waiting_for(client: RunpodClient, fake: FakeRunpod) -> None:
    fake.faults.health_after_probes = None
    pod_id = client.create_pod("the sglang pod", POD)
    with pytest.raises(DeployError, match=r"not ready after .*sglang: running, engine loading \(/health: HTTP 502\)"):
        wait_until_ready(client, {"sglang": pod_id}, ProxyUrls(fake.proxy_template()), 8000, None, 0.3, 0.05, print)


def test_probe_statuses(fake: FakeRunpod) -> None:
    assert probe(f"{fake.url}/proxy/nosuchpod-8000/health", None) == (False, "HTTP 404")
    assert probe("http://127.0.0.1:9/health", None) == (False, "no answer")


def test_a_refused_engine_key_is_an_error_not_a_wait() -> None:
    import http.server
    import threading

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DeployError, match="refuses TURNBENCH_ENGINE_API_KEY"):
            probe(f"http://127.0.0.1:{server.server_address[1]}/health", "wrong")
    finally:
        server.shutdown()
        server.server_close()


def test_versions_are_read_in_each_engines_dialect(client: RunpodClient, fake: FakeRunpod) -> None:
    pod_id = client.create_pod("the sglang pod", POD)
    base = ProxyUrls(fake.proxy_template()).base(pod_id, 8000)
    assert read_version("sglang", base, None) == "0.5.23"
    assert read_version("vllm", "http://127.0.0.1:9", None) == "unknown"


def test_proxy_urls() -> None:
    assert ProxyUrls().base("abc123", 8000) == "https://abc123-8000.proxy.runpod.net"
    with pytest.raises(DeployError, match="must contain"):
        ProxyUrls("http://127.0.0.1:1/")
    with pytest.raises(DeployError, match="only"):
        ProxyUrls("http://{host}/{pod_id}")
