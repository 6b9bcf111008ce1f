"""What Runpod's REST v2 objects say, as deploy reads them: pods, serverless endpoints, templates and
the GPU catalog's availability (runpod/docs api-reference-v2/openapi.json). The client
(deploy.runpod.client) makes them from the API's JSON; the rest of deploy reads only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict


class PortJson(TypedDict, total=False):
    private: int
    public: int | None
    type: str
    ip: str | None


class RuntimeJson(TypedDict, total=False):
    uptime: int
    ports: list[PortJson]


class PodJson(TypedDict, total=False):
    """The fields of a REST v2 pod object deploy reads (openapi.json `Pod`). `env` and `args` come
    back too and hold secrets: never read them."""

    id: str
    name: str
    status: str  # PROVISIONING, STARTING, RUNNING, EXITED, ERROR, TERMINATED
    cost: float  # USD/h, 0 unless RUNNING
    gpu: dict[str, Any]
    image: str
    cloud: str
    dataCenterId: str | None
    runtime: RuntimeJson | None  # null unless RUNNING


@dataclass(frozen=True)
class PodInfo:
    id: str
    name: str
    status: str
    cost_per_hr: float | None
    uptime_seconds: int
    gpu_count: int
    image: str
    http_ports: tuple[int, ...]  # private ports Runpod's proxy already routes; empty until the pod runs
    cloud: str = ""
    data_center: str | None = None

    @classmethod
    def from_json(cls, pod: PodJson) -> PodInfo:
        runtime = pod.get("runtime") or {}
        ports = runtime.get("ports") or []
        return cls(
            id=str(pod["id"]),
            name=pod.get("name") or "",
            status=pod.get("status") or "UNKNOWN",
            cost_per_hr=pod.get("cost"),
            uptime_seconds=int(runtime.get("uptime") or 0),
            gpu_count=int((pod.get("gpu") or {}).get("count") or 0),
            image=pod.get("image") or "",
            http_ports=tuple(
                p["private"] for p in ports if p.get("type") == "http" and isinstance(p.get("private"), int)
            ),
            cloud=pod.get("cloud") or "",
            data_center=pod.get("dataCenterId"),
        )

    def serves(self, port: int) -> bool:
        """Runpod reports the pod running and its proxy has a route to `port` (notes §2.4, step 1)."""
        return self.status == "RUNNING" and port in self.http_ports


@dataclass(frozen=True)
class EndpointInfo:
    """The fields of a REST v2 serverless endpoint deploy reads (openapi.json `Endpoint`). Its `env`
    comes back too and may hold a token: never read it."""

    id: str
    name: str
    request_urls: dict[str, str] = field(default_factory=dict)  # run, runSync, ..., health (QUEUE endpoints)

    @classmethod
    def from_json(cls, endpoint: dict[str, Any]) -> EndpointInfo:
        urls = endpoint.get("requestUrls") or {}
        return cls(str(endpoint["id"]), str(endpoint.get("name") or ""),
                   {str(k): str(v) for k, v in urls.items() if isinstance(v, str)})  # fmt: skip


@dataclass(frozen=True)
class TemplateInfo:
    id: str
    name: str


@dataclass(frozen=True)
class GpuAvailability:
    """Pod stock of one GPU type in one cloud, for a given GPU count (GET /v2/catalog/gpus)."""

    gpu_type: str
    cloud: str
    level: str  # NONE, LOW, MEDIUM, HIGH
    data_centers: dict[str, str] = field(default_factory=dict)  # id -> level; only those that offer it
    usd_per_gpu_hour: float | None = None

    def has_room(self, data_center: str | None = None) -> bool:
        level = self.level if data_center is None else self.data_centers.get(data_center, "NONE")
        return level != "NONE"
