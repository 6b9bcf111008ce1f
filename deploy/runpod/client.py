"""The few Runpod SDK calls deploy makes, with the SDK's failures turned into one-line `DeployError`s.

Kept thin on purpose: the SDK talks to Runpod's GraphQL API, which is deprecated with retirement
"early 2027" (notes §2.7); a REST v2 client only has to replace this module. The SDK is imported
here and only here, lazily, so `turnbench --help` does not pay for it. It reads
`RUNPOD_API_BASE_URL` on every call, which is how tests point it at a local fake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from deploy.errors import DeployError
from deploy.runpod.credentials import Credentials

T = TypeVar("T")
CAPACITY = "no longer any instances available"  # Runpod's message when the GPUs are all taken


class PortJson(TypedDict, total=False):
    ip: str
    isIpPublic: bool
    privatePort: int
    publicPort: int
    type: str


class PodJson(TypedDict, total=False):
    """The fields of `pod` / `myself.pods` deploy reads (runpod 1.12.0 api/queries/pods.py).
    `env` and `dockerArgs` are also returned and hold secrets: never read them."""

    id: str
    name: str
    desiredStatus: str
    costPerHr: float | None
    uptimeSeconds: int | None
    gpuCount: int
    imageName: str
    runtime: dict[str, list[PortJson] | None] | None
    machine: dict[str, str] | None


@dataclass(frozen=True)
class PodInfo:
    id: str
    name: str
    desired_status: str
    cost_per_hr: float | None
    uptime_seconds: int
    gpu_count: int
    image: str
    http_ports: tuple[int, ...]  # private ports Runpod's proxy already routes; empty until the pod runs

    @classmethod
    def from_json(cls, pod: PodJson) -> PodInfo:
        runtime = pod.get("runtime") or {}
        ports = runtime.get("ports") or []
        return cls(
            id=pod["id"],
            name=pod.get("name") or "",
            desired_status=pod.get("desiredStatus") or "UNKNOWN",
            cost_per_hr=pod.get("costPerHr"),
            uptime_seconds=pod.get("uptimeSeconds") or 0,
            gpu_count=pod.get("gpuCount") or 0,
            image=pod.get("imageName") or "",
            http_ports=tuple(p["privatePort"] for p in ports if p.get("type") == "http" and "privatePort" in p),
        )

    def serves(self, port: int) -> bool:
        """Runpod reports the pod running and its proxy has a route to `port` (notes §2.4, step 1)."""
        return self.desired_status == "RUNNING" and port in self.http_ports


class RunpodClient:
    def __init__(self, credentials: Credentials) -> None:
        import runpod  # the SDK's import reads ~/.runpod/config.toml; the key below wins over it

        runpod.api_key = credentials.runpod_key
        self._sdk: Any = runpod
        self._credentials = credentials

    def create_pod(self, what: str, **kwargs: Any) -> str:
        """Create a GPU pod; returns its id. `what` names the pod in errors ("the vllm pod")."""
        pod = self._call(f"creating {what}", lambda: self._sdk.create_pod(**kwargs))
        return str(pod["id"])  # a dict, not an object: the SDK README's `pod.id` is wrong

    def get_pod(self, pod_id: str) -> PodInfo | None:
        pod = self._call(f"reading pod {pod_id}", lambda: self._sdk.get_pod(pod_id))
        return PodInfo.from_json(pod) if pod else None

    def list_pods(self) -> list[PodInfo]:
        pods = self._call("listing your pods", self._sdk.get_pods)
        return [PodInfo.from_json(p) for p in pods or []]

    def terminate_pod(self, pod_id: str) -> None:
        self._call(f"terminating pod {pod_id}", lambda: self._sdk.terminate_pod(pod_id))

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Run one SDK call; every way it can fail becomes a DeployError with no secret in it."""
        from runpod import error

        try:
            return call()
        except error.AuthenticationError:
            raise DeployError(f"Runpod refused the key in RUNPOD_API_KEY while {what}; check it") from None
        except error.QueryError as exc:  # exc.query holds the mutation, secrets included: never shown
            message = str(exc.message or "no message")
            if CAPACITY in message:
                raise DeployError(
                    f"Runpod has no free GPUs of that type while {what}; try again later, another --cloud, "
                    "--gpu-type or --data-center"
                ) from None
            raise DeployError(self._credentials.redact(f"Runpod refused {what}: {message}")) from None
        except ValueError as exc:  # an unknown GPU id, or a non-JSON answer from a failing API
            if "No GPU found" in str(exc):
                raise DeployError(f"Runpod knows no such GPU type while {what}; check --gpu-type") from None
            raise DeployError(f"Runpod gave an unreadable answer while {what}; try again later") from None
        except (KeyError, TypeError):  # a JSON answer without the expected data, e.g. from a 5xx
            raise DeployError(f"Runpod gave an unexpected answer while {what}; try again later") from None
        except OSError as exc:  # requests' connection and timeout errors derive from OSError
            reason = self._credentials.redact(type(exc).__name__)
            raise DeployError(f"cannot reach Runpod's API while {what} ({reason}); check your connection") from None
