"""A local fake of Runpod's GraphQL API and of its pod proxy, on 127.0.0.1, for deploy's tests.

It answers the calls the runpod SDK (1.12.0) makes for deploy: `gpuTypes` (create_pod checks the
GPU id first), `podFindAndDeployOnDemand`, `pod(input: {podId})`, `myself { pods }` and
`podTerminate`, with the SDK's response shapes; it parses each mutation's input like a GraphQL
server would, so a quote pasted into `dockerArgs` is a syntax error here too. Point the SDK at it
with RUNPOD_API_BASE_URL (read on every call). `/proxy/{pod_id}-{port}/...` plays the pod's HTTP
proxy: /health, /version (vLLM) and /get_server_info (SGLang).

Every call lands in a ledger (pods created, pods terminated), and `faults` injects the failures a
real deployment meets: a refused create, no capacity, a pod that never gets ports, an engine
that never answers /health, a slow create.
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

FAKE_RUNPOD_KEY = "rpa-fake-key-0123-4567-89ab-SECRET"
CAPACITY_ERROR = (
    "There are no longer any instances available with the requested specifications. Please refresh and try again."
)
GPU_TYPES = {"NVIDIA H100 80GB HBM3": "H100 SXM", "NVIDIA A100-SXM4-80GB": "A100 SXM"}
ENGINE_VERSIONS = {"vllm": "0.33.0", "sglang": "0.5.23"}


@dataclass
class Faults:
    create_errors: dict[int, str] = field(default_factory=dict)  # nth create (1-based) -> GraphQL error
    create_delay_s: float = 0.0  # the pod exists at once; the answer comes this much later
    ports_after_polls: int | None = 1  # get_pod calls before the runtime has ports; None = never
    health_after_probes: int | None = 1  # /health probes answered 502 first; None = never ready
    cost_per_hr: float | None = 7.98
    pod_query_errors: int = 0  # the first n `pod(...)` queries fail, as the API sometimes does


@dataclass
class FakePod:
    id: str
    name: str
    image: str
    gpu_type: str
    gpu_count: int
    cloud: str
    docker_args: str
    env: dict[str, str]
    ports: str
    volume_mount_path: str
    volume_gb: int
    container_disk_gb: int
    allowed_cuda: list[str]
    created_at: float = field(default_factory=time.monotonic)
    polls: int = 0
    probes: int = 0
    terminated: bool = False
    uptime_offset_s: float = 0.0

    @property
    def engine(self) -> str:
        return "sglang" if "sglang" in self.image else "vllm"

    def to_json(self, faults: Faults) -> dict[str, Any]:
        running = faults.ports_after_polls is not None and self.polls > faults.ports_after_polls
        port = {"ip": "100.65.0.2", "isIpPublic": False, "privatePort": 8000, "publicPort": 60000, "type": "http"}
        return {
            "id": self.id,
            "name": self.name,
            "containerDiskInGb": self.container_disk_gb,
            "costPerHr": faults.cost_per_hr,
            "desiredStatus": "TERMINATED" if self.terminated else "RUNNING",
            "dockerArgs": self.docker_args,
            "env": [f"{k}={v}" for k, v in self.env.items()],
            "gpuCount": self.gpu_count,
            "imageName": self.image,
            "uptimeSeconds": int(time.monotonic() - self.created_at + self.uptime_offset_s),
            "volumeInGb": self.volume_gb,
            "volumeMountPath": self.volume_mount_path,
            "runtime": {"ports": [port]} if running else None,
            "machine": {"gpuDisplayName": GPU_TYPES.get(self.gpu_type, "?")},
        }


class GraphQLSyntaxError(ValueError):
    pass


_TOKEN = re.compile(
    r'\s*(?:(?P<str>"[^"\\\n]*")|(?P<word>[A-Za-z_]\w*)|(?P<num>-?\d+(?:\.\d+)?)|(?P<punct>[{}\[\]:,()]))'
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise GraphQLSyntaxError(f"Syntax Error: Unexpected character at {pos}: {text[pos : pos + 10]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match[kind]))
        pos = match.end()
    return out


def parse_input(mutation: str, operation: str) -> dict[str, Any]:
    """The `input: {...}` object of `operation(...)`, parsed strictly (no escapes, as the SDK sends none)."""
    found = re.search(rf"\b{operation}\s*\(", mutation)
    if found is None:
        raise GraphQLSyntaxError(f"Syntax Error: no {operation}(...)")
    tokens = _tokens(mutation[found.start() + len(operation) :])
    position = 0

    def expect(value: str) -> None:
        nonlocal position
        if position >= len(tokens) or tokens[position][1] != value:
            found = tokens[position][1] if position < len(tokens) else "end"
            raise GraphQLSyntaxError(f"Syntax Error: Expected {value!r}, found {found!r}")
        position += 1

    def value() -> Any:
        nonlocal position
        kind, text = tokens[position]
        position += 1
        if kind == "str":
            return text[1:-1]
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "word":
            return {"true": True, "false": False, "null": None}.get(text, text)
        if text == "{":
            obj = {}
            while tokens[position][1] != "}":
                key = tokens[position][1]
                position += 1
                expect(":")
                obj[key] = value()
                if tokens[position][1] == ",":
                    position += 1
            position += 1
            return obj
        if text == "[":
            items = []
            while tokens[position][1] != "]":
                items.append(value())
                if tokens[position][1] == ",":
                    position += 1
            position += 1
            return items
        raise GraphQLSyntaxError(f"Syntax Error: Unexpected {text!r}")

    try:
        expect("(")
        expect("input")
        expect(":")
        result = value()
        expect(")")
    except IndexError:
        raise GraphQLSyntaxError("Syntax Error: Unexpected end of document") from None
    if not isinstance(result, dict):
        raise GraphQLSyntaxError("Syntax Error: input must be an object")
    return result


class FakeRunpod:
    def __init__(self, api_key: str = FAKE_RUNPOD_KEY) -> None:
        self.api_key = api_key
        self.faults = Faults()
        self.pods: dict[str, FakePod] = {}
        self.created: list[str] = []
        self.terminated: list[str] = []
        self.operations: list[str] = []
        self.health_auth: list[str | None] = []
        self.lock = threading.Lock()
        self._creates = 0
        self.url = ""
        # Somebody else's pod in the same account: deploy must never touch it.
        self.pods["userpod0001"] = FakePod(
            "userpod0001", "my-notebook", "runpod/pytorch", "NVIDIA A100-SXM4-80GB", 1, "SECURE", "", {}, "8888/http",
            "/workspace", 20, 20, [],
        )  # fmt: skip

    # ---- the ledger, as tests read it
    def alive(self) -> list[str]:
        """turnbench-created pods that were never terminated."""
        return [pod_id for pod_id in self.created if pod_id not in self.terminated]

    def pod(self, pod_id: str) -> FakePod:
        return self.pods[pod_id]

    def proxy_template(self) -> str:
        return f"{self.url}/proxy/{{pod_id}}-{{port}}"

    # ---- GraphQL
    def graphql(self, query: str) -> dict[str, Any]:
        try:
            if "podFindAndDeployOnDemand" in query:
                return self._create(parse_input(query, "podFindAndDeployOnDemand"))
            if "podTerminate" in query:
                pod_id = parse_input(query, "podTerminate")["podId"]
                with self.lock:
                    self.operations.append("podTerminate")
                    pod = self.pods.get(pod_id)
                    if pod is None or pod.terminated:
                        return {"errors": [{"message": "Pod not found."}]}
                    pod.terminated = True
                    self.terminated.append(pod_id)
                return {"data": {"podTerminate": None}}
            if "gpuTypes" in query:
                self.operations.append("gpuTypes")
                match = re.search(r'gpuTypes\(input: \{id: "([^"]*)"\}\)', query)
                ids = [match[1]] if match else list(GPU_TYPES)
                return {"data": {"gpuTypes": [self._gpu(i) for i in ids if i in GPU_TYPES]}}
            if "myself" in query and "pods" in query:
                self.operations.append("myPods")
                with self.lock:
                    pods = [p.to_json(self.faults) for p in self.pods.values() if not p.terminated]
                return {"data": {"myself": {"pods": pods}}}
            if re.search(r"\bpod\(input", query):
                pod_id = parse_input(query, "pod")["podId"]
                with self.lock:
                    self.operations.append("pod")
                    if self.faults.pod_query_errors > 0:
                        self.faults.pod_query_errors -= 1
                        return {"errors": [{"message": "Something went wrong. Please try again later."}]}
                    pod = self.pods.get(pod_id)
                    if pod is None or pod.terminated:
                        return {"data": {"pod": None}}
                    pod.polls += 1
                    return {"data": {"pod": pod.to_json(self.faults)}}
        except GraphQLSyntaxError as exc:
            return {"errors": [{"message": str(exc)}]}
        return {"errors": [{"message": "Cannot query this field (the fake does not know it)."}]}

    def _gpu(self, gpu_id: str) -> dict[str, Any]:
        return {"id": gpu_id, "displayName": GPU_TYPES[gpu_id], "memoryInGb": 80, "securePrice": 3.99,
                "communityPrice": 2.69, "maxGpuCount": 8, "lowestPrice": {"minimumBidPrice": 2.0,
                                                                           "uninterruptablePrice": 3.99}}  # fmt: skip

    def _create(self, spec: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.operations.append("podFindAndDeployOnDemand")
            self._creates += 1
            error = self.faults.create_errors.get(self._creates)
            if error is not None:
                return {"errors": [{"message": error}]}
            pod_id = f"fakepod{len(self.created) + 1:04d}x"
            self.pods[pod_id] = FakePod(
                id=pod_id,
                name=spec["name"],
                image=spec["imageName"],
                gpu_type=spec["gpuTypeId"],
                gpu_count=spec.get("gpuCount", 1),
                cloud=spec["cloudType"],
                docker_args=spec.get("dockerArgs", ""),
                env={item["key"]: item["value"] for item in spec.get("env", [])},
                ports=spec.get("ports", ""),
                volume_mount_path=spec.get("volumeMountPath", ""),
                volume_gb=spec.get("volumeInGb", 0),
                container_disk_gb=spec.get("containerDiskInGb", 0),
                allowed_cuda=spec.get("allowedCudaVersions", []),
            )
            self.created.append(pod_id)
        time.sleep(self.faults.create_delay_s)
        created = {"id": pod_id, "imageName": spec["imageName"], "env": [], "machineId": "m1"}
        return {"data": {"podFindAndDeployOnDemand": {**created, "machine": {"podHostId": pod_id}}}}

    # ---- the pod proxy
    def proxy(self, path: str, authorization: str | None) -> tuple[int, bytes]:
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
        return 404, b'{"detail":"Not Found"}'


@contextmanager
def running_fake_runpod(api_key: str = FAKE_RUNPOD_KEY) -> Iterator[FakeRunpod]:
    fake = FakeRunpod(api_key)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/graphql":
                self._send(404, b"not found")
            elif self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                self._send(401, b'{"error": "Unauthorized"}')
            else:
                self._send(200, json.dumps(fake.graphql(json.loads(body)["query"])).encode())

        def do_GET(self) -> None:
            self._send(*fake.proxy(self.path, self.headers.get("Authorization")))

        def _send(self, status: int, body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
