"""Runpod's REST v2 API, the few calls deploy makes, with every failure turned into a one-line `DeployError`.

turnbench speaks REST v2 (`https://api.runpod.io/v2`) itself, on `requests`. REST v1 was retired on
2026-11-15 and GraphQL, which the runpod SDK 1.12 uses, retires early 2027; both answer 410 Gone once
retired (notes §2.7). Not the SDK 2.0 either: it is only a release candidate (2.0.0rc2), and its
transport (runpod/api/rest.py `_raise_for_error`) raises QueryError without the response headers, so a
429's Retry-After is lost (the copy of rest.py read for this keeps it, but as seconds only, never an
HTTP date); and it retries nothing. Here every request has a timeout, a 429 waits as long as
Retry-After says (seconds or an HTTP date, capped), and 5xx or a lost connection is retried with
bounded backoff where that is safe: GET and DELETE. A create is not retried blindly, because one that
failed with 5xx or timed out may have made the pod anyway: the pod is looked up by its name first.
Serverless endpoints and templates are made, listed and deleted the same way. The base URL is
`RUNPOD_API_BASE_URL` (default `https://api.runpod.io`), which is how tests point it at a local fake.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests

from deploy.errors import DeployError
from deploy.runpod.credentials import Credentials
from deploy.runpod.resources import EndpointInfo, GpuAvailability, PodInfo, TemplateInfo

BASE_URL_ENV = "RUNPOD_API_BASE_URL"  # the variable the runpod SDKs read too (notes §2.1)
DEFAULT_BASE_URL = "https://api.runpod.io"
BACKOFF_ENV = "TURNBENCH_RUNPOD_BACKOFF_S"  # the first pause between retries; tests shorten it
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0  # what the SDKs use for every call
CREATE_TIMEOUT_S = 60.0  # placing a pod takes longer; Runpod's own create sample waits 60 s
ATTEMPTS = 5  # tries of one GET or DELETE through 5xx and lost connections
CREATE_ATTEMPTS = 3  # tries of one create through 5xx, each after looking for the pod by name
RATE_LIMITED_ATTEMPTS = 8  # 429s waited out in one call before giving up
BACKOFF_FIRST_S = 1.0  # then doubling, up to:
BACKOFF_MAX_S = 16.0
RETRY_AFTER_MAX_S = 60.0  # a longer Retry-After is not waited in full; the attempts bound the rest
MAX_PAGES = 100  # of GET /v2/pods: a cursor that never ends is a bug, not an account
DETAIL_MAX_CHARS = 300
# REST v2 answers 400 both for a broken rule and for "no capacity", telling them apart only in
# `detail` (notes §2.5; openapi.json createPod). These are the wordings Runpod has used for capacity.
CAPACITY_WORDS = ("capacity", "no longer any instances", "not enough free", "no instances available",
                  "could not be placed", "no available machine", "no gpus available")  # fmt: skip
GONE = frozenset({404})
RETRIED_STATUSES = frozenset({500, 502, 503, 504})


_Listed = TypeVar("_Listed", EndpointInfo, TemplateInfo)


class NoCapacity(DeployError):
    """Runpod could not place the pod there; another cloud or data centre may still work."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


class CreateUnsure(DeployError):
    """A create that failed in a way that may still have made the pod or endpoint (5xx, no answer)."""


