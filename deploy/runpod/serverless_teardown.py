"""Serverless endpoints (and templates) turnbench made are deleted on every way out of a create that
did not succeed, and by `down`: `EndpointGuard` is `PodGuard`'s promise for them.

An endpoint with no running worker bills nothing, but it stays a queue on the account that starts
billed workers for any job sent to it, and with `--workers-min` above 0 it bills all the time. An
endpoint whose create never answered is found by its name, as a pod is. Endpoints go before
templates: Runpod refuses to delete a template bound to an endpoint, and deleting an endpoint
deletes the template bound to it (openapi.json deleteTemplate, deleteEndpoint).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from deploy.errors import DeployError
from deploy.runpod.client import CreateUnsure, RunpodClient
from deploy.runpod.lifetime import PodName
from deploy.runpod.resources import EndpointInfo, TemplateInfo
from deploy.runpod.teardown import (
    CREATE_SETTLE_POLL_S,
    CREATE_SETTLE_S,
    Guard,
    Progress,
    remove_each,
    signals_held,
    stop_cause,
)

ENDPOINT, TEMPLATE = "endpoint", "template"


def delete(client: RunpodClient, kind: str, items: dict[str, str], progress: Progress) -> dict[str, str]:
    """Delete each endpoint or template (id -> engine or name); returns those that could not be deleted."""
    remove = client.delete_endpoint if kind == ENDPOINT else client.delete_template
    return remove_each(items, remove, ("delete", "deleted"), kind, progress)


class EndpointGuard(Guard):
    """Within `with EndpointGuard(...) as guard:`, every endpoint and template `add`ed, and any named
    for this deployment whose id never reached us, is deleted on the way out unless the block reached
    `guard.keep()`. Creates run inside `guard.creating(kind, name)`, so the guard knows one may land."""

    def __init__(
        self,
        client: RunpodClient,
        deploy_id: str,
        progress: Progress,
        on_change: Callable[[dict[str, str], dict[str, str]], None],
    ) -> None:
        self.client = client
        self.deploy_id = deploy_id
        self.endpoints: dict[str, str] = {}  # id -> engine
        self.templates: dict[str, str] = {}
        self._progress = progress
        self._on_change = on_change
        self._in_flight: tuple[str, str] | None = None  # (kind, name) of a create that may yet land

    def add(self, kind: str, item_id: str, engine: str) -> None:
        (self.endpoints if kind == ENDPOINT else self.templates)[item_id] = engine
        self._on_change(dict(self.endpoints), dict(self.templates))

    @contextmanager
    def creating(self, kind: str, name: str) -> Iterator[None]:
        """Around one create call: unless it answered, the `kind` called `name` may exist or be on its way."""
        self._in_flight = (kind, name)
        try:
            yield
        except CreateUnsure:
            raise
        except DeployError:
            self._in_flight = None  # Runpod refused: nothing was made
            raise
        self._in_flight = None

    def _clean_up(self, exc: BaseException | None) -> None:
        self._progress(f"  {stop_cause(exc)}deleting every serverless endpoint this deployment created")
        left_endpoints = delete(self.client, ENDPOINT, self._all(ENDPOINT), self._progress)
        left_templates = delete(self.client, TEMPLATE, self._all(TEMPLATE), self._progress)
        try:
            self._on_change(left_endpoints, left_templates)
        except OSError as record_error:  # the endpoints matter more than the record of them
            self._progress(f"  could not update the deploy record: {record_error.strerror}")
        left = [*left_endpoints, *left_templates]
        if left:
            self._progress(
                f"  STILL ON YOUR ACCOUNT: {', '.join(left)}; run `turnbench deploy down --all` or delete them "
                "in the Runpod console"
            )

    def _all(self, kind: str) -> dict[str, str]:
        """The recorded ones of `kind` and those named for this deployment, after waiting (bounded) for
        the one of an unanswered create to show up."""
        items = dict(self.endpoints if kind == ENDPOINT else self.templates)
        in_flight = self._in_flight
        waiting_for = in_flight[1] if in_flight is not None and in_flight[0] == kind else None
        deadline = time.monotonic() + CREATE_SETTLE_S
        if waiting_for:
            self._progress(f"  looking for {waiting_for}, which Runpod may still be creating (up to "
                           f"{CREATE_SETTLE_S:.0f}s)")  # fmt: skip
        while True:
            try:
                named = [item for item in _listed(self.client, kind) if _deploy_of(item.name) == self.deploy_id]
            except DeployError as exc:  # the recorded ones are still deleted
                self._progress(f"  could not look for {kind}s created but not recorded: {exc}")
                return items
            for item in named:
                items.setdefault(item.id, _engine(item.name))
            if waiting_for is None or waiting_for in {i.name for i in named} or time.monotonic() >= deadline:
                return items
            time.sleep(CREATE_SETTLE_POLL_S)


def select(
    items: Sequence[EndpointInfo | TemplateInfo], mode: str, recorded: set[str], deploy_id: str = ""
) -> dict[str, str]:
    """id -> name of the turnbench endpoints or templates `down` deletes: mode "all", or "recorded" (by
    id, or named for the recorded deployment). Anything turnbench did not name is never touched."""
    chosen = {}
    for item in items:
        deploy = _deploy_of(item.name)
        if deploy is None:
            continue
        ours = item.id in recorded or (bool(deploy_id) and deploy == deploy_id)
        if mode == "all" or (mode == "recorded" and ours):
            chosen[item.id] = item.name
    return chosen


def down(
    client: RunpodClient, mode: str, endpoints: set[str], templates: set[str], progress: Progress, deploy_id: str = ""
) -> tuple[list[str], list[str]]:
    """Delete the selected endpoints, then templates; returns their ids. Raises if any is left.
    Endpoints carry no lifetime, so mode "expired" selects none."""
    if mode == "expired":
        return [], []
    chosen_endpoints = select(client.list_endpoints(), mode, endpoints, deploy_id)
    with signals_held():
        left = delete(client, ENDPOINT, chosen_endpoints, progress)
    chosen_templates = select(client.list_templates(), mode, templates, deploy_id)  # listed once endpoints are gone
    with signals_held():
        left |= delete(client, TEMPLATE, chosen_templates, progress)
    if left:
        raise DeployError(
            f"serverless endpoints or templates still on your account: {', '.join(left)}; retry, or use the "
            "Runpod console"
        )
    return list(chosen_endpoints), list(chosen_templates)


def _listed(client: RunpodClient, kind: str) -> Sequence[EndpointInfo | TemplateInfo]:
    return client.list_endpoints() if kind == ENDPOINT else client.list_templates()


def _deploy_of(name: str) -> str | None:
    parsed = PodName.parse(name)
    return None if parsed is None else parsed.deploy_id


def _engine(name: str) -> str:
    parsed = PodName.parse(name)
    return parsed.engine if parsed is not None else name
