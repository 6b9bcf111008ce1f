"""Pods cost money every second they exist, so every path out of a deployment that did not succeed
terminates what it created: an error, a timeout, Ctrl-C, SIGTERM or SIGHUP, a second pod that failed after
the first was made. `PodGuard` is that promise; `down` is the same for pods left by earlier runs.

A pod can exist although its create never answered: Ctrl-C or a timeout during `POST /v2/pods`,
or a 5xx from a create that went through. Pod names carry the deployment's id, so the guard finds
those by name, and waits a little for one Runpod may still be making. Only SIGKILL (or a power cut)
can skip the guard; the state file and the pod names let `turnbench deploy down` clean up after that too.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType, TracebackType
from typing import Any, Self

from deploy.errors import DeployError
from deploy.runpod.client import CreateUnsure, RunpodClient
from deploy.runpod.lifetime import PodName
from deploy.runpod.resources import PodInfo

TERMINATE_ATTEMPTS = 3  # the client retries each call already; this is for a longer outage
RETRY_PAUSE_S = 2.0
# After a create that never answered, how long to look for the pod Runpod may still be making,
# and how often. A create that landed is listed at once; this covers one still in flight.
CREATE_SETTLE_S = 30.0
CREATE_SETTLE_POLL_S = 0.5

Progress = Callable[[str], None]


# SIGTERM (kill, a CI runner's cancel) and SIGHUP (the terminal or SSH session closed) would end the
# process without running any cleanup; as Ctrl-C they terminate the pods first.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that one path terminates the pods for all of them."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signal_name = signal.Signals(signum).name


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    handlers: dict[int, Any] = dict.fromkeys(STOP_SIGNALS, raise_terminated)
    # A process started in the background of a non-interactive shell inherits SIGINT ignored
    # (so does Python's own handler): make Ctrl-C raise here whatever we were started with.
    handlers[signal.SIGINT] = signal.default_int_handler
    with _signal_handlers(handlers):
        yield


@contextmanager
def signals_held() -> Iterator[None]:
    """Ignore Ctrl-C and the stop signals while terminating: a second Ctrl-C must not leave a pod up."""
    with _signal_handlers(dict.fromkeys((signal.SIGINT, *STOP_SIGNALS), signal.SIG_IGN)):
        yield


@contextmanager
def _signal_handlers(handlers: dict[int, Any]) -> Iterator[None]:
    """Install `handlers` for the block, then put back what was there before."""
    previous = {}
    try:
        for sig, handler in handlers.items():
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: signals cannot be handled here anyway
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def remove_each(
    items: dict[str, str], remove: Callable[[str], None], verbs: tuple[str, str], noun: str, progress: Progress
) -> dict[str, str]:
    """`remove` each item (id -> label), a failure retried; returns those still there. `verbs` are
    (present, past), e.g. ("terminate", "terminated"), for the progress lines."""
    left = {}
    for item_id, label in items.items():
        for attempt in range(1, TERMINATE_ATTEMPTS + 1):
            try:
                remove(item_id)
            except DeployError as exc:
                if attempt == TERMINATE_ATTEMPTS:
                    progress(f"  could not {verbs[0]} {label} {noun} {item_id}: {exc}")
                    left[item_id] = label
                else:
                    time.sleep(RETRY_PAUSE_S * attempt)
                continue
            progress(f"  {verbs[1]} {label} {noun} {item_id}")
            break
    return left


def terminate(client: RunpodClient, pods: dict[str, str], progress: Progress) -> dict[str, str]:
    """Terminate each pod (id -> engine); returns those that could not be terminated."""
    return remove_each(pods, client.terminate_pod, ("terminate", "terminated"), "pod", progress)


class Guard:
    """What every guard of paid resources shares: on every way out of its `with` block but a kept one,
    `_clean_up` runs with Ctrl-C and the stop signals held, so a second signal cannot cut it short."""

    _kept = False

    def keep(self) -> None:
        self._kept = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._kept and exc_type is None:
            return
        with signals_held():
            self._clean_up(exc)

    def _clean_up(self, exc: BaseException | None) -> None:
        raise NotImplementedError


class PodGuard(Guard):
    """Within `with PodGuard(...) as guard:`, every pod `add`ed (and any pod named for this
    deployment that Runpod made although its id never reached us, e.g. Ctrl-C during the create
    call) is terminated on the way out, unless the block reached `guard.keep()`. Creates run
    inside `guard.creating(name)`, so the guard knows when one may still land."""

    def __init__(
        self, client: RunpodClient, deploy_id: str, progress: Progress, on_change: Callable[[dict[str, str]], None]
    ) -> None:
        self.client = client
        self.deploy_id = deploy_id
        self.pods: dict[str, str] = {}
        self._progress = progress
        self._on_change = on_change
        self._in_flight: str | None = None  # the name of a create that may yet make a pod

    def add(self, pod_id: str, engine: str) -> None:
        self.pods[pod_id] = engine
        self._on_change(dict(self.pods))

    @contextmanager
    def creating(self, name: str) -> Iterator[None]:
        """Around one create call: unless it answered (a pod id, or a refusal that made nothing),
        the pod called `name` may exist or be on its way, and the exit looks for it."""
        self._in_flight = name
        try:
            yield
        except CreateUnsure:
            raise
        except DeployError:
            self._in_flight = None  # Runpod refused: nothing was made
            raise
        self._in_flight = None

    def terminate_strays(self) -> None:
        """Terminate pods named for this deployment that are not the ones recorded: a create that
        failed with 5xx and was retried may have made one (listed only later) besides the one kept."""
        try:
            strays = {pod.id: _engine(pod) for pod in self._named() if pod.id not in self.pods}
        except DeployError as exc:  # not worth failing a deployment that serves: `down` finds them by name
            self._progress(f"  could not look for extra pods: {exc}")
            return
        if strays:
            self._progress(f"  terminating {len(strays)} extra pod(s) a retried create made")
            terminate(self.client, strays, self._progress)

    def _clean_up(self, exc: BaseException | None) -> None:
        self._progress(f"  {stop_cause(exc)}terminating every pod this deployment created")
        left = terminate(self.client, self._all_pods(), self._progress)
        try:
            self._on_change(left)
        except OSError as record_error:  # the pods matter more than the record of them
            self._progress(f"  could not update the deploy record: {record_error.strerror}")
        if left:
            self._progress(
                f"  STILL RUNNING AND BILLED: {', '.join(left)}; run `turnbench deploy down --all` "
                "or terminate them in the Runpod console"
            )

    def _all_pods(self) -> dict[str, str]:
        """The recorded pods and those named for this deployment, after waiting (bounded) for the
        pod of an unanswered create to show up."""
        pods = dict(self.pods)
        waiting_for, deadline = self._in_flight, time.monotonic() + CREATE_SETTLE_S
        if waiting_for:
            self._progress(f"  looking for {waiting_for}, which Runpod may still be creating (up to "
                           f"{CREATE_SETTLE_S:.0f}s)")  # fmt: skip
        while True:
            try:
                named = self._named()
            except DeployError as exc:  # the recorded pods are still terminated below
                self._progress(f"  could not look for pods created but not recorded: {exc}")
                return pods
            for pod in named:
                pods.setdefault(pod.id, _engine(pod))
            if waiting_for is None or waiting_for in {p.name for p in named} or time.monotonic() >= deadline:
                return pods
            time.sleep(CREATE_SETTLE_POLL_S)

    def _named(self) -> list[PodInfo]:
        """Pods named for this deployment, whatever recorded them."""
        pods = []
        for pod in self.client.list_pods():
            name = PodName.parse(pod.name)
            if name is not None and name.deploy_id == self.deploy_id:
                pods.append(pod)
        return pods


def _engine(pod: PodInfo) -> str:
    name = PodName.parse(pod.name)
    return name.engine if name is not None else pod.name


def stop_cause(exc: BaseException | None) -> str:
    """The "SIGTERM: " or "Ctrl-C: " that starts the line saying what is cleaned up, or nothing."""
    if isinstance(exc, Terminated):
        return f"{exc.signal_name}: "
    return "Ctrl-C: " if isinstance(exc, KeyboardInterrupt) else ""


def select(pods: list[PodInfo], mode: str, recorded: set[str], now: datetime, deploy_id: str = "") -> list[PodInfo]:
    """The turnbench pods `down` should terminate: mode "all", "expired" or "recorded" (by id, or
    named for the recorded deployment, which catches a pod whose create never answered)."""
    chosen = []
    for pod in pods:
        name = PodName.parse(pod.name)
        if name is None:  # not ours, whatever the user asked
            continue
        ours = pod.id in recorded or (bool(deploy_id) and name.deploy_id == deploy_id)
        if mode == "all" or (mode == "expired" and name.expired(now)) or (mode == "recorded" and ours):
            chosen.append(pod)
    return chosen


def down(
    client: RunpodClient, mode: str, recorded: set[str], progress: Progress, now: datetime, deploy_id: str = ""
) -> list[str]:
    """Terminate the selected pods; returns their ids. Raises if any is left running."""
    chosen = select(client.list_pods(), mode, recorded, now, deploy_id)
    with signals_held():
        left = terminate(client, {p.id: p.name for p in chosen}, progress)
    if left:
        raise DeployError(f"pods still running and billed: {', '.join(left)}; retry, or use the Runpod console")
    return [p.id for p in chosen]