class _Transient(Exception):
    """5xx or no answer: worth another try where a repeat is harmless."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), capped; None if unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())  # Runpod sends integers; a fraction is read too (the tests' fake)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S) if seconds == seconds else None  # NaN is unreadable


class RunpodClient:
    def __init__(
        self, credentials: Credentials, *, base_url: str | None = None, backoff_s: float | None = None
    ) -> None:
        self._credentials = credentials
        self._base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        self._backoff = backoff_s if backoff_s is not None else _seconds(os.environ.get(BACKOFF_ENV), BACKOFF_FIRST_S)
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {credentials.runpod_key}",
                                      "Accept": "application/json", "User-Agent": "turnbench-deploy"})  # fmt: skip

    # ---- the calls deploy makes
    def create_pod(self, what: str, body: dict[str, Any]) -> str:
        """POST /v2/pods with a REST v2 create body; returns the pod id. `what` names it ("the vllm pod")."""

        def named(name: str, doing: str) -> dict[str, Any] | None:
            found = self._named(name, doing)
            return None if found is None else {"id": found.id}

        return str(self._create("/v2/pods", what, body, named)["id"])

    def get_pod(self, pod_id: str) -> PodInfo | None:
        """The pod, or None if Runpod no longer knows it."""
        what = f"reading pod {pod_id}"
        response = self._send("GET", f"/v2/pods/{_quoted(pod_id)}", what)
        if response.status_code in GONE:
            return None
        if response.status_code != 200:
            self._refuse(response, what)
        return self._pod(self._json(response, what), what)

    def list_pods(self) -> list[PodInfo]:
        what = "listing your pods"
        pods: list[PodInfo] = []
        params: dict[str, str] = {}
        # openapi.json of 2026-08 names no page parameters; notes §2.7 say the list is cursor-paged,
        # so a `nextCursor` in the answer is followed as `cursor` (the fake pages the same way).
        for _ in range(MAX_PAGES):
            response = self._send("GET", "/v2/pods", what, params=params)
            if response.status_code != 200:
                self._refuse(response, what)
            page = self._json(response, what)
            pods += [self._pod(p, what) for p in page.get("pods") or []]
            cursor = page.get("nextCursor")
            if not cursor:
                return pods
            params = {"cursor": str(cursor)}
        raise DeployError(f"Runpod's pod list did not end after {MAX_PAGES} pages while {what}; try again later")

    def terminate_pod(self, pod_id: str) -> None:
        """DELETE /v2/pods/{id}; a pod Runpod no longer knows is already gone, which is what was asked."""
        what = f"terminating pod {pod_id}"
        response = self._send("DELETE", f"/v2/pods/{_quoted(pod_id)}", what)
        if response.status_code not in (200, 204, *GONE):
            self._refuse(response, what)

    def create_endpoint(self, what: str, body: dict[str, Any]) -> EndpointInfo:
        """POST /v2/serverless; the endpoint made (id, requestUrls). `what` names it ("the vllm endpoint")."""

        def named(name: str, doing: str) -> dict[str, Any] | None:
            found = self._listed_named(self.list_endpoints, name, doing, "endpoint")
            return None if found is None else {"id": found.id, "name": found.name, "requestUrls": found.request_urls}

        return self._endpoint(self._create("/v2/serverless", what, body, named), f"creating {what}")

    def list_endpoints(self) -> list[EndpointInfo]:
        what = "listing your serverless endpoints"
        return [self._endpoint(e, what) for e in self._list("/v2/serverless", "endpoints", what)]

    def delete_endpoint(self, endpoint_id: str) -> None:
        """DELETE /v2/serverless/{id}, which also ends its workers and its bound template; 404 = already gone."""
        self._delete(f"/v2/serverless/{_quoted(endpoint_id)}", f"deleting endpoint {endpoint_id}")

    def create_template(self, what: str, body: dict[str, Any]) -> str:
        """POST /v2/templates; returns the template id."""

        def named(name: str, doing: str) -> dict[str, Any] | None:
            found = self._listed_named(self.list_templates, name, doing, "template")
            return None if found is None else {"id": found.id}

        return str(self._create("/v2/templates", what, body, named)["id"])

    def list_templates(self) -> list[TemplateInfo]:
        what = "listing your templates"
        try:
            return [TemplateInfo(str(t["id"]), str(t.get("name") or ""))
                    for t in self._list("/v2/templates", "templates", what)]  # fmt: skip
        except (KeyError, TypeError, AttributeError):
            raise DeployError(f"Runpod gave an unexpected answer while {what}; try again later") from None

    def delete_template(self, template_id: str) -> None:
        """DELETE /v2/templates/{id}; 404 = already gone. Runpod refuses (400) while an endpoint is bound to it."""
        self._delete(f"/v2/templates/{_quoted(template_id)}", f"deleting template {template_id}")

    def gpu_availability(
        self, gpu_type: str, gpu_count: int, cloud: str, cuda_versions: tuple[str, ...] = ()
    ) -> GpuAvailability:
        """Pod stock of `gpu_count` x `gpu_type` in `cloud`, on hosts with one of `cuda_versions`."""
        what = f"checking for free {gpu_count}x {gpu_type} in {cloud} cloud"
        params = {"include": "AVAILABILITY", "product": "POD", "count": str(gpu_count), "cloud": cloud}
        if cuda_versions:
            params["cudaVersions"] = ",".join(cuda_versions)
        response = self._send("GET", "/v2/catalog/gpus", what, params=params)
        if response.status_code != 200:
            self._refuse(response, what)
        try:
            gpu = next((g for g in self._json(response, what).get("gpus") or [] if g.get("id") == gpu_type), None)
            if gpu is None:
                raise DeployError(f"Runpod knows no such GPU type {gpu_type!r}; check --gpu-type")
            offered = bool(gpu.get(cloud.lower(), True))  # `secure` / `community`: the type exists there at all
            price = (gpu.get("price") or {}).get(cloud.lower())
            return GpuAvailability(
                gpu_type=gpu_type,
                cloud=cloud,
                level=str(gpu.get("availability") or "NONE") if offered else "NONE",
                data_centers={str(d["id"]): str(d.get("availability") or "NONE") for d in gpu.get("dataCenters") or []},
                usd_per_gpu_hour=float(price) if isinstance(price, int | float) else None,
            )
        except (KeyError, TypeError, AttributeError, ValueError):
            raise DeployError(f"Runpod gave an unexpected answer while {what}; try again later") from None

    # ---- creates, lists and deletes of any kind
    def _create(
        self, path: str, what: str, body: dict[str, Any], named: Callable[[str, str], dict[str, Any] | None]
    ) -> dict[str, Any]:
        """The created object's JSON. A 5xx or no answer may still have made it, so before each
        repeat `named` looks for it by the body's name (and its JSON is returned if found)."""
        what, name = f"creating {what}", str(body["name"])
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                response = self._send("POST", path, what, json=body, retry=False, timeout=CREATE_TIMEOUT_S)
            except _Transient as unsure:
                found = named(name, what)
                if found is not None:
                    return found  # Runpod made it although the create did not say so
                if attempt == CREATE_ATTEMPTS:
                    raise CreateUnsure(
                        f"Runpod failed {attempt} times while {what} (last: {unsure.reason}); try again later"
                    ) from None
                time.sleep(self._wait(None, attempt))
                continue
            if response.status_code in (200, 201):
                made = self._json(response, what)
                if "id" not in made:
                    raise DeployError(f"Runpod gave an unexpected answer while {what}; try again later")
                return made
            self._refuse(response, what)
        raise AssertionError("unreachable")

    def _list(self, path: str, key: str, what: str) -> list[Any]:
        """Every item of a list call. openapi.json pages none of them; a `nextCursor` is followed all the same."""
        items: list[Any] = []
        params: dict[str, str] = {}
        for _ in range(MAX_PAGES):
            response = self._send("GET", path, what, params=params)
            if response.status_code != 200:
                self._refuse(response, what)
            page = self._json(response, what)
            listed = page.get(key) or []
            if not isinstance(listed, list):
                raise DeployError(f"Runpod gave an unexpected answer while {what}; try again later")
            items += listed
            cursor = page.get("nextCursor")
            if not cursor:
                return items
            params = {"cursor": str(cursor)}
        raise DeployError(f"Runpod's list did not end after {MAX_PAGES} pages while {what}; try again later")

    def _delete(self, path: str, what: str) -> None:
        response = self._send("DELETE", path, what)
        if response.status_code not in (200, 204, *GONE):
            self._refuse(response, what)

    # ---- one request, its retries and its errors
    def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        retry: bool = True,
        timeout: float = READ_TIMEOUT_S,
    ) -> requests.Response:
        """The response to one call, after waiting out 429s and, if `retry`, 5xx and lost connections.
        Without `retry`, those raise `_Transient`: the caller decides whether a repeat is safe."""
        transient = rate_limited = 0
        while True:
            answer: requests.Response | None = None
            try:
                answer = self._session.request(
                    method, self._base + path, params=params, json=json, timeout=(CONNECT_TIMEOUT_S, timeout)
                )
                reason = f"HTTP {answer.status_code}"
            except requests.RequestException as exc:  # a timeout too: requests' Timeout is one
                reason = f"no answer ({type(exc).__name__})"
            if answer is not None and answer.status_code == 429:  # refused, so never done: safe to repeat
                rate_limited += 1
                if rate_limited >= RATE_LIMITED_ATTEMPTS:
                    raise DeployError(
                        f"Runpod kept answering 429 Too Many Requests while {what} ({rate_limited} tries); "
                        "wait a few minutes and try again"
                    )
                time.sleep(self._wait(answer, rate_limited))
                continue
            if answer is not None and answer.status_code not in RETRIED_STATUSES:
                return answer
            if not retry:
                raise _Transient(reason)
            transient += 1
            if transient >= ATTEMPTS and answer is None:
                raise DeployError(f"cannot reach Runpod's API while {what} ({reason}, {transient} tries); check your "
                                  "connection")  # fmt: skip
            if transient >= ATTEMPTS and answer is not None:
                raise DeployError(f"Runpod answered {reason} {transient} times while {what} ({self._detail(answer)}); "
                                  "try again later")  # fmt: skip
            time.sleep(self._wait(answer, transient))

    def _refuse(self, response: requests.Response, what: str) -> None:
        """Raise the one line that says what a 4xx/5xx answer means for the user."""
        status, detail = response.status_code, self._detail(response)
        if status == 400 and any(word in detail.lower() for word in CAPACITY_WORDS):
            raise NoCapacity(
                f"no free GPUs while {what} ({detail}); try again later, or another --cloud/--data-center/--gpu-type",
                detail,
            )
        messages = {
            400: f"Runpod refused {what}: {detail}",
            401: f"Runpod refused the key in RUNPOD_API_KEY while {what}; check it",
            402: f"Runpod refused {what}: no balance left on the account (402 {detail}); add funds in the console",
            403: f"Runpod refused the key in RUNPOD_API_KEY while {what} (403 {detail}); check the key's access",
            410: f"Runpod says this API version is retired (410 Gone) while {what}; update turnbench",
            422: f"Runpod rejected the request while {what} (422 {detail}); please report this turnbench bug",
        }
        raise DeployError(messages.get(status, f"Runpod answered HTTP {status} while {what}: {detail}"))

    def _detail(self, response: requests.Response) -> str:
        """The RFC 9457 problem document's detail (and validation errors), on one line, with no secret."""
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if isinstance(problem, dict):
            detail = str(problem.get("detail") or problem.get("title") or "")
            errors = problem.get("errors")
            if isinstance(errors, list) and errors:
                detail = f"{detail}: {'; '.join(str(e) for e in errors)}" if detail else "; ".join(map(str, errors))
        else:
            detail = ""
        detail = " ".join((detail or response.reason or "no detail").split())
        return self._credentials.redact(detail)[:DETAIL_MAX_CHARS]

    def _json(self, response: requests.Response, what: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise DeployError(f"Runpod gave an unreadable answer while {what}; try again later")
        return data

    def _pod(self, pod: Any, what: str) -> PodInfo:
        try:
            return PodInfo.from_json(pod)
        except (KeyError, TypeError, AttributeError, ValueError):
            raise DeployError(f"Runpod gave an unexpected answer while {what}; try again later") from None

    def _endpoint(self, endpoint: Any, what: str) -> EndpointInfo:
        try:
            return EndpointInfo.from_json(endpoint)
        except (KeyError, TypeError, AttributeError, ValueError):
            raise DeployError(f"Runpod gave an unexpected answer while {what}; try again later") from None

    def _listed_named(self, listing: Callable[[], list[_Listed]], name: str, what: str, noun: str) -> _Listed | None:
        """The endpoint or template called `name`, after a create that may have made it although it failed."""
        try:
            items = listing()
        except DeployError as exc:  # it may exist: CreateUnsure makes the guard look again
            raise CreateUnsure(f"{what} may have made the {noun}, and looking for it failed: {exc}") from None
        return next((item for item in items if item.name == name), None)

    def _named(self, name: str, what: str) -> PodInfo | None:
        """The pod called `name`, after a create that may have made it although it failed."""
        try:
            pods = self.list_pods()
        except DeployError as exc:  # the pod may exist: CreateUnsure makes PodGuard look again
            raise CreateUnsure(f"{what} may have made the pod, and looking for it failed: {exc}") from None
        return next((p for p in pods if p.name == name), None)

    def _wait(self, answer: requests.Response | None, attempt: int) -> float:
        """Seconds before try `attempt` + 1: what Retry-After asks, else doubling from the first pause."""
        asked = retry_after_s(answer.headers.get("Retry-After")) if answer is not None else None
        return min(self._backoff * 2 ** (attempt - 1), BACKOFF_MAX_S) if asked is None else asked


def _seconds(text: str | None, default: float) -> float:
    try:
        return max(float(text), 0.0) if text else default
    except ValueError:
        return default


def _quoted(pod_id: str) -> str:
    return urllib.parse.quote(pod_id, safe="")
