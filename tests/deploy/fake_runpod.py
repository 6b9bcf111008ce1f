"""A local fake of Runpod's REST v2 API and of its pod proxy, on 127.0.0.1, for deploy's tests.

It follows runpod/docs `api-reference-v2/openapi.json`: bearer auth (401), `POST/GET/DELETE /v2/pods`
(the list cursor-paged, see deploy/runpod/client.py), `GET /v2/catalog/gpus` with availability,
and minimal `/v2/serverless` and `/v2/templates`; errors are RFC 9457 problem documents, a create
body with an unknown field is a 422 as on the real API. A pod goes PROVISIONING -> STARTING ->
RUNNING over its polls and has `runtime` (ports, uptime) and a `cost` only while RUNNING.
`/proxy/{pod_id}-{port}/...` plays the pod's HTTP proxy: /health, /version (vLLM) and
/get_server_info (SGLang); given `emulators` (engine -> an emulator's base URL), it forwards every
other path to the pod's engine, streams as they are written (tests/deploy/fake_proxy.py). Point
the client at it with RUNPOD_API_BASE_URL.

Every call lands in a ledger (pods created and terminated, endpoints and templates made and
deleted, each answer's status), and `faults` injects what a real deployment meets: no capacity
(the catalog saying none, or a 400 from the create), a refused create, 402, 429 storms, 5xx on any
call, a slow create, a create that lands after the client gave up, a pod that exits or errors,
an endpoint create refused or answered late.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.deploy.fake_proxy import forward
from tests.deploy.fake_runpod_rules import check_create_pod, check_endpoint, check_template, problem

FAKE_RUNPOD_KEY = "rpa-fake-key-0123-4567-89ab-SECRET"
CAPACITY_DETAIL = "There are no longer any instances available with the requested specifications."
GPU_TYPES = {"NVIDIA H100 80GB HBM3": ("H100 SXM", "ADA_80_PRO", 3.99, 2.69),
             "NVIDIA A100-SXM4-80GB": ("A100 SXM", "AMPERE_80", 1.79, 1.39)}  # fmt: skip
DATA_CENTERS = ("US-TX-3", "EU-RO-1", "US-KS-2")
ENGINE_VERSIONS = {"vllm": "0.33.0", "sglang": "0.5.23"}


@dataclass
class Problem:
    """An injected error answer: status and detail; `pod_made` for a create that made the pod anyway."""

    status: int
    detail: str
    pod_made: bool = False


@dataclass
class Faults:
    create_errors: dict[int, Problem] = field(default_factory=dict)  # nth create (1-based) -> its answer
    # Catalog stock by "CLOUD" or "CLOUD/DATA-CENTRE": NONE, LOW, MEDIUM or HIGH (default HIGH).
    availability: dict[str, str] = field(default_factory=dict)
    create_delay_s: float = 0.0  # the pod exists at once; the answer comes this much later
    create_lands_after_s: float = 0.0  # the pod appears (and the answer comes) this long after the request
    running_after_polls: int | None = 2  # polls of GET /v2/pods/{id} before RUNNING; None = never
    ports_routed: bool = True  # False: RUNNING, but runtime.ports never holds the engine's port
    stops_after_polls: int | None = None  # then the pod goes to `stop_status`
    stop_status: str = "EXITED"
    health_after_probes: int | None = 1  # /health probes answered 502 first; None = never ready
    cost_per_hr: float = 7.98  # `cost` while RUNNING; 0 = Runpod gave no price
    server_errors: dict[str, int] = field(default_factory=dict)  # operationId -> that many 503s to come
    rate_limited: dict[str, int] = field(default_factory=dict)  # operationId -> that many 429s to come
    retry_after: str = "0.01"  # the 429s' Retry-After
    retired: bool = False  # every /v2 call answers 410 Gone, as a retired API does
    page_size: int = 2  # GET /v2/pods pages; small, so that every list follows the cursor
    # Serverless: the nth endpoint create (1-based) -> its answer (`pod_made`: the endpoint is made anyway),
    # and how much later than the endpoint exists its create answers.
    endpoint_create_errors: dict[int, Problem] = field(default_factory=dict)
    endpoint_create_delay_s: float = 0.0


@dataclass
class FakePod:
    id: str
    body: dict[str, Any]  # the create body as sent
    created_at: float = field(default_factory=time.monotonic)
    polls: int = 0
    probes: int = 0
    terminated: bool = False
    uptime_offset_s: float = 0.0
    running_since: float | None = None

    @property
    def name(self) -> str:
        return str(self.body["name"])

    @name.setter
    def name(self, value: str) -> None:
        self.body["name"] = value

    @property
    def engine(self) -> str:
        return "sglang" if "sglang" in self.body.get("image", "") else "vllm"

    @property
    def env(self) -> dict[str, str]:
        return dict(self.body.get("env") or {})

    def status(self, faults: Faults) -> str:
        if self.terminated:
            return "TERMINATED"
        if faults.stops_after_polls is not None and self.polls > faults.stops_after_polls:
            return faults.stop_status
        if faults.running_after_polls is None or self.polls <= faults.running_after_polls:
            return "PROVISIONING" if self.polls <= 1 else "STARTING"
        return "RUNNING"

    def to_json(self, faults: Faults) -> dict[str, Any]:
        """The pod object of openapi.json; `env` and `args` are echoed as the real API does."""
        status = self.status(faults)
        running = status == "RUNNING"
        if running and self.running_since is None:
            self.running_since = time.monotonic()
        ports = [{"private": 8000, "public": None, "type": "http", "ip": None}] if faults.ports_routed else []
        uptime = int(time.monotonic() - (self.running_since or 0) + self.uptime_offset_s) if running else 0
        gpu = self.body.get("gpu") or {}
        return {
            "id": self.id, "name": self.name, "status": status,
            "actions": ["stop", "restart", "terminate"] if running else ["terminate"],
            "image": self.body.get("image", ""), "args": self.body.get("args", ""),
            "disk": self.body.get("disk", 10), "mounts": self.body.get("mounts", {}),
            "ports": self.body.get("ports", []), "env": self.env, "registry": None,
            "gpu": {"id": gpu.get("id"), "count": gpu.get("count", 1)},
            "cloud": self.body.get("cloud", "SECURE"),
            "dataCenterId": (self.body.get("dataCenterIds") or [DATA_CENTERS[0]])[0],
            "cudaVersion": "12.9", "ssh": {"proxy": None, "direct": None}, "template": None,
            "cost": faults.cost_per_hr if running else 0.0, "locked": False,
            "globalNetworking": {"enabled": False},
            "runtime": {"uptime": uptime, "ports": ports} if running else None,
            "createdAt": "2026-11-28T12:00:00Z", "startedAt": "2026-11-28T12:01:00Z" if running else None,
        }  # fmt: skip


class FakeRunpod:
    def __init__(self, api_key: str = FAKE_RUNPOD_KEY) -> None:
        self.api_key = api_key
        self.faults = Faults()
        self.pods: dict[str, FakePod] = {}
        self.created: list[str] = []
        self.terminated: list[str] = []
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.endpoints_deleted: list[str] = []
        self.templates: dict[str, dict[str, Any]] = {}
        self.templates_deleted: list[str] = []
        self.answers: list[tuple[str, int]] = []  # (operationId, status) of every /v2 call
        self.catalog_queries: list[dict[str, str]] = []
        self.create_requests = 0
        self.health_auth: list[str | None] = []
        self.emulators: dict[str, str] = {}  # engine -> base URL the proxy forwards to; empty: it forwards nothing
        self.forwarded: list[tuple[str, str, str | None]] = []  # (pod id, path, Authorization) of each forward
        self.lock = threading.Lock()
        self._creates = 0
        self._endpoint_creates = 0
        self._ids = 0
        self.url = ""
        # Somebody else's pod in the same account: deploy must never touch it.
        self.pods["userpod0001"] = FakePod("userpod0001", {
            "name": "my-notebook", "image": "runpod/pytorch", "gpu": {"id": "NVIDIA A100-SXM4-80GB", "count": 1},
            "cloud": "SECURE", "env": {"JUPYTER_PASSWORD": "not-ours"}, "ports": ["8888/http"]})  # fmt: skip

    # ---- the ledger, as tests read it
    def alive(self) -> list[str]:
        """turnbench-created pods that were never terminated."""
        return [pod_id for pod_id in self.created if pod_id not in self.terminated]

    def endpoints_alive(self) -> list[str]:
        return [i for i in self.endpoints if i not in self.endpoints_deleted]

    def templates_alive(self) -> list[str]:
        return [i for i in self.templates if i not in self.templates_deleted]

    def pod(self, pod_id: str) -> FakePod:
        return self.pods[pod_id]

    def answered(self, operation: str) -> list[int]:
        return [status for op, status in self.answers if op == operation]

    def proxy_template(self) -> str:
        return f"{self.url}/proxy/{{pod_id}}-{{port}}"

    # ---- REST v2
    def handle(self, method: str, url: str, authorization: str | None, body: Any) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body or None, headers) for one /v2 call."""
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        operation, resource_id = _route(method, parts.path)
        status, answer, headers = self._answer(operation, resource_id, query, authorization, body)
        with self.lock:
            self.answers.append((operation, status))
        return status, answer, headers

    def _answer(
        self, operation: str, resource_id: str, query: dict[str, str], authorization: str | None, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if operation == "unknown":
            return *problem(404, "no such route"), {}
        if authorization != f"Bearer {self.api_key}":
            return *problem(401, "missing bearer token" if not authorization else "invalid API key"), {}
        with self.lock:
            if self.faults.retired:
                return *problem(410, "API v2 is retired"), {}
            if self.faults.rate_limited.get(operation, 0) > 0:
                self.faults.rate_limited[operation] -= 1
                limited = problem(429, "rate limit exceeded for the minute window")
                return *limited, {"Retry-After": self.faults.retry_after}
            if self.faults.server_errors.get(operation, 0) > 0:
                self.faults.server_errors[operation] -= 1
                return *problem(503, "upstream unavailable"), {}
        if operation == "createPod":
            return *self._create_pod(body), {}
        if operation == "createEndpoint":
            return *self._create_endpoint(body), {}
        with self.lock:
            return *self._read_or_delete(operation, resource_id, query, body), {}

    def _create_pod(self, body: Any) -> tuple[int, Any]:
        with self.lock:
            self.create_requests += 1
        time.sleep(self.faults.create_lands_after_s)  # the client may be gone by now; the pod lands anyway
        with self.lock:
            refused = check_create_pod(body, GPU_TYPES)
            if refused is not None:
                return refused
            self._creates += 1
            fault = self.faults.create_errors.get(self._creates)
            if fault is not None and not fault.pod_made:
                return problem(fault.status, fault.detail)
            pod = FakePod(f"fakepod{len(self.created) + 1:04d}x", dict(body))
            self.pods[pod.id] = pod
            self.created.append(pod.id)
            answer = pod.to_json(self.faults)
        time.sleep(self.faults.create_delay_s)
        return problem(fault.status, fault.detail) if fault is not None else (201, answer)

    def _create_endpoint(self, body: Any) -> tuple[int, Any]:
        with self.lock:
            refused = check_endpoint(body)
            if refused is not None:
                return refused
            self._endpoint_creates += 1
            fault = self.faults.endpoint_create_errors.get(self._endpoint_creates)
            if fault is not None and not fault.pod_made:
                return problem(fault.status, fault.detail)
            self._ids += 1
            endpoint_id = f"fakeend{self._ids:04d}"
            self.endpoints[endpoint_id] = _endpoint(endpoint_id, body, self.url)
            answer = self.endpoints[endpoint_id]
        time.sleep(self.faults.endpoint_create_delay_s)  # the client may be gone by now; the endpoint stays
        return problem(fault.status, fault.detail) if fault is not None else (201, answer)

    def _read_or_delete(self, operation: str, resource_id: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        live = [p for p in self.pods.values() if not p.terminated]
        if operation == "listPods":
            start = int(query.get("cursor", "0") or 0)
            page = live[start : start + self.faults.page_size]
            answer: dict[str, Any] = {"pods": [p.to_json(self.faults) for p in page]}
            if start + self.faults.page_size < len(live):
                answer["nextCursor"] = str(start + self.faults.page_size)
            return 200, answer
        pod = self.pods.get(resource_id)
        if operation == "getPod":
            if pod is None or pod.terminated:
                return problem(404, "pod not found")
            pod.polls += 1
            return 200, pod.to_json(self.faults)
        if operation == "deletePod":
            if pod is None or pod.terminated:
                return problem(404, "pod not found")
            pod.terminated = True
            self.terminated.append(pod.id)
            return 204, None
        if operation == "listGpuTypes":
            return self._gpu_types(query)
        return self._serverless_or_template(operation, resource_id, body)

    def _gpu_types(self, query: dict[str, str]) -> tuple[int, Any]:
        self.catalog_queries.append(query)
        with_stock = query.get("include") == "AVAILABILITY"
        if with_stock and query.get("product") != "POD":
            return problem(400, "product is required with include=AVAILABILITY")
        cloud = query.get("cloud", "SECURE")
        gpus = []
        for gpu_id, (name, pool, secure, community) in GPU_TYPES.items():
            gpu: dict[str, Any] = {
                "id": gpu_id, "name": name, "pool": pool, "manufacturer": "NVIDIA", "memory": 80,
                "secure": True, "community": True, "price": {"secure": secure, "community": community},
                "maxCount": {"secure": 8, "community": 8},
            }  # fmt: skip
            if with_stock:
                levels = {dc: self.faults.availability.get(f"{cloud}/{dc}", "HIGH") for dc in DATA_CENTERS}
                gpu["availability"] = self.faults.availability.get(cloud, "HIGH")
                offered = [{"id": dc, "name": dc, "availability": lvl} for dc, lvl in levels.items() if lvl != "NONE"]
                if gpu["availability"] != "NONE" and offered:  # omitted when unavailable everywhere
                    gpu["dataCenters"] = offered
            gpus.append(gpu)
        return 200, {"gpus": gpus}

    def _serverless_or_template(self, operation: str, resource_id: str, body: Any) -> tuple[int, Any]:
        """Minimal /v2/serverless and /v2/templates: create, list, get, delete, each kept in the ledger."""
        kind = "endpoint" if operation.endswith("Endpoint") or operation == "listEndpoints" else "template"
        store, deleted = (self.endpoints, self.endpoints_deleted) if kind == "endpoint" else \
            (self.templates, self.templates_deleted)  # fmt: skip
        live = {i: v for i, v in store.items() if i not in deleted}
        if operation in ("listEndpoints", "listTemplates"):
            return 200, {"endpoints" if kind == "endpoint" else "templates": list(live.values())}
        if operation == "createTemplate":  # createEndpoint is _create_endpoint, with its faults
            refused = check_template(body)
            if refused is not None:
                return refused
            self._ids += 1
            new_id = f"faketem{self._ids:04d}"
            store[new_id] = _template(new_id, body, self.url)
            return 201, store[new_id]
        if resource_id not in live:
            return problem(404, f"{kind} not found")
        if operation.startswith("get"):
            return 200, live[resource_id]
        deleted.append(resource_id)
        return 204, None

    # ---- the pod proxy
    def proxy(self, path: str, authorization: str | None) -> tuple[int, bytes] | str:
        """The proxy's answer, or the URL to forward the request to (a path the fake does not answer)."""
        match = re.match(r"^/proxy/(?P<pod>[^/]+)-(?P<port>\d+)(?P<rest>/.*)$", path)
        if match is None:
            return 404, b"not found"
        with self.lock:
            pod = self.pods.get(match["pod"])
            if pod is None or pod.terminated or match["port"] != "8000":
                return 404, b"no such pod"
            if match["rest"] == "/health":
                self.health_auth.append(authorization)
                pod.probes += 1
                ready = self.faults.health_after_probes is not None and pod.probes > self.faults.health_after_probes
                return (200, b"") if ready else (502, b"Bad Gateway")
            if match["rest"] in ("/version", "/get_server_info"):
                return 200, json.dumps({"version": ENGINE_VERSIONS[pod.engine]}).encode()
            if pod.engine in self.emulators:
                self.forwarded.append((pod.id, match["rest"], authorization))
                return self.emulators[pod.engine] + match["rest"]
        return 404, b'{"detail":"Not Found"}'


ROUTES = [  # (method, path pattern, operationId), as openapi.json names them
    ("GET", r"/v2/pods", "listPods"), ("POST", r"/v2/pods", "createPod"),
    ("GET", r"/v2/pods/(?P<id>[^/]+)", "getPod"), ("DELETE", r"/v2/pods/(?P<id>[^/]+)", "deletePod"),
    ("GET", r"/v2/catalog/gpus", "listGpuTypes"),
    ("GET", r"/v2/serverless", "listEndpoints"), ("POST", r"/v2/serverless", "createEndpoint"),
    ("GET", r"/v2/serverless/(?P<id>[^/]+)", "getEndpoint"),
    ("DELETE", r"/v2/serverless/(?P<id>[^/]+)", "deleteEndpoint"),
    ("GET", r"/v2/templates", "listTemplates"), ("POST", r"/v2/templates", "createTemplate"),
    ("GET", r"/v2/templates/(?P<id>[^/]+)", "getTemplate"),
    ("DELETE", r"/v2/templates/(?P<id>[^/]+)", "deleteTemplate"),
]  # fmt: skip


def _route(method: str, path: str) -> tuple[str, str]:
    for route_method, pattern, operation in ROUTES:
        match = re.fullmatch(pattern, path)
        if match is not None and route_method == method:
            return operation, match.groupdict().get("id") or ""
    return "unknown", ""


def _endpoint(endpoint_id: str, body: dict[str, Any], base: str) -> dict[str, Any]:
    urls = {k: f"{base}/serverless/{endpoint_id}/{path}" for k, path in (
        ("run", "run"), ("runSync", "runsync"), ("status", "status/{job_id}"), ("stream", "stream/{job_id}"),
        ("cancel", "cancel/{job_id}"), ("retry", "retry/{job_id}"), ("purgeQueue", "purge-queue"),
        ("health", "health"))}  # fmt: skip
    workers = {"min": 0, "max": 3, "idleTimeout": 10, **(body.get("workers") or {})}
    gpu = {"count": 1, "allowedCudaVersions": [], "minCudaVersion": None, **(body.get("gpu") or {})}
    return {"id": endpoint_id, "name": body["name"], "type": body["type"], "requestUrls": urls,
            "image": body.get("image", ""), "args": body.get("args", ""), "disk": body.get("disk", 20),
            "ports": body.get("ports", []), "env": body.get("env", {}), "registry": None, "gpu": gpu,
            "workers": workers, "scaling": body["scaling"], "dataCenterIds": body.get("dataCenterIds", []),
            "networkVolumes": body.get("networkVolumes", []), "timeout": body.get("timeout", 300000),
            "flashboot": body.get("flashboot", "OFF"), "createdAt": "2026-11-28T12:00:00Z"}  # fmt: skip


def _template(template_id: str, body: dict[str, Any], base: str) -> dict[str, Any]:
    return {"id": template_id, "name": body["name"], "image": body["image"], "args": body.get("args", ""),
            "disk": body.get("disk", 10), "mounts": body.get("mounts", {}), "ports": body.get("ports", []),
            "env": body.get("env", {}), "registry": None, "serverless": body.get("serverless", False),
            "public": body.get("public", False), "category": body.get("category", "NVIDIA"),
            "startSsh": body.get("startSsh", True), "startJupyter": body.get("startJupyter", True),
            "allowedCudaVersions": body.get("allowedCudaVersions", [])}  # fmt: skip


@contextmanager
def running_fake_runpod(api_key: str = FAKE_RUNPOD_KEY) -> Iterator[FakeRunpod]:
    fake = FakeRunpod(api_key)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/proxy/"):
                self._proxy()
            else:
                self._api("GET")

        def do_POST(self) -> None:
            if self.path.startswith("/proxy/"):  # a chat turn or a cache flush, through the pod's proxy
                self._proxy()
            else:
                self._api("POST")

        def _proxy(self) -> None:
            answer = fake.proxy(self.path, self.headers.get("Authorization"))
            if isinstance(answer, str):
                forward(self, answer)
            else:
                self._send(*answer, {})

        def do_DELETE(self) -> None:
            self._api("DELETE")

        def _api(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                self._send(*_encoded(problem(400, "request body is not JSON")), {})
                return
            status, answer, headers = fake.handle(method, self.path, self.headers.get("Authorization"), body)
            self._send(*_encoded((status, answer)), headers)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                kind = "application/problem+json" if status >= 400 and body.startswith(b"{") else "application/json"
                self.send_header("Content-Type", kind)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (Ctrl-C mid-create)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll makes shutdown (once per test) take milliseconds instead of half a second.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def _encoded(answer: tuple[int, Any]) -> tuple[int, bytes]:
    status, body = answer
    return status, b"" if body is None else json.dumps(body).encode()
