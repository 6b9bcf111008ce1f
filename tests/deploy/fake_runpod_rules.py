"""What the fake Runpod accepts in a create body, read from runpod/docs `api-reference-v2/openapi.json`.

The real API rejects a body that breaks the schema with 422 (unknown fields by name, wrong types)
and one that breaks a rule the schema cannot say with 400; so does the fake, which is how a test
learns that turnbench sends a body Runpod would refuse. Each check returns a problem document
(status, body) or None.
"""

from __future__ import annotations

import re
from typing import Any

Answer = tuple[int, dict[str, Any]]
# CreatePodRequest = ContainerConfig + its own properties; `unevaluatedProperties: false`.
POD_FIELDS = {"name", "image", "gpu", "cpu", "cloud", "dataCenterIds", "globalNetworking", "mounts",
              "startJupyter", "startSsh", "templateId", "args", "disk", "env", "ports", "registry"}  # fmt: skip
GPU_FIELDS = {"id", "count", "allowedCudaVersions", "minCudaVersion"}
CLOUDS = ("SECURE", "COMMUNITY")
SCALERS = ("QUEUE_DELAY", "REQUEST_COUNT")
ENDPOINT_FIELDS = {"name", "type", "scaling", "gpu", "cpu", "dataCenterIds", "flashboot", "networkVolumes",
                   "templateId", "timeout", "workers", "image", "args", "disk", "env", "ports", "registry"}  # fmt: skip
TEMPLATE_FIELDS = {"name", "image", "allowedCudaVersions", "category", "mounts", "public", "serverless",
                   "startJupyter", "startSsh", "args", "disk", "env", "ports", "registry"}  # fmt: skip
_CUDA = re.compile(r"^\d+\.\d+$")
_PORT = re.compile(r"^\d{1,5}/(http|tcp)$")


def problem(status: int, detail: str, errors: list[str] | None = None) -> Answer:
    """An RFC 9457 problem document (openapi.json `ErrorResponse`)."""
    titles = {400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 404: "Not Found", 410: "Gone",
              422: "Unprocessable Entity", 429: "Too Many Requests", 503: "Service Unavailable"}  # fmt: skip
    document: dict[str, Any] = {"title": titles.get(status, "Error"), "status": status, "detail": detail}
    if errors:
        document["errors"] = errors
    return status, document


def check_create_pod(body: Any, gpu_types: dict[str, Any]) -> Answer | None:
    if not isinstance(body, dict):
        return problem(422, "Request validation failed.", ["$: expected an object"])
    errors = [f"$: additional properties '{k}' not allowed" for k in sorted(set(body) - POD_FIELDS)]
    errors += _container_errors(body)
    if not isinstance(body.get("name"), str) or not body["name"]:
        errors.append("$.name: required, a non-empty string")
    if body.get("cloud", "SECURE") not in CLOUDS:
        errors.append(f"$.cloud: value must be one of {', '.join(CLOUDS)}")
    centres = body.get("dataCenterIds", [])
    if not isinstance(centres, list) or not all(isinstance(c, str) for c in centres):
        errors.append("$.dataCenterIds: expected an array of strings")
    gpu = body.get("gpu")
    if gpu is not None:
        if not isinstance(gpu, dict) or not isinstance(gpu.get("id"), str):
            errors.append("$.gpu.id: required, a string")
        else:
            errors += [f"$.gpu: additional properties '{k}' not allowed" for k in sorted(set(gpu) - GPU_FIELDS)]
            if not isinstance(gpu.get("count", 1), int) or gpu.get("count", 1) < 1:
                errors.append("$.gpu.count: minimum 1")
            if not all(isinstance(v, str) and _CUDA.match(v) for v in gpu.get("allowedCudaVersions", [])):
                errors.append("$.gpu.allowedCudaVersions: each must match ^\\d+\\.\\d+$")
    persistent = (body.get("mounts") or {}).get("persistent") if isinstance(body.get("mounts"), dict) else None
    if persistent is not None and (not isinstance(persistent.get("size"), int) or persistent["size"] < 10
                                   or not isinstance(persistent.get("path"), str)):  # fmt: skip
        errors.append("$.mounts.persistent: size (minimum 10) and path are required")
    if errors:
        return problem(422, "Request validation failed.", errors)
    if (gpu is None) == (body.get("cpu") is None):
        return problem(400, "exactly one of gpu or cpu must be set")
    if "image" not in body and "templateId" not in body:
        return problem(400, "image is required unless templateId is set")
    if gpu is not None and gpu["id"] not in gpu_types:
        return problem(400, f"GPU type {gpu['id']!r} does not exist")
    return None


def check_endpoint(body: Any) -> Answer | None:
    if not isinstance(body, dict):
        return problem(422, "Request validation failed.", ["$: expected an object"])
    errors = [f"$: additional properties '{k}' not allowed" for k in sorted(set(body) - ENDPOINT_FIELDS)]
    errors += _container_errors(body)
    errors += [f"$.{k}: required" for k in ("name", "type", "scaling") if k not in body]
    if body.get("type", "QUEUE") not in ("QUEUE", "LOAD_BALANCER"):
        errors.append("$.type: value must be one of QUEUE, LOAD_BALANCER")
    scaling = body.get("scaling")
    if scaling is not None and (not isinstance(scaling, dict) or scaling.get("type") not in SCALERS):
        errors.append("$.scaling.type: value must be one of QUEUE_DELAY, REQUEST_COUNT")
    gpu = body.get("gpu")
    if gpu is not None and (not isinstance(gpu, dict) or not isinstance(gpu.get("pools"), list) or not gpu["pools"]):
        errors.append("$.gpu.pools: required, at least one serverless pool id")
    if errors:
        return problem(422, "Request validation failed.", errors)
    if (gpu is None) == (body.get("cpu") is None):
        return problem(400, "exactly one of gpu or cpu must be set")
    if "image" not in body and "templateId" not in body:
        return problem(400, "image is required unless templateId is set")
    return None


def check_template(body: Any) -> Answer | None:
    if not isinstance(body, dict):
        return problem(422, "Request validation failed.", ["$: expected an object"])
    errors = [f"$: additional properties '{k}' not allowed" for k in sorted(set(body) - TEMPLATE_FIELDS)]
    errors += _container_errors(body)
    errors += [f"$.{k}: required" for k in ("name", "image") if not isinstance(body.get(k), str) or not body[k]]
    return problem(422, "Request validation failed.", errors) if errors else None


def _container_errors(body: dict[str, Any]) -> list[str]:
    """ContainerConfig's fields: args one string, env string to string, ports "N/http|tcp", disk >= 1."""
    errors = []
    if not isinstance(body.get("args", ""), str):
        errors.append("$.args: expected a string")
    env = body.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        errors.append("$.env: expected an object of strings")
    ports = body.get("ports", [])
    if not isinstance(ports, list) or not all(isinstance(p, str) and _PORT.match(p) for p in ports):
        errors.append("$.ports: each must look like 8000/http")
    if not isinstance(body.get("disk", 1), int) or body.get("disk", 1) < 1:
        errors.append("$.disk: minimum 1")
    return errors
