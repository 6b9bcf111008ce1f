"""Waiting for engines on Runpod pods to really serve, which is much later than "Running".

Two steps (notes §2.4): Runpod reports the pod RUNNING (after PROVISIONING and STARTING) with its
HTTP port in `runtime.ports`, then the engine answers 200 on `/health` through the proxy. Until it
listens the proxy says 502; SGLang says 503 while it warms up; 404 and 524 (Cloudflare's 100 s
timeout) also mean "not yet". A 70B model takes 15-25 minutes on a fresh pod (notes §8), so the
wait is long and says what it is waiting for.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from deploy.engines import engine_named
from deploy.errors import DeployError
from deploy.runpod.client import RunpodClient
from deploy.runpod.lifetime import format_duration
from deploy.runpod.resources import PodInfo

DEFAULT_PROXY_TEMPLATE = "https://{pod_id}-{port}.proxy.runpod.net"
NOT_READY_STATUSES = frozenset({404, 502, 503, 524})  # anything else but 200 and 401/403 is also retried
PROBE_TIMEOUT_S = 10.0  # one probe; the proxy's own limit is 100 s, far too long to wait on each poll
PROGRESS_EVERY_S = 60.0  # a line at least this often, and whenever something changes
GONE_STATUSES = ("EXITED", "ERROR", "TERMINATED")  # REST v2 pod states a pod never leaves by itself
# A 40-minute wait should survive a few failed status calls (network blip, API hiccup) in a row;
# more than this, and the API or the key is really broken.
API_FAILURES_TOLERATED = 5

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ProxyUrls:
    """Where a pod's port is reachable; injectable so tests can serve "the proxy" on 127.0.0.1."""

    template: str = DEFAULT_PROXY_TEMPLATE

    def __post_init__(self) -> None:
        if "{pod_id}" not in self.template:
            raise DeployError(f"proxy URL template {self.template!r} must contain {{pod_id}}")
        try:
            self.template.format(pod_id="x", port=1)
        except (KeyError, IndexError, ValueError):
            raise DeployError(
                f"proxy URL template {self.template!r}: only {{pod_id}} and {{port}} may appear"
            ) from None

    def base(self, pod_id: str, port: int) -> str:
        return self.template.format(pod_id=pod_id, port=port).rstrip("/")


@dataclass
class _Waiting:
    engine: str
    pod_id: str
    phase: str = "starting"  # starting -> health -> ready
    detail: str = "created"
    info: PodInfo | None = None
    api_failures: int = 0


def probe(url: str, api_key: str | None, timeout: float = PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """(ready, what was seen). A refused key is not "not ready": it would never become ready."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, http.client.HTTPException):
        return False, "no answer"
    if status == 200:
        return True, "HTTP 200"
    if status in (401, 403):
        raise DeployError(f"{url} answered {status}: the engine refuses TURNBENCH_ENGINE_API_KEY; check the variable")
    return False, f"HTTP {status}"


def wait_until_ready(
    client: RunpodClient,
    pods: dict[str, str],
    proxy: ProxyUrls,
    port: int,
    api_key: str | None,
    timeout_s: float,
    poll_s: float,
    progress: Progress,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, PodInfo]:
    """Block until every pod (engine -> pod id) serves /health; returns each engine's pod as last seen."""
    start = clock()
    waiting = [_Waiting(engine, pod_id) for engine, pod_id in pods.items()]
    said: dict[str, tuple[str, float]] = {}
    while True:
        for w in waiting:
            if w.phase != "ready":
                _step(client, w, proxy, port, api_key)
            last = said.get(w.engine)
            now = clock()
            if last is None or last[0] != w.detail or now - last[1] >= PROGRESS_EVERY_S:
                progress(f"  [{format_duration(now - start):>6}] {w.engine} pod {w.pod_id}: {w.detail}")
                said[w.engine] = (w.detail, now)
        if all(w.phase == "ready" for w in waiting):
            return {w.engine: w.info for w in waiting if w.info is not None}
        elapsed = clock() - start
        if elapsed >= timeout_s:
            state = "; ".join(f"{w.engine}: {w.detail}" for w in waiting if w.phase != "ready")
            raise DeployError(
                f"the engines were not ready after {format_duration(elapsed)} ({state}); a 70B model needs "
                "15-25 min on a fresh pod: raise --timeout"
            )
        sleep(max(0.0, min(poll_s, timeout_s - elapsed)))


def _step(client: RunpodClient, w: _Waiting, proxy: ProxyUrls, port: int, api_key: str | None) -> None:
    if w.phase == "starting":
        try:
            info = client.get_pod(w.pod_id)
        except DeployError as exc:
            w.api_failures += 1
            if w.api_failures > API_FAILURES_TOLERATED:
                raise
            w.detail = f"status unknown, Runpod did not answer ({w.api_failures} in a row): {exc}"
            return
        w.api_failures = 0
        if info is None or info.status in GONE_STATUSES:
            status = info.status if info else "gone"
            raise DeployError(
                f"the {w.engine} pod {w.pod_id} stopped ({status}) before it served; its log in the Runpod "
                "console says why; try again"
            )
        w.info = info
        if not info.serves(port):
            w.detail = f"{info.status.lower()}, port {port} not routed yet"
            return
        w.phase, w.detail = "health", "running, waiting for /health"
    ready, seen = probe(f"{proxy.base(w.pod_id, port)}/health", api_key)
    if ready:
        w.phase, w.detail = "ready", "ready (/health 200)"
    else:
        w.detail = f"running, engine loading (/health: {seen})"


def read_version(engine: str, base_url: str, api_key: str | None) -> str:
    """The engine's own version string, for the record; "unknown" rather than failing a deployment."""
    path = engine_named(engine).version_path
    if path is None:
        return "unknown"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    request = urllib.request.Request(base_url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
            version = json.load(response).get("version")
    except (OSError, http.client.HTTPException, ValueError, AttributeError):
        return "unknown"
    return str(version) if version else "unknown"
